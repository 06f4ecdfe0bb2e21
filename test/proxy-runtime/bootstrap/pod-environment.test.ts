/**
 * What an injected proxy reads from its container environment: its pod's labels (MESH_POD_LABELS,
 * written by injection) become its node labels, which VirtualService `sourceLabels` are matched
 * against; and the environment injection writes for a labelled Deployment round-trips.
 */
import { describe, expect, it } from 'vitest';
import { podEnvironment } from '../../../src/proxy-runtime/bootstrap/kubernetes.js';
import { proxyContainer } from '../../../src/inject/sidecar.js';
import { defaultInjectOptions } from '../../../src/inject/options.js';

const base = {
  MESH_POD_NAME: 'web-7d9f',
  MESH_POD_NAMESPACE: 'shop',
  MESH_CONTROL_PLANE_ADDRESS: 'meshctl-control-plane.mesh-system.svc:15012',
  MESH_TOKEN_PATH: '/var/run/secrets/tokens/meshctl-token',
  MESH_CA_ROOT_PATH: '/var/run/meshctl/ca-root/root-cert.pem',
};

describe('the injected proxy environment', () => {
  it('reads the pod labels (k=v,k=v; keys with prefixes and dots; no value is fine)', () => {
    const env = podEnvironment({
      ...base,
      MESH_POD_LABELS: 'app=web,app.kubernetes.io/version=1.2,role=batch,empty=',
    });
    expect(env.labels).toEqual({ app: 'web', 'app.kubernetes.io/version': '1.2', role: 'batch', empty: '' });
    expect(podEnvironment(base).labels).toEqual({});
  });

  it('injection writes the labels the proxy reads back', () => {
    const container = proxyContainer(defaultInjectOptions('test', 'meshctl:test'), {
      appPorts: [8080],
      probers: {},
      labels: { version: 'v1', app: 'web' },
    });
    const envList = container.env as { name: string; value?: string }[];
    const labels = envList.find((e) => e.name === 'MESH_POD_LABELS')?.value;
    expect(labels).toBe('app=web,version=v1');
    expect(podEnvironment({ ...base, MESH_POD_LABELS: labels }).labels).toEqual({ app: 'web', version: 'v1' });
  });
});
