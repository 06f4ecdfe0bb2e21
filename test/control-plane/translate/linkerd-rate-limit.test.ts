/**
 * HTTPLocalRateLimitPolicy -> the `rateLimit` of the chains serving the targeted Server's port:
 * sidecar inbound chains (port by number or name), gateway listeners, clientRefs as SPIFFE IDs,
 * policies of other Servers or namespaces left out. The traffic test is test/e2e/rate-limit.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { proxyConfigFor, trafficOf } from '../../../src/control-plane/translate/index.js';
import type { MeshSnapshot, MeshWorkload } from '../../../src/control-plane/translate/model.js';
import type { MeshResource } from '../../../src/config/index.js';
import { validateResource } from '../../../src/config/index.js';

const emoji: MeshWorkload = {
  name: 'emoji',
  namespace: 'emojivoto',
  serviceAccount: 'emoji',
  labels: { app: 'emoji-svc' },
  address: '127.0.0.1',
  meshed: true,
  ports: [8080],
};
const res = (
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  apiVersion = 'policy.linkerd.io/v1alpha1',
  namespace = 'emojivoto',
): MeshResource => ({ apiVersion, kind, metadata: { name, namespace }, spec }) as unknown as MeshResource;
const snap = (resources: MeshResource[], workload = emoji): MeshSnapshot => ({
  version: 'v',
  trustDomain: 'cluster.local',
  rootNamespace: 'mesh-system',
  services: [
    {
      name: 'emoji-svc',
      namespace: 'emojivoto',
      addresses: [],
      ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'http' }],
      selector: { app: 'emoji-svc' },
    },
  ],
  workloads: [workload],
  resources,
});
const server = (port: number | string) =>
  res(
    'Server',
    'emoji-http',
    { podSelector: { matchLabels: { app: 'emoji-svc' } }, port, accessPolicy: 'all-unauthenticated' },
    'policy.linkerd.io/v1beta3',
  );
const policy = (spec: Record<string, unknown>, name = 'emoji-rl', namespace = 'emojivoto') =>
  res(
    'HTTPLocalRateLimitPolicy',
    name,
    { targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'emoji-http' }, ...spec },
    'policy.linkerd.io/v1alpha1',
    namespace,
  );

function chainLimits(resources: MeshResource[], workload = emoji) {
  const cfg = proxyConfigFor(snap(resources, workload), workload, trafficOf(workload)).config;
  return cfg.listeners
    .filter((l) => l.direction === 'inbound' || l.name.startsWith('gateway|'))
    .flatMap((l) => l.chains.map((c) => c.rateLimit));
}

describe('HTTPLocalRateLimitPolicy translation', () => {
  it('total, identity and overrides land on the Server port chain, clientRefs as SPIFFE IDs (namespace defaults to the policy one)', () => {
    const spec = {
      total: { requestsPerSecond: 100 },
      identity: { requestsPerSecond: 20 },
      overrides: [
        {
          requestsPerSecond: 50,
          clientRefs: [
            { kind: 'ServiceAccount', name: 'web' },
            { kind: 'ServiceAccount', name: 'ops', namespace: 'tools' },
          ],
        },
      ],
    };
    for (const port of [8080, 'http']) {
      expect(chainLimits([server(port), policy(spec)])).toContainEqual({
        total: 100,
        identity: 20,
        overrides: [
          {
            requestsPerSecond: 50,
            identities: ['spiffe://cluster.local/ns/emojivoto/sa/web', 'spiffe://cluster.local/ns/tools/sa/ops'],
          },
        ],
        policy: 'emojivoto/emoji-rl',
      });
    }
  });

  it('nothing without a Server, for another Server, or from another namespace', () => {
    expect(chainLimits([policy({ total: { requestsPerSecond: 5 } })]).filter(Boolean)).toEqual([]);
    expect(chainLimits([server(9999), policy({ total: { requestsPerSecond: 5 } })]).filter(Boolean)).toEqual([]);
    expect(
      chainLimits([server(8080), policy({ total: { requestsPerSecond: 5 } }, 'x', 'other')]).filter(Boolean),
    ).toEqual([]);
  });

  it('a gateway: the Server names the Gateway server port; its HTTP chains get the limit', () => {
    const gw: MeshWorkload = {
      name: 'ingress',
      namespace: 'emojivoto',
      serviceAccount: 'gw',
      labels: { app: 'emoji-svc', istio: 'ingressgateway' },
      address: '127.0.0.1',
      gateway: { address: '127.0.0.1', ports: { 80: 18080 } },
    };
    const gateway = res(
      'Gateway',
      'gw',
      {
        selector: { istio: 'ingressgateway' },
        servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
      },
      'networking.istio.io/v1',
      'emojivoto',
    );
    const vs = res(
      'VirtualService',
      'vs',
      { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'emoji-svc' } }] }] },
      'networking.istio.io/v1',
      'emojivoto',
    );
    expect(chainLimits([gateway, vs, server(80), policy({ total: { requestsPerSecond: 7 } })], gw)).toContainEqual({
      total: 7,
      policy: 'emojivoto/emoji-rl',
    });
  });

  it('validation: limits above total, a target other than a Server, a policy without limits', () => {
    const check = (spec: Record<string, unknown>) =>
      validateResource({
        object: {
          apiVersion: 'policy.linkerd.io/v1alpha1',
          kind: 'HTTPLocalRateLimitPolicy',
          metadata: { name: 'x', namespace: 'default' },
          spec,
        },
      }).errors.map((i) => i.message);
    const target = { kind: 'Server', name: 's' };
    expect(
      check({ targetRef: target, total: { requestsPerSecond: 10 }, identity: { requestsPerSecond: 20 } }).join('\n'),
    ).toMatch(/identity.requestsPerSecond 20 exceeds total.requestsPerSecond 10/);
    expect(
      check({
        targetRef: target,
        total: { requestsPerSecond: 10 },
        overrides: [{ requestsPerSecond: 11, clientRefs: [{ kind: 'ServiceAccount', name: 'a' }] }],
      }).join('\n'),
    ).toMatch(/11 exceeds total/);
    expect(check({ targetRef: { kind: 'Deployment', name: 'd' }, total: { requestsPerSecond: 1 } }).join('\n')).toMatch(
      /target a Server/,
    );
    expect(check({ targetRef: target }).join('\n')).toMatch(/limits nothing/);
    const badGroup = [{ group: 'apps', kind: 'ServiceAccount', name: 'a' }];
    expect(
      check({ targetRef: target, overrides: [{ requestsPerSecond: 1, clientRefs: badGroup }] }).join('\n'),
    ).toMatch(/not the core group/);
    expect(check({ targetRef: target, total: { requestsPerSecond: 0 } }).length).toBeGreaterThan(0);
    expect(check({ targetRef: target, total: { requestsPerSecond: 10 }, identity: { requestsPerSecond: 5 } })).toEqual(
      [],
    );
  });
});
