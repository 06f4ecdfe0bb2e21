/**
 * Linkerd's default inbound policy end to end on the local platform, for ports no Server covers:
 * the install-wide default (`--set proxy.defaultInboundPolicy=deny`, here the control plane
 * option it becomes) and a workload's own `config.linkerd.io/default-inbound-policy` annotation
 * (`meshctl run --annotations`), which wins. Callers are a sidecar with a real SPIFFE identity
 * (mTLS) and a plain client without one, both from 127.0.0.1 (inside Linkerd's cluster networks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { LocalMeshForTest, SERVICE_PORT, send, type Sidecar } from './support/local-mesh.js';

const ANNOTATION = 'config.linkerd.io/default-inbound-policy';
let mesh: LocalMeshForTest;
let caller: Sidecar;
const servers: Record<string, Sidecar> = {};

/** The workload names, each with the annotation it runs with (none: the install default). */
const POLICIES = {
  'install-default': undefined,
  'all-unauthenticated': 'all-unauthenticated',
  'all-authenticated': 'all-authenticated',
  'cluster-authenticated': 'cluster-authenticated',
  'cluster-unauthenticated': 'cluster-unauthenticated',
  deny: 'deny',
  audit: 'audit',
  typo: 'alll-unauthenticated',
} as const;
type Name = keyof typeof POLICIES;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start({ defaultInboundPolicy: 'deny' });
  for (const [name, policy] of Object.entries(POLICIES)) {
    const svc = `svc-${name}`;
    servers[name] = await mesh.run(
      name,
      { app: svc },
      {
        service: svc,
        ...(policy ? { annotations: { [ANNOTATION]: policy } } : {}),
      },
    );
  }
  caller = await mesh.run('caller', { app: 'caller' });
  await mesh.settle();
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

/** From the caller's sidecar: mTLS with the caller's identity. */
const meshed = async (name: Name) => (await send(caller, `http://svc-${name}:${SERVICE_PORT}/`)).status;

/** Straight to the workload's sidecar inbound port, in plain text: no identity. */
function plain(name: Name): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: servers[name]!.proxyPort, path: '/', agent: false, timeout: 15_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('Linkerd default inbound policy', () => {
  it('the install-wide default (deny) applies to a workload without the annotation', async () => {
    expect(await meshed('install-default')).toBe(403);
    expect(servers['install-default']!.received).toHaveLength(0);
  });

  it('each annotation value decides for meshed (mTLS) and plain callers; the annotation wins over the install default', async () => {
    const seen: Record<string, { meshed: number; plain: number }> = {};
    for (const name of Object.keys(POLICIES) as Name[]) {
      if (name === 'install-default') continue;
      seen[name] = { meshed: await meshed(name), plain: await plain(name) };
    }
    expect(seen).toEqual({
      'all-unauthenticated': { meshed: 200, plain: 200 },
      'all-authenticated': { meshed: 200, plain: 403 },
      'cluster-authenticated': { meshed: 200, plain: 403 },
      'cluster-unauthenticated': { meshed: 200, plain: 200 },
      deny: { meshed: 403, plain: 403 },
      audit: { meshed: 200, plain: 200 },
      // An unknown value fails closed: a typo never opens a port.
      typo: { meshed: 403, plain: 403 },
    });
  });

  it('audit allows and logs what it would have denied', async () => {
    const log = servers.audit!.accessLog;
    expect(log.length).toBeGreaterThan(0);
    expect(log.at(-1)).toMatchObject({ response_code: 200 });
    expect(JSON.stringify(log.at(-1))).toContain('default-audit');
  });
});
