/** `meshctl proxy-status`: sync states from a real control plane and real sidecars, NACK reasons, and the per-proxy diff. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { MeshWithAdmin } from './mesh-with-admin.js';
import { eventually } from '../protocol/harness.js';
import { reviewsDestinationRule, reviewsSplit } from '../control-plane/local-mesh.js';

let mesh: MeshWithAdmin;
let squatter: Server;
let taken: number;

beforeAll(async () => {
  mesh = await MeshWithAdmin.start();
  await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await eventually('both proxies synced', () => mesh.synced(), 20_000);
});

afterAll(async () => {
  squatter?.close();
  await mesh.stop();
});

describe('meshctl proxy-status', () => {
  it('lists every connected proxy with its per-type sync state, version and certificate expiry', async () => {
    const r = await mesh.cli('proxy-status');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^NAME\s{3,}CONTROL PLANE\s{3,}VERSION\s{3,}CLUSTERS\s{3,}LISTENERS\s{3,}ROUTES\s{3,}CERT EXPIRY$/,
    );
    expect(lines.slice(1).map((l) => l.split(/\s{3,}/))).toEqual([
      [
        'productpage.default',
        `control-plane-${process.pid}`,
        'test',
        'SYNCED',
        'SYNCED',
        'SYNCED',
        expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(23h\d+m\)$/),
      ],
      [
        'reviews-v1.default',
        `control-plane-${process.pid}`,
        'test',
        'SYNCED',
        'SYNCED',
        'SYNCED',
        expect.stringMatching(/\(23h\d+m\)$/),
      ],
    ]);
    expect(r.stderr).toBe('');
  });

  it('prints the same as JSON', async () => {
    const r = await mesh.cli('proxy-status', '-o', 'json');
    const parsed = JSON.parse(r.stdout) as {
      proxies: {
        name: string;
        clusters: string;
        listeners: string;
        routes: string;
        nacks: unknown[];
        certExpiry: string;
      }[];
    };
    expect(parsed.proxies.map((p) => [p.name, p.clusters, p.listeners, p.routes, p.nacks])).toEqual([
      ['productpage.default', 'SYNCED', 'SYNCED', 'SYNCED', []],
      ['reviews-v1.default', 'SYNCED', 'SYNCED', 'SYNCED', []],
    ]);
    expect(Date.parse(parsed.proxies[0]!.certExpiry)).toBeGreaterThan(Date.now());
  });

  it("lists every proxy's admin and telemetry addresses in JSON, and Prometheus can scrape the telemetry one", async () => {
    const r = await mesh.cli('proxy-status', '-o', 'json');
    const parsed = JSON.parse(r.stdout) as {
      proxies: { name: string; adminAddress: string; telemetryAddress: string }[];
    };
    for (const p of parsed.proxies) {
      const w = mesh.workloads.find((x) => `${x.name}.default` === p.name)!;
      expect(p.adminAddress).toBe(`127.0.0.1:${w.adminPort}`);
      expect(p.telemetryAddress).toBe(`127.0.0.1:${w.proxy.telemetryPort}`);
      const scrape = await fetch(`http://${p.telemetryAddress}/stats/prometheus`);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toContain('meshctl_proxy_config_applies_total{result="accepted"}');
    }
  });

  it('with a proxy name, says each type matches what the control plane would send', async () => {
    await mesh.apply(reviewsDestinationRule + '---\n' + reviewsSplit(80, 20));
    await eventually('the split on every proxy', () => mesh.synced('proxy.meshctl.dev/v1/routes'), 20_000);
    const r = await mesh.cli('proxy-status', 'productpage.default');
    expect(r.stdout).toBe('Clusters Match\nListeners Match\nRoutes Match\n');
    expect(r.code).toBe(0);
    // The JSON form carries the same verdicts.
    const j = JSON.parse((await mesh.cli('proxy-status', 'productpage', '-o', 'json')).stdout) as {
      types: { type: string; match: boolean }[];
    };
    expect(j.types.map((t) => [t.type, t.match])).toEqual([
      ['clusters', true],
      ['listeners', true],
      ['routes', true],
    ]);
  });

  it('shows a NACK with its reason under the table, and the diff of the type the proxy refused', async () => {
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    taken = (squatter.address() as import('node:net').AddressInfo).port;
    // Its HTTP_PROXY port is taken by another process: the proxy cannot bind the listener and NACKs.
    await mesh.run('ratings', { app: 'ratings', version: 'v1' }, { outboundPort: taken });
    await eventually(
      'the NACK',
      () =>
        mesh.cp.server.ads.views().find((v) => v.proxy.workload === 'ratings')?.types['proxy.meshctl.dev/v1/listeners']
          ?.status === 'NACKED',
      20_000,
    );

    const table = await mesh.cli('proxy-status');
    const row = table.stdout.split('\n').find((l) => l.startsWith('ratings.default'))!;
    expect(row.split(/\s{3,}/).slice(3, 6)).toEqual(['SYNCED', 'NACKED', 'SYNCED']);
    expect(table.stdout).toMatch(
      new RegExp(
        `^NACKED ratings\\.default listeners: .*cannot listen on 127\\.0\\.0\\.1:${taken}: EADDRINUSE.* \\(keeps version .*\\)$`,
        'm',
      ),
    );
    const json = JSON.parse((await mesh.cli('proxy-status', '-o', 'json')).stdout) as {
      proxies: { name: string; nacks: { type: string; message: string }[] }[];
    };
    expect(json.proxies.find((p) => p.name === 'ratings.default')!.nacks).toEqual([
      { type: 'listeners', message: expect.stringContaining('EADDRINUSE'), keptVersion: expect.any(String) },
    ]);

    const diff = await mesh.cli('proxy-status', 'ratings');
    expect(diff.stdout).toMatch(
      /^Listeners Don't Match \(the proxy has not applied what was sent: see meshctl proxy-status\)\n--- control plane listeners \(would send, version .+\)\n\+\+\+ proxy ratings\.default listeners \(runs, version .+\)\n@@ -\d+,\d+ \+\d+,\d+ @@\n/m,
    );
    // The listener the control plane wants (on the taken port) is what the proxy lacks.
    expect(diff.stdout).toMatch(new RegExp(`^-\\s+"port": ${taken},?$`, 'm'));
    expect(diff.stdout.trimEnd().split('\n').at(-1)).toBe('Routes Match');
  });

  it('says which proxy is not connected, and rejects a malformed name before any I/O', async () => {
    const missing = await mesh.cli('proxy-status', 'nosuch.default');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('connected proxy nosuch.default not found');
    expect(missing.stderr).toContain("hint: list connected proxies with 'meshctl proxy-status'");
    const bad = await mesh.cli('proxy-status', 'Not_A_Name');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('Not_A_Name: not a proxy name');
  });

  it('shows DIVERGED when a proxy runs a config changed through its admin API, and check --proxy fails', async () => {
    const before = await mesh.cli('check', '--proxy');
    const w = mesh.workloads.find((x) => x.name === 'productpage')!;
    const changed = { ...(await w.proxy.current().config), version: 'changed-by-hand' };
    const r = await fetch(`http://127.0.0.1:${w.adminPort}/config`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.proxy.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...changed, listeners: [] }),
    });
    expect(r.status).toBe(200);
    const table = await mesh.cli('proxy-status');
    const row = table.stdout.split('\n').find((l) => l.startsWith('productpage.default'))!;
    expect(row.split(/\s{3,}/).slice(3, 6)).toEqual(['DIVERGED', 'DIVERGED', 'DIVERGED']);
    expect(table.stdout).toMatch(/^DIVERGED productpage\.default: runs a config the control plane did not send/m);
    const check = await mesh.cli('check', '--proxy');
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('productpage.default is DIVERGED');
    // The other proxies are untouched: before the change, the same check had no DIVERGED line.
    expect(before.stdout).not.toContain('DIVERGED');
  });
});
