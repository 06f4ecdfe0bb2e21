/** `meshctl proxy-config`: what a real sidecar runs, read from its admin API, as istioctl-like tables and JSON. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshWithAdmin } from './mesh-with-admin.js';
import { eventually } from '../protocol/harness.js';
import { reviewsDestinationRule } from '../control-plane/local-mesh.js';

let mesh: MeshWithAdmin;
let outboundPort: number;

const splitWithHeaderRoute = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 80
    - destination: {host: reviews, subset: v2}
      weight: 20
`;

/** The table's rows as cells (columns are separated by at least three spaces). */
const rows = (stdout: string): string[][] =>
  stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{3,}/));

beforeAll(async () => {
  mesh = await MeshWithAdmin.start();
  await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  await mesh.run('reviews-v2', { app: 'reviews', version: 'v2' }, { service: 'reviews' });
  outboundPort = (await mesh.run('productpage', { app: 'productpage', version: 'v1' })).outboundPort;
  await mesh.apply(reviewsDestinationRule + '---\n' + splitWithHeaderRoute);
  await eventually('the routes on every proxy', () => mesh.synced('proxy.meshctl.dev/v1/routes'), 20_000);
});

afterAll(async () => {
  await mesh.stop();
});

describe('meshctl proxy-config', () => {
  it('clusters: service FQDN, port, subset, direction and type of every cluster', async () => {
    const r = await mesh.cli('proxy-config', 'clusters', 'productpage');
    expect(r.code).toBe(0);
    const t = rows(r.stdout);
    expect(t[0]).toEqual(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE']);
    expect(t).toContainEqual(['reviews.default.svc.cluster.local', '9080', '-', 'OUTBOUND', 'STATIC']);
    expect(t).toContainEqual(['reviews.default.svc.cluster.local', '9080', 'v1', 'OUTBOUND', 'STATIC']);
    expect(t).toContainEqual(['reviews.default.svc.cluster.local', '9080', 'v2', 'OUTBOUND', 'STATIC']);
    expect(t).toContainEqual(['PassthroughCluster', '-', '-', '-', 'ORIGINAL_DST']);
    const json = JSON.parse(
      (await mesh.cli('proxy-config', 'clusters', 'productpage.default', '-o', 'json')).stdout,
    ) as { name: string }[];
    expect(json.map((c) => c.name)).toContain('outbound|9080|v2|reviews.default.svc.cluster.local');
  });

  it('endpoints: each endpoint of each cluster with its health and outlier state', async () => {
    const workloads = await mesh.platform.listWorkloads();
    const v1 = workloads.find((w) => w.name === 'reviews-v1')!;
    const v2 = workloads.find((w) => w.name === 'reviews-v2')!;
    const t = rows((await mesh.cli('proxy-config', 'endpoints', 'productpage')).stdout);
    expect(t[0]).toEqual(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER']);
    expect(t).toContainEqual([
      `127.0.0.1:${v1.proxyPort}`,
      'HEALTHY',
      'OK',
      'outbound|9080|v1|reviews.default.svc.cluster.local',
    ]);
    expect(t).toContainEqual([
      `127.0.0.1:${v2.proxyPort}`,
      'HEALTHY',
      'OK',
      'outbound|9080|v2|reviews.default.svc.cluster.local',
    ]);
    // The v1 subset holds only the v1 instance.
    expect(t.filter((row) => row[3] === 'outbound|9080|v1|reviews.default.svc.cluster.local')).toHaveLength(1);
  });

  it('routes: the header match and the split, attributed to their VirtualService', async () => {
    const t = rows((await mesh.cli('proxy-config', 'routes', 'productpage')).stdout);
    expect(t[0]).toEqual(['NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE']);
    expect(t).toContainEqual(['outbound', 'reviews:9080 +3 more', '/* end-user=jason', 'reviews.default']);
    expect(t).toContainEqual(['outbound', 'reviews:9080 +3 more', '/*', 'reviews.default']);
    const json = JSON.parse((await mesh.cli('proxy-config', 'routes', 'productpage', '-o', 'json')).stdout) as {
      virtualHosts: { name: string; routes: { route?: { cluster: string; weight: number }[] }[] }[];
    }[];
    const vh = json.flatMap((rc) => rc.virtualHosts).find((v) => v.name === 'reviews.default.svc.cluster.local:9080')!;
    expect(vh.routes[1]!.route!.map((d) => d.weight)).toEqual([80, 20]);
  });

  it('listeners: address, port, match and destination of each filter chain', async () => {
    const t = rows((await mesh.cli('proxy-config', 'listeners', 'productpage')).stdout);
    expect(t[0]).toEqual(['ADDRESS', 'PORT', 'MATCH', 'DESTINATION']);
    expect(t).toContainEqual([
      '127.0.0.1',
      String(outboundPort),
      'outbound http-proxy',
      'Route: outbound, Cluster: PassthroughCluster',
    ]);
  });

  it('secrets: the workload certificate and the root, metadata only', async () => {
    const r = await mesh.cli('proxy-config', 'secrets', 'productpage');
    const t = rows(r.stdout);
    expect(t[0]).toEqual(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID', 'SERIAL', 'NOT AFTER', 'NOT BEFORE']);
    const certs = (
      await mesh.platform.proxyAdminGet<{ identity: { serialNumber: string } }>(
        { name: 'productpage', namespace: 'default' },
        '/certs',
      )
    ).identity;
    expect(t[1]).toEqual([
      'default',
      'Cert Chain',
      'ACTIVE',
      'true',
      certs.serialNumber,
      expect.stringMatching(/^\d{4}-/),
      expect.stringMatching(/^\d{4}-/),
    ]);
    expect(t[2]!.slice(0, 4)).toEqual(['ROOTCA', 'CA', 'ACTIVE', 'true']);
    const json = await mesh.cli('proxy-config', 'secrets', 'productpage', '-o', 'json');
    for (const out of [r.stdout, json.stdout]) expect(out).not.toMatch(/BEGIN|PRIVATE|KEY-----/);
    expect((JSON.parse(json.stdout) as { identity?: string }[])[0]!.identity).toBe(
      'spiffe://cluster.local/ns/default/sa/productpage',
    );
  });

  it('all: every section, and JSON keyed by section', async () => {
    const r = await mesh.cli('proxy-config', 'all', 'reviews-v1');
    for (const title of ['CLUSTERS', 'LISTENERS', 'ROUTES', 'ENDPOINTS', 'SECRETS'])
      expect(r.stdout).toMatch(new RegExp(`^${title}$`, 'm'));
    const json = JSON.parse((await mesh.cli('proxy-config', 'all', 'reviews-v1', '-o', 'json')).stdout) as Record<
      string,
      unknown
    >;
    expect(Object.keys(json)).toEqual(['clusters', 'listeners', 'routes', 'endpoints', 'secrets']);
  });

  it('rejects an unknown type and names an unknown workload', async () => {
    const bad = await mesh.cli('proxy-config', 'filters', 'productpage');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('filters: not a proxy config type');
    const missing = await mesh.cli('proxy-config', 'clusters', 'nosuch');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('workload nosuch.default not found');
  });
});
