/**
 * The offline halves of the Kubernetes CLI commands: a pod's proxy config as proxy-config shows it,
 * rebuilt from the control plane's record of what the proxy ACKed (and refused when it did not ACK);
 * CRD currency as `check` judges it; the proxy version `upgrade` reads from a pod.
 */
import { describe, expect, it } from 'vitest';
import { adminAnswerFromControlPlane, type ControlPlaneConfigDump } from '../../src/cluster/kubernetes/acked-config.js';
import { crdDifferences } from '../../src/checks/kubernetes/index.js';
import { proxyVersionOf } from '../../src/install/upgrade.js';
import { loadCrds } from '../../src/install/crds.js';
import { MeshError } from '../../src/errors.js';

const CLUSTERS = 'proxy.meshctl.dev/v1/clusters';
const LISTENERS = 'proxy.meshctl.dev/v1/listeners';
const ROUTES = 'proxy.meshctl.dev/v1/routes';

function dump(
  status: Record<string, string>,
  extra: Partial<ControlPlaneConfigDump['proxy']> = {},
): ControlPlaneConfigDump {
  return {
    proxy: {
      proxy: { id: 'web-1.shop', workload: 'web-1', namespace: 'shop', proxyVersion: '0.1.0' },
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
      certificateExpiry: '2030-01-01T00:00:00.000Z',
      types: Object.fromEntries(
        Object.entries(status).map(([t, s]) => [
          t,
          {
            status: s,
            ackedVersion: 'v7',
            ...(s === 'NACKED' ? { lastNack: { message: 'route 0: regex does not compile', keptVersion: 'v6' } } : {}),
          },
        ]),
      ),
      ...extra,
    },
    version: 'v7',
    desired: {},
    sent: {
      [CLUSTERS]: [
        {
          name: 'outbound|80||api.shop.svc.cluster.local',
          service: 'api.shop.svc.cluster.local',
          tls: 'mutual',
          endpoints: [{ address: '10.0.0.7', port: 8080, identity: 'spiffe://cluster.local/ns/shop/sa/api' }],
        },
        { name: 'PassthroughCluster', type: 'originalDst' },
      ],
      [LISTENERS]: [
        {
          name: 'inbound',
          port: 15006,
          direction: 'inbound',
          mode: 'capture',
          chains: [{ match: { destinationPort: 8080 }, routeConfig: 'inbound|8080||', tls: 'permissive' }],
        },
      ],
      [ROUTES]: [{ name: '80', virtualHosts: [{ name: 'api:80', domains: ['api'], routes: [] }] }],
    },
  };
}

describe("a pod's proxy config from the control plane", () => {
  it('shapes ACKed clusters like the admin API, with health unknown rather than invented', () => {
    const clusters = adminAnswerFromControlPlane(dump({ [CLUSTERS]: 'SYNCED' }), '/clusters') as {
      name: string;
      type: string;
      tls: string;
      endpoints: { address: string; tls: string; health: unknown; outlier: unknown }[];
    }[];
    expect(clusters.map((c) => [c.name, c.type])).toEqual([
      ['outbound|80||api.shop.svc.cluster.local', 'static'],
      ['PassthroughCluster', 'originalDst'],
    ]);
    expect(clusters[0]!.endpoints).toEqual([
      {
        address: '10.0.0.7',
        port: 8080,
        labels: {},
        weight: 1,
        identity: 'spiffe://cluster.local/ns/shop/sa/api',
        tls: 'mutual',
        health: null,
        outlier: null,
      },
    ]);
  });

  it('fills listener defaults as the proxy applies them, and passes routes through', () => {
    const listeners = adminAnswerFromControlPlane(dump({ [LISTENERS]: 'SYNCED' }), '/listeners') as {
      address: string;
      chains: { protocol: string; tcpCluster: unknown; tls: string }[];
    }[];
    expect(listeners[0]).toMatchObject({
      address: '0.0.0.0',
      port: 15006,
      direction: 'inbound',
      mode: 'capture',
      chains: [{ protocol: 'auto', routeConfig: 'inbound|8080||', tcpCluster: null, tls: 'permissive' }],
    });
    expect(adminAnswerFromControlPlane(dump({ [ROUTES]: 'SYNCED' }), '/routes')).toEqual([
      { name: '80', virtualHosts: [{ name: 'api:80', domains: ['api'], routes: [] }] },
    ]);
  });

  it('refuses to show a type the proxy NACKed or has not ACKed, naming the reason and the kept version', () => {
    expect(() => adminAnswerFromControlPlane(dump({ [ROUTES]: 'NACKED' }), '/routes')).toThrow(
      /proxy web-1\.shop: the control plane does not know which routes it runs: it rejected the last one \(route 0: regex does not compile\) and keeps version v6/,
    );
    expect(() => adminAnswerFromControlPlane(dump({ [CLUSTERS]: 'STALE' }), '/clusters')).toThrow(
      /has not acknowledged the last one yet/,
    );
    expect(adminAnswerFromControlPlane(dump({}), '/clusters')).toEqual([]);
  });

  it('serves the stream certificate as /certs and points elsewhere for admin-only paths', () => {
    expect(adminAnswerFromControlPlane(dump({}), '/certs')).toEqual({
      identity: {
        spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
        serialNumber: null,
        validFrom: null,
        validTo: '2030-01-01T00:00:00.000Z',
      },
    });
    const config = adminAnswerFromControlPlane(
      dump({ [CLUSTERS]: 'SYNCED', [LISTENERS]: 'SYNCED', [ROUTES]: 'SYNCED' }),
      '/config_dump',
    ) as { version: string; config: Record<string, unknown[]> };
    expect(config.version).toBe('v7');
    expect(Object.keys(config.config)).toEqual(['clusters', 'listeners', 'routes']);
    let err: unknown;
    try {
      adminAnswerFromControlPlane(dump({}), '/stats');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MeshError);
    expect((err as Error).message).toContain('reachable only inside its pod (127.0.0.1)');
  });
});

describe('CRD currency and proxy versions', () => {
  it('finds a CRD current when equal to the template (key order aside), and names what differs', async () => {
    type Crd = Parameters<typeof crdDifferences>[0];
    const template = ((await loadCrds()) as unknown as Crd[])[0]!;
    const copy = JSON.parse(JSON.stringify(template)) as Crd;
    // The same schema with its keys in another order is the same schema.
    copy.spec.versions = copy.spec.versions.map((v) => Object.fromEntries(Object.entries(v).reverse()) as typeof v);
    expect(crdDifferences(template, copy)).toEqual([]);
    const older = JSON.parse(JSON.stringify(template)) as Crd;
    const last = older.spec.versions.pop()!;
    expect(crdDifferences(template, older)).toEqual([`version ${last.name} missing`]);
    const edited = JSON.parse(JSON.stringify(template)) as Crd;
    edited.spec.versions[0]!.schema = { openAPIV3Schema: { type: 'object' } };
    expect(crdDifferences(template, edited)).toEqual([`version ${edited.spec.versions[0]!.name} has another schema`]);
  });

  it("reads a pod's proxy version from its injection record, else from the proxy image tag", () => {
    const pod = (annotations: Record<string, string>, image = 'ghcr.io/meshctl/meshctl:0.0.8') => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', annotations },
      spec: { initContainers: [{ name: 'mesh-proxy', image }], containers: [{ name: 'app', image: 'app:2.0' }] },
    });
    expect(proxyVersionOf(pod({ 'meshctl.dev/status': JSON.stringify({ v: 1, version: '0.0.9' }) }))).toBe('0.0.9');
    expect(proxyVersionOf(pod({}))).toBe('0.0.8');
    expect(proxyVersionOf(pod({ 'meshctl.dev/status': 'not json' }, 'registry:5000/meshctl:1.2.3'))).toBe('1.2.3');
  });
});
