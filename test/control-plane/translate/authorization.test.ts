/** Which AuthorizationPolicies and RequestAuthentications reach which workload's sidecar, and in what form. */
import { describe, expect, it } from 'vitest';
import { workloadAuthz, EMPTY_JWKS } from '../../../src/control-plane/translate/authorization.js';
import type { MeshSnapshot, MeshWorkload } from '../../../src/control-plane/translate/model.js';
import type { MeshResource } from '../../../src/config/index.js';

const wl = (namespace: string, labels: Record<string, string>): MeshWorkload => ({
  name: 'w',
  namespace,
  serviceAccount: 'sa',
  labels,
  address: '127.0.0.1',
  meshed: true,
});
const ap = (
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  apiVersion = 'security.istio.io/v1',
): MeshResource =>
  ({ apiVersion, kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec }) as unknown as MeshResource;
const snap = (resources: MeshResource[], jwks?: Map<string, string>): MeshSnapshot => ({
  version: 'v',
  trustDomain: 'cluster.local',
  rootNamespace: 'mesh-system',
  services: [],
  workloads: [],
  resources,
  ...(jwks ? { jwks } : {}),
});

describe('workloadAuthz', () => {
  it('scopes as Istio: root namespace (mesh-wide or by selector in every namespace), own namespace, own selector', () => {
    const s = snap([
      ap('mesh-system', 'mesh-wide', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/x'] } }] }] }),
      ap('mesh-system', 'root-selector', { selector: { matchLabels: { app: 'a' } }, rules: [{}] }),
      ap('prod', 'ns-wide', { rules: [{}] }),
      ap('prod', 'for-b', { selector: { matchLabels: { app: 'b' } }, rules: [{}] }),
      ap('dev', 'elsewhere', { rules: [] }),
      ap('prod', 'waypoint', { targetRefs: [{ kind: 'Service', name: 'a' }], rules: [] }),
      ap('prod', 'ext', { action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] }),
      ap('prod', 'linkerd', { targetRef: { kind: 'Server', name: 'x' } }, 'policy.linkerd.io/v1alpha1'),
    ]);
    // CUSTOM has no external authorizer here: it fails closed, a DENY of its rules, evaluated first.
    expect(workloadAuthz(s, wl('prod', { app: 'a' }))?.policies?.map((p) => `${p.action} ${p.name}`)).toEqual([
      'DENY ns[prod]-policy[ext]',
      'DENY ns[mesh-system]-policy[mesh-wide]',
      'ALLOW ns[mesh-system]-policy[root-selector]',
      'ALLOW ns[prod]-policy[ns-wide]',
    ]);
    expect(
      workloadAuthz(s, wl('prod', { app: 'a' }))
        ?.policies?.map((p) => p.name)
        .slice(1),
    ).toEqual([
      'ns[mesh-system]-policy[mesh-wide]',
      'ns[mesh-system]-policy[root-selector]',
      'ns[prod]-policy[ns-wide]',
    ]);
    expect(workloadAuthz(s, wl('prod', { app: 'b' }))?.policies?.map((p) => p.name)).toContain(
      'ns[prod]-policy[for-b]',
    );
    expect(workloadAuthz(snap([]), wl('prod', {}))).toBeUndefined();
  });

  it("Istio's default root namespace (istio-system) is mesh-wide too: Istio users' mesh-wide policies apply unchanged", () => {
    const s = snap([
      ap('istio-system', 'global-deny', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/debug*'] } }] }] }),
    ]);
    expect(workloadAuthz(s, wl('prod', { app: 'a' }))?.policies?.map((p) => p.name)).toEqual([
      'ns[istio-system]-policy[global-deny]',
    ]);
  });

  it('keeps the rule index of a rule with a condition the sidecar cannot evaluate: never matching in ALLOW, dropped condition in DENY', () => {
    const when = [{ key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: ['[update]'] }];
    const s = snap([
      ap('prod', 'a', { rules: [{ when }, {}] }),
      ap('prod', 'd', { action: 'DENY', rules: [{ when, to: [{ operation: { ports: ['3306'] } }] }] }),
    ]);
    const [allow, deny] = workloadAuthz(s, wl('prod', {}))!.policies!;
    expect(allow!.rules).toHaveLength(2);
    expect(allow!.rules[0]).toEqual({ from: [{ source: { principals: ['*'], notPrincipals: ['*'] } }] });
    expect(deny!.rules[0]).toEqual({ to: [{ operation: { ports: ['3306'] } }] });
  });

  it('JWT rules carry the fetched keys inline, or a key set that verifies nothing until they arrive', () => {
    const ra = {
      apiVersion: 'security.istio.io/v1',
      kind: 'RequestAuthentication',
      metadata: { name: 'jwt', namespace: 'prod' },
      spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://i/jwks' }] },
    } as unknown as MeshResource;
    expect(workloadAuthz(snap([ra]), wl('prod', {}))!.jwtRules).toEqual([{ issuer: 'i', jwks: EMPTY_JWKS }]);
    expect(
      workloadAuthz(snap([ra], new Map([['https://i/jwks', '{"keys":[1]}']])), wl('prod', {}))!.jwtRules![0]!.jwks,
    ).toBe('{"keys":[1]}');
    // jwks_uri, the deprecated spelling, is read as jwksUri; presence REQUIRED reaches the sidecar.
    const old = {
      ...ra,
      spec: { jwtRules: [{ issuer: 'i', jwks_uri: 'https://i/jwks', presence: 'REQUIRED' }] },
    } as unknown as MeshResource;
    expect(workloadAuthz(snap([old], new Map([['https://i/jwks', '{"keys":[2]}']])), wl('prod', {}))!.jwtRules).toEqual(
      [{ issuer: 'i', jwks: '{"keys":[2]}', presence: 'REQUIRED' }],
    );
  });
});
