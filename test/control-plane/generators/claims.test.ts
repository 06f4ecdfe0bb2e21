/**
 * Every mesh kind is claimed: read by a generator, read where workloads register (WorkloadGroup), or
 * declared "accepted, not enforced" (and then reported by analyze as MESH0002). A kind claimed by nothing stops the control plane at start-up
 * instead of being accepted and silently pushing nothing; so does a kind claimed twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MESH_KINDS } from '../../../src/config/index.js';
import { startControlPlane } from '../../../src/control-plane/daemon.js';
import { meshGenerators, meshGeneratorSet, meshKindClaims } from '../../../src/control-plane/generators/index.js';
import {
  configChange,
  GeneratorSet,
  KindClaimError,
  PushSnapshot,
  type ConfigGenerator,
} from '../../../src/control-plane/push/index.js';
import { TypeUrl } from '../../../src/protocol/stream/messages.js';

const proxy = {
  id: 'p.default',
  workload: 'p',
  namespace: 'default',
  serviceAccount: 'p',
  labels: {},
  proxyVersion: 'test',
};
const snapshot = new PushSnapshot('1', { configs: [], services: [], workloads: [] });

/** The mesh generators with the cluster generator reading one kind less. */
function withoutClusterKind(kind: string): ConfigGenerator[] {
  return meshGenerators().map((g) =>
    g.typeUrl === TypeUrl.clusters
      ? { ...g, reads: { ...g.reads, kinds: g.reads.kinds.filter((k) => k !== kind) } }
      : g,
  );
}

describe('kind claims', () => {
  it('the shipped generators and declarations claim every mesh kind exactly once', () => {
    const set = meshGeneratorSet();
    expect(set.types().sort()).toEqual([TypeUrl.clusters, TypeUrl.listeners, TypeUrl.routes, TypeUrl.telemetry].sort());
    const read = new Set(meshGenerators().flatMap((g) => g.reads.kinds));
    for (const def of MESH_KINDS) {
      const ref = `${def.group}/${def.kind}` as const;
      const declared = meshKindClaims().notEnforced.includes(ref);
      const atRegistration = meshKindClaims().atRegistration?.includes(ref) ?? false;
      const claims = [read.has(ref), declared, atRegistration].filter(Boolean).length;
      expect({ ref, claims }).toEqual({ ref, claims: 1 });
    }
  });

  it('a kind no generator reads and nothing declares is an error at start-up, naming the kind', () => {
    // VirtualService is read by the routes generator too: drop it from both to leave it unclaimed.
    const gens = withoutClusterKind('networking.istio.io/DestinationRule').map((g) =>
      g.typeUrl === TypeUrl.routes
        ? {
            ...g,
            reads: { ...g.reads, kinds: g.reads.kinds.filter((k) => k !== 'networking.istio.io/DestinationRule') },
          }
        : g,
    );
    expect(() => meshGeneratorSet(gens)).toThrow(KindClaimError);
    expect(() => meshGeneratorSet(gens)).toThrow(
      /no generator reads and not declared "accepted, not enforced": networking\.istio\.io\/DestinationRule/,
    );
  });

  it('a kind both read and declared not enforced is an error too (the declaration went stale)', () => {
    const claims = meshKindClaims();
    // AuthorizationPolicy is enforced (the listeners generator reads it): declaring it not enforced is stale.
    expect(
      () =>
        new GeneratorSet(meshGenerators(), {
          ...claims,
          notEnforced: [...claims.notEnforced, 'security.istio.io/AuthorizationPolicy'],
        }),
    ).toThrow(/both read by a generator and declared not enforced: security\.istio\.io\/AuthorizationPolicy/);
  });

  it('the control plane refuses to start with an unclaimed kind, before it listens', async () => {
    const home = mkdtempSync(join(tmpdir(), 'meshctl-claims-'));
    try {
      const gens = withoutClusterKind('networking.istio.io/Sidecar').map((g) => ({
        ...g,
        reads: { ...g.reads, kinds: g.reads.kinds.filter((k) => k !== 'networking.istio.io/Sidecar') },
      }));
      await expect(
        startControlPlane({
          home,
          streamPort: 0,
          debugPort: 0,
          generators: gens,
          version: 'test',
          log: () => undefined,
        }),
      ).rejects.toThrow(/networking\.istio\.io\/Sidecar/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a change of a kind declared not enforced regenerates nothing; a change of a kind a generator reads does', () => {
    // A kind the mesh would accept before any generator reads it (as WasmPlugin would be; Telemetry is read now).
    const claims = meshKindClaims();
    const set = new GeneratorSet(meshGenerators(), {
      ...claims,
      kinds: [...claims.kinds, 'extensions.istio.io/WasmPlugin'],
      notEnforced: [...claims.notEnforced, 'extensions.istio.io/WasmPlugin'],
    });
    const wasm = configChange(
      [{ group: 'extensions.istio.io', kind: 'WasmPlugin', namespace: 'default', name: 'filter' }],
      'apply',
    );
    expect(set.types().filter((t) => set.concerns(t, wasm, proxy, snapshot))).toEqual([]);
    const telemetry = configChange(
      [{ group: 'telemetry.istio.io', kind: 'Telemetry', namespace: 'default', name: 'logs' }],
      'apply',
    );
    expect(set.types().filter((t) => set.concerns(t, telemetry, proxy, snapshot))).toEqual([TypeUrl.telemetry]);
    const peerAuthn = configChange(
      [{ group: 'security.istio.io', kind: 'PeerAuthentication', namespace: 'default', name: 'strict' }],
      'apply',
    );
    expect(set.types().filter((t) => set.concerns(t, peerAuthn, proxy, snapshot))).toEqual([TypeUrl.listeners]);
    const authz = configChange(
      [{ group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'default', name: 'deny' }],
      'apply',
    );
    expect(set.types().filter((t) => set.concerns(t, authz, proxy, snapshot))).toEqual([TypeUrl.listeners]);
  });
});
