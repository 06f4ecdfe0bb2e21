/**
 * A gateway pod on Kubernetes (what `meshctl install` deploys): its gateway-ports annotation makes
 * it a router-mode workload, and the Gateways selecting its labels give it listeners on the pod
 * ports (443 -> 8443) with the certificate of the credentialName Secret.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import { gatewayPorts, workloadFromPod, type PodObject } from '../../../src/control-plane/kubernetes/convert.js';
import {
  proxyConfigFor,
  trafficOf,
  type MeshSnapshot,
  type MeshWorkload,
} from '../../../src/control-plane/translate/index.js';
import { GATEWAY_PORTS_ANNOTATION } from '../../../src/protocol/well-known.js';

const pod = (annotations: Record<string, string>): PodObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'meshctl-ingressgateway-abc',
    namespace: 'mesh-system',
    labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
    annotations,
  },
  spec: {
    serviceAccountName: 'meshctl-ingressgateway',
    containers: [{ name: 'proxy', ports: [{ containerPort: 8080 }, { containerPort: 8443 }] }],
  },
  status: { podIP: '198.18.5.7', conditions: [{ type: 'Ready', status: 'True' }] },
});

function selfSigned(host: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-pod-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${host}`,
        '-addext',
        `subjectAltName=DNS:${host}`,
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('gateway pods on Kubernetes', () => {
  it('reads the gateway-ports annotation and refuses a malformed one', () => {
    expect(gatewayPorts('80=8080,443=8443')).toEqual({ 80: 8080, 443: 8443 });
    expect(gatewayPorts(undefined)).toBeUndefined();
    expect(gatewayPorts('80=8080,443')).toBeUndefined();
    expect(gatewayPorts('80=70000')).toBeUndefined();
  });

  it('makes an annotated pod a router-mode workload binding the pod ports, and leaves others sidecars', () => {
    const w = workloadFromPod(pod({ [GATEWAY_PORTS_ANNOTATION]: '80=8080,443=8443' }))!;
    expect(w.gateway).toEqual({ address: '0.0.0.0', ports: { 80: 8080, 443: 8443 } });
    expect(w.capture).toBe(false);
    const plain = workloadFromPod(pod({}))!;
    expect(plain.gateway).toBeUndefined();
    expect(plain.capture).toBe(true);
  });

  it("serves the seed's api-gateway on 0.0.0.0:8443 with the api-tls-cert Secret's certificate", () => {
    const { cert, key } = selfSigned('api.example.com');
    const yaml = `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: api-gateway, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: api-tls-cert}
    hosts: ["api.example.com"]
---
apiVersion: v1
kind: Secret
metadata: {name: api-tls-cert, namespace: mesh-system}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(cert).toString('base64')}
  tls.key: ${Buffer.from(key).toString('base64')}
`;
    const resources = manifestObjects(parseDocuments(yaml, 'seed.yaml')).map((o) => {
      const r = validateResource(o, { defaultNamespace: 'default' });
      return (r.resource ?? r.coreObject) as MeshResource;
    });
    const w = workloadFromPod(pod({ [GATEWAY_PORTS_ANNOTATION]: '80=8080,443=8443' }))! as MeshWorkload;
    const snapshot = {
      version: '1',
      trustDomain: 'cluster.local',
      rootNamespace: 'mesh-system',
      services: [],
      workloads: [w],
      resources,
    } as unknown as MeshSnapshot;
    const { config } = proxyConfigFor(snapshot, w, trafficOf(w));
    const l = config.listeners.find((x) => x.port === 8443);
    expect(l?.address).toBe('0.0.0.0');
    expect(JSON.stringify(l)).toContain(cert.split('\n')[1]);
    expect(config.listeners.some((x) => x.port === 15001)).toBe(false);
  });
});
