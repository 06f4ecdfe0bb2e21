import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { defineProxyWaitReady } from '../../src/commands/proxy-wait-ready.js';
import { createContext } from '../../src/context.js';
import { PassThrough, Readable } from 'node:stream';
import { describeError } from '../../src/errors.js';

let server: Server | undefined;
afterEach(() => server?.close());

/** Runs `proxy wait-ready` as the CLI root would bind it (the `proxy` parent is the proxy helper's). */
async function waitReady(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const err = new PassThrough();
  err.on('data', (d) => (stderr += d));
  const ctx = createContext(
    { stdout: new PassThrough(), stderr: err, stdin: Readable.from([]), env: { NO_COLOR: '1' }, cwd: '/' },
    {},
  );
  let code = -1;
  const parent = new Command('proxy').exitOverride();
  defineProxyWaitReady(parent, (cmd, handler) =>
    cmd.action(async () => void (code = await handler(ctx, cmd.args, cmd.opts() as never))),
  );
  try {
    await parent.parseAsync(['wait-ready', ...args], { from: 'user' });
  } catch (e) {
    const d = describeError(e);
    stderr += d.message;
    code = d.exitCode;
  }
  return { code, stderr };
}

describe('meshctl proxy wait-ready', () => {
  it('waits while the proxy answers 503 and returns once it answers 200', async () => {
    let calls = 0;
    server = createServer((_req, res) => void res.writeHead(++calls < 3 ? 503 : 200).end());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz/ready`;
    const r = await waitReady(['--url', url, '--interval', '20ms', '--timeout', '10s']);
    expect(r.code).toBe(0);
    expect(calls).toBe(3);
    expect(r.stderr).toContain('proxy is ready');
  });

  it('fails with the last answer when the proxy never gets ready', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const r = await waitReady([
      '--url',
      `http://127.0.0.1:${port}/healthz/ready`,
      '--interval',
      '20ms',
      '--timeout',
      '100ms',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/timed out waiting for the proxy to be ready: .* ECONNREFUSED/);
  });

  it('rejects a bad timeout before doing anything', async () => {
    const r = await waitReady(['--timeout', 'soon']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--timeout soon: not a duration');
  });
});
