/**
 * The ahead-of-time shape check a sidecar runs instead of TypeBox: it is the schema's compiled check as written now
 * (the committed file matches the schema), it decides every config as the full validator does (configs the control
 * plane generates, and fuzzed variants of them), and a real `meshctl proxy run` loads TypeBox only for a config whose
 * shape is wrong.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import { proxyConfigFor, type MeshSnapshot, type MeshWorkload } from '../../../src/control-plane/translate/index.js';
import { shapeCheckSource } from '../../../src/protocol/proxy-config/shape-check-source.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import { validateProxyConfigLazily } from '../../../src/protocol/proxy-config/validate-lazily.js';

const generatedFile = resolve('src/protocol/proxy-config/shape-check.generated.ts');

const MESH = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: product}
spec:
  hosts: [product-service]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}, uri: {regex: "/api/v[0-9]+/.*"}}]
    route: [{destination: {host: product-service, subset: v2}}]
    mirror: {host: product-service, subset: v1}
    mirrorPercentage: {value: 10}
  - route:
    - {destination: {host: product-service, subset: v1}, weight: 90}
    - {destination: {host: product-service, subset: v2}, weight: 10}
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset,connect-failure"}
    timeout: 10s
    fault: {delay: {percentage: {value: 5}, fixedDelay: 1s}}
    corsPolicy: {allowOrigins: [{exact: "https://example.com"}], allowMethods: [GET], maxAge: 24h}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: product}
spec:
  host: product-service
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool: {tcp: {maxConnections: 100}, http: {http1MaxPendingRequests: 10, maxRequestsPerConnection: 5}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: product-viewer}
spec:
  selector: {matchLabels: {app: product-service}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/user-service"]}}]
    to: [{operation: {methods: [GET], paths: ["/api/*"]}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
`;

function resources(yaml: string): MeshResource[] {
  return manifestObjects(parseDocuments(yaml, 'mesh.yaml')).map((o) => {
    const r = validateResource(o, { defaultNamespace: 'default' });
    if (!r.resource) throw new Error(r.errors.map((e) => e.message).join('; '));
    return r.resource;
  });
}

const workload = (name: string, labels: Record<string, string>, address: string): MeshWorkload => ({
  name,
  namespace: 'default',
  serviceAccount: name,
  labels,
  address,
  meshed: true,
});

/** Proxy configs as a sidecar runs them for the mesh above: the client's and a server's. */
function generatedConfigs(): unknown[] {
  const user = workload('user-service', { app: 'user-service' }, '198.18.0.21');
  const product = workload('product-v1', { app: 'product-service', version: 'v1' }, '198.18.0.11');
  const snapshot: MeshSnapshot = {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: [
      {
        name: 'product-service',
        namespace: 'default',
        addresses: ['198.19.0.10'],
        ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'http' }],
        selector: { app: 'product-service' },
      },
    ],
    workloads: [user, product],
    resources: resources(MESH),
  };
  // The streamed config carries no identity: the sidecar's bootstrap adds it (its CA-issued certificate).
  const identity = { certChain: 'cert.pem', privateKey: 'key.pem', trustRoots: 'root.pem' };
  return [user, product].map((w) => ({
    ...proxyConfigFor(snapshot, w, { mode: 'capture', outboundPort: 15001 }).config,
    identity,
  }));
}

/** Replaces the value at one path of a JSON value (or deletes it, or adds an unknown key next to it). */
function mutate(value: unknown, choices: number[], replacement: unknown, kind: number): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  let node: unknown = copy;
  for (const c of choices) {
    if (node === null || typeof node !== 'object') break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[c % keys.length]!;
    const child = (node as Record<string, unknown>)[key];
    if (child === null || typeof child !== 'object' || c % 3 === 0) {
      const obj = node as Record<string, unknown>;
      if (kind === 0) obj[key] = replacement;
      else if (kind === 1 && !Array.isArray(obj)) delete obj[key];
      else if (!Array.isArray(obj)) obj[`unknown${c}`] = replacement;
      return copy;
    }
    node = child;
  }
  return copy;
}

describe('the proxy config shape check compiled ahead of time', () => {
  it('is the schema as it is now (run `npm run proxy-config:generate` after changing schema.ts)', () => {
    expect(readFileSync(generatedFile, 'utf8') === shapeCheckSource()).toBe(true);
  });

  it('decides as the full validator, errors included: generated configs and fuzzed variants of them', async () => {
    const corpus = generatedConfigs();
    for (const c of corpus) {
      expect(validateProxyConfig(c)).toMatchObject({ ok: true });
      expect(await validateProxyConfigLazily(c)).toEqual(validateProxyConfig(c));
    }
    const values = fc.oneof(
      fc.string(),
      fc.integer({ min: -100_000, max: 100_000 }),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
      fc.constantFrom('5s', '-1s', 'spiffe://cluster.local/ns/x/sa/y', '[', '(a|b)+', '0.0.0.0/0', 'GET'),
    );
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(corpus.length - 1),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        values,
        fc.nat(2),
        async (which, path, replacement, kind) => {
          const config = mutate(corpus[which], path, replacement, kind);
          const full = validateProxyConfig(config);
          if (!full.ok) rejected++;
          expect(await validateProxyConfigLazily(config)).toEqual(full);
        },
      ),
      { numRuns: 1500 },
    );
    // the fuzzing reached both sides of the decision
    expect(rejected).toBeGreaterThan(100);
    expect(rejected).toBeLessThan(1500);
  });

  it('a running sidecar loads TypeBox only for a config whose shape is wrong, and then names what is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shape-check-'));
    const hook = join(dir, 'hook.mjs');
    const log = join(dir, 'loaded.log');
    // Records every module the process resolves (node:module's synchronous hooks).
    writeFileSync(
      hook,
      `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ resolve(s, c, next) { const r = next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; } });
`,
    );
    const run = (config: unknown): { stderr: string; loaded: string } => {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify(config));
      writeFileSync(log, '');
      // --check: validate the config and exit, as the sidecar does before serving it
      const r = spawnSync(
        resolve('node_modules/.bin/node'),
        ['--import', hook, resolve('bin/meshctl'), 'proxy', 'run', '--config', file, '--check'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      return { stderr: r.stderr, loaded: readFileSync(log, 'utf8') };
    };
    const good = generatedConfigs()[0] as Record<string, unknown>;
    const ok = run(good);
    expect(ok.stderr).toBe('');
    expect(ok.loaded).toContain('/dist/protocol/proxy-config/shape-check.generated.js');
    expect(ok.loaded).not.toContain('@sinclair/typebox');
    const bad = run({ ...good, drainPeriod: 'soon' });
    expect(bad.stderr).toContain('drainPeriod');
    expect(bad.loaded).toContain('@sinclair/typebox');
  });
});
