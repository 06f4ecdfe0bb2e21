/** `meshctl proxy run` as a real process: SIGTERM drains in-flight requests, then the process exits 0. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, freePort, send, startUpstream } from './support.js';

describe('meshctl proxy run (process)', () => {
  it('on SIGTERM stops accepting, finishes the request in flight, and exits 0', async () => {
    expect(existsSync(resolve('dist/cli.js')), 'dist/cli.js missing: npm test builds it (npm run build)').toBe(true);
    const held: (() => void)[] = [];
    const up = await startUpstream('app', (req, res) =>
      req.url === '/hold' ? held.push(() => res.end('finished after SIGTERM')) : res.end('quick'),
    );
    const [port, adminPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'proxy-sigterm-'));
    const file = join(dir, 'proxy.json');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'proxy.meshctl.dev/v1',
        drainPeriod: '10s',
        listeners: [{ name: 'out', port, direction: 'outbound', chains: [{ routeConfig: 'r' }] }],
        routes: [
          { name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] },
        ],
        clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: up.port }] }],
      }),
    );
    const child = spawn(
      resolve('bin/meshctl'),
      ['proxy', 'run', '--config', file, '--admin-port', String(adminPort), '--telemetry-port', '0', '--no-access-log'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await eventually(
        async () => (await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined))?.status === 200,
        'proxy ready',
        500,
      );
      const inFlight = send(port, { path: '/hold' });
      await eventually(() => held.length === 1, 'request reached the app');
      child.kill('SIGTERM');
      await eventually(
        async () => (await fetch(`http://127.0.0.1:${adminPort}/ready`))?.status === 503,
        'draining',
        500,
      );
      await expect(send(port)).rejects.toThrow();
      held[0]!();
      expect(await inFlight).toMatchObject({ status: 200, body: 'finished after SIGTERM' });
      expect(await exited).toBe(0);
      expect(stderr).toContain('proxy stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
