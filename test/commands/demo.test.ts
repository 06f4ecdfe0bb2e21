/**
 * `meshctl demo` end to end in a temporary MESHCTL_HOME: a real control plane daemon, six real
 * `meshctl run` workloads with sidecars, real requests on loopback; the printed per-version counts
 * must follow each step, and nothing may be left running afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { runningControlPlane } from '../../src/cluster/local/daemon-process.js';
import { localLayout } from '../../src/cluster/local-layout.js';

const homes: string[] = [];

async function tempHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'meshctl-demo-'));
  homes.push(home);
  return home;
}

const cli = (home: string, ...argv: string[]) => runCli(['--local', ...argv], { env: { MESHCTL_HOME: home } });

/** Pids of processes whose environment names this mesh home (the daemon, `meshctl run`s and their apps). */
async function processesOf(home: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readFile(`/proc/${entry}/environ`, 'latin1')).split('\0').includes(`MESHCTL_HOME=${home}`))
        pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

/** Per step, per traffic batch: [version, answers, sidecar metrics] as printed. */
function printedCounts(stdout: string): Map<number, { label: string; rows: Record<string, [number, number]> }[]> {
  const steps = new Map<number, { label: string; rows: Record<string, [number, number]> }[]>();
  let step = 0;
  let batch: { label: string; rows: Record<string, [number, number]> } | undefined;
  for (const line of stdout.split('\n')) {
    const s = /^Step (\d)\/6: /.exec(line);
    if (s) {
      step = Number(s[1]);
      steps.set(step, []);
    }
    const t = /^ {2}traffic: \d+ requests to productpage \((.+)\); reviews answered by:$/.exec(line);
    if (t) {
      batch = { label: t[1]!, rows: {} };
      steps.get(step)!.push(batch);
    }
    const r = /^ {4}(v[123]) +(\d+) +(\d+) /.exec(line);
    if (r && batch) batch.rows[r[1]!] = [Number(r[2]), Number(r[3])];
  }
  return steps;
}

afterAll(async () => {
  for (const home of homes) {
    // Only if a test failed half-way: stop what that home still runs (demo workloads, a daemon).
    if (existsSync(join(home, 'demo.json'))) await cli(home, 'demo', '--cleanup');
    await cli(home, 'uninstall');
    await rm(home, { recursive: true, force: true });
  }
});

describe('meshctl demo', () => {
  it('on a running control plane: shifts reviews traffic step by step, shows it, and cleans up what it started', async () => {
    const home = await tempHome();
    const install = await cli(home, 'install', '--stream-port', '0', '--debug-port', '0');
    expect(install.code).toBe(0);
    const daemon = (await runningControlPlane(localLayout(home)))!;

    const r = await cli(home, 'demo', '--requests', '60');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain(`✔ Using the running control plane (pid ${daemon.pid}, ${home})`);
    expect(r.stderr).toContain('✔ Started 6 workloads; every sidecar has its certificate and config');
    // The proxy-status table after start-up: six proxies, all synced.
    const table = r.stdout.split('\n').filter((l) => /^(productpage|details|reviews|ratings)-v\d\.default /.test(l));
    expect(table).toHaveLength(6);
    for (const row of table) expect(row.split(/\s{3,}/).slice(3, 6)).toEqual(['SYNCED', 'SYNCED', 'SYNCED']);

    const counts = printedCounts(r.stdout);
    expect([...counts.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    // Answers and the sidecars' istio_requests_total agree in every batch.
    for (const batches of counts.values())
      for (const b of batches) for (const [answers, metrics] of Object.values(b.rows)) expect(metrics).toBe(answers);
    const only = (step: number, i = 0) =>
      Object.fromEntries(Object.entries(counts.get(step)![i]!.rows).map(([v, [n]]) => [v, n]));
    // 1: no rules, all three versions serve.
    const s1 = only(1);
    expect(s1.v1! + s1.v2! + s1.v3!).toBe(60);
    for (const v of ['v1', 'v2', 'v3']) expect(s1[v]).toBeGreaterThan(5);
    // 2: everything to v1.
    expect(only(2)).toEqual({ v1: 60, v2: 0, v3: 0 });
    // 3: 90/10, never v3; v2 a minority.
    const s3 = only(3);
    expect(s3.v3).toBe(0);
    expect(s3.v1! + s3.v2!).toBe(60);
    expect(s3.v2).toBeLessThan(25);
    // 4: 50/50.
    const s4 = only(4);
    expect(s4.v3).toBe(0);
    expect(s4.v2).toBeGreaterThan(10);
    expect(s4.v2).toBeLessThan(50);
    // 5: everything to v2.
    expect(only(5)).toEqual({ v1: 0, v2: 60, v3: 0 });
    // 6: jason gets v3, everyone else v2.
    expect(counts.get(6)!.map((b) => b.label)).toEqual(['end-user: jason', 'other users']);
    expect(only(6, 0)).toEqual({ v1: 0, v2: 0, v3: 60 });
    expect(only(6, 1)).toEqual({ v1: 0, v2: 60, v3: 0 });

    expect(r.stdout).toContain('✔ Every step showed the traffic split its config asked for.');
    expect(r.stderr).toContain('✔ Cleaned up: stopped 6 workloads, removed the demo config\n');
    expect(r.code).toBe(0);

    // The control plane it did not start still runs, with no demo workloads or config left.
    expect((await runningControlPlane(localLayout(home)))?.pid).toBe(daemon.pid);
    expect((await cli(home, 'proxy-status', '-o', 'json')).stdout).toContain('"proxies": []');
    expect((await cli(home, 'get', 'vs', '-o', 'json')).stdout).toContain('"items": []');
    expect(await processesOf(home)).toEqual([daemon.pid]);
    expect((await cli(home, 'uninstall')).code).toBe(0);
    expect(await processesOf(home)).toEqual([]);
  }, 120_000);

  it('--keep leaves the demo and the control plane it started running; --cleanup stops all of it', async () => {
    const home = await tempHome();
    const r = await cli(home, 'demo', '--keep', '--requests', '10');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(/✔ Started the control plane \(pid \d+, state in /);
    expect(r.stdout).toContain('The demo is still running');
    const curl = /curl -x (http:\/\/127\.0\.0\.1:\d+) http:\/\/productpage:9080\//.exec(r.stdout);
    expect(curl).not.toBeNull();
    expect(r.stderr).not.toContain('Cleaned up');

    // Still serving: the printed HTTP_PROXY reaches productpage, and jason still gets v3.
    const { request } = await import('node:http');
    const proxy = new URL(curl![1]!);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: proxy.hostname,
          port: Number(proxy.port),
          path: 'http://productpage:9080/',
          headers: { host: 'productpage:9080', 'end-user': 'jason' },
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end();
    });
    const parsed = JSON.parse(answer) as { service: string; calls: { target: string; answer?: { version: string } }[] };
    expect(parsed.service).toBe('productpage');
    expect(parsed.calls.find((c) => c.target.startsWith('reviews'))?.answer?.version).toBe('v3');
    // 6 `meshctl run`, 6 apps, 1 control plane.
    expect(await processesOf(home)).toHaveLength(13);

    const cleanup = await cli(home, 'demo', '--cleanup');
    expect(cleanup.stdout).toBe(
      '✔ Cleaned up: stopped 6 workloads, removed the demo config, stopped the control plane the demo had started\n',
    );
    expect(cleanup.code).toBe(0);
    expect(await processesOf(home)).toEqual([]);
    expect(await runningControlPlane(localLayout(home))).toBeUndefined();
    expect(existsSync(join(home, 'demo.json'))).toBe(false);
  }, 120_000);

  it('checks its flags before starting anything', async () => {
    const home = await tempHome();
    const both = await cli(home, 'demo', '--keep', '--cleanup');
    expect(both.code).toBe(64);
    expect(both.stderr).toContain('--keep and --cleanup cannot be used together');
    const few = await cli(home, 'demo', '--requests', '3');
    expect(few.code).toBe(64);
    expect(await processesOf(home)).toEqual([]);
  });
});
