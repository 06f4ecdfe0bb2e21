/** `meshctl proxy run`: help with a minimal config, config errors with file:line, a real run stopped via the admin API. */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { MINIMAL_CONFIG_EXAMPLE } from '../../src/commands/proxy-run.js';
import { validateProxyConfig } from '../../src/protocol/proxy-config/validate.js';
import { parse } from 'yaml';
import { eventually, freePort, send, startUpstream } from './support.js';

describe('meshctl proxy run', () => {
  it('--help shows a minimal config example, and that example is valid', async () => {
    const r = await runCli(['proxy', 'run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Minimal config:');
    expect(r.stdout).toContain('apiVersion: proxy.meshctl.dev/v1');
    expect(validateProxyConfig(parse(MINIMAL_CONFIG_EXAMPLE))).toMatchObject({ ok: true });
  });

  it('without --config is a usage error', async () => {
    const r = await runCli(['proxy', 'run']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--config FILE is required');
  });

  it('names file, line and field of every invalid value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: proxy.meshctl.dev/v1',
        'listeners:',
        '- name: out',
        '  port: 99999',
        '  direction: outbound',
        '  chains:',
        '  - routeConfig: missing',
        '',
      ].join('\n'),
    );
    const r = await runCli(['proxy', 'run', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:4:9: listeners[0].port:`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports a semantic error (unknown cluster) with its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, MINIMAL_CONFIG_EXAMPLE.replace('- cluster: reviews', '- cluster: ratings'));
    const r = await runCli(['proxy', 'run', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /routes\[0\]\.virtualHosts\[0\]\.routes\[0\]\.route\[0\]\.cluster: no cluster named "ratings"/,
    );
  });

  it('refuses inboundPassthrough on a cluster that does not dial the original destination', () => {
    const cfg = parse(MINIMAL_CONFIG_EXAMPLE) as { clusters: Record<string, unknown>[] };
    cfg.clusters[0]!.inboundPassthrough = true;
    const v = validateProxyConfig(cfg);
    expect(v.ok).toBe(false);
    expect(JSON.stringify(v)).toContain(
      'clusters[0].inboundPassthrough: only an originalDst cluster dials the original destination',
    );
  });

  it('runs from a file, re-applies the file when it changes, and stops on /quitquitquit', async () => {
    const a = await startUpstream('A');
    const b = await startUpstream('B');
    const [listenPort, adminPort, telemetryPort] = [await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'proxy-cli-'));
    const file = join(dir, 'proxy.yaml');
    const config = (port: number, version: string) =>
      MINIMAL_CONFIG_EXAMPLE.replace('port: 15080', `port: ${listenPort}`)
        .replace('port: 9080 }', `port: ${port} }`)
        .replace('version: "1"', `version: "${version}"`);
    writeFileSync(file, config(a.port, 'one'));
    const running = runCli([
      'proxy',
      'run',
      '--config',
      file,
      '--admin-port',
      String(adminPort),
      '--telemetry-port',
      String(telemetryPort),
      '--no-access-log',
    ]);
    await eventually(
      async () => (await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined))?.status === 200,
      'proxy ready',
    );
    expect((await send(listenPort, { host: 'reviews:9080' })).body).toBe('A');
    writeFileSync(file, config(b.port, 'two'));
    await eventually(async () => (await send(listenPort, { host: 'reviews:9080' })).body === 'B', 'new config applied');
    // An invalid edit is refused; the running version keeps serving.
    writeFileSync(file, 'apiVersion: proxy.meshctl.dev/v1\nlisteners: 7\n');
    await eventually(async () => {
      const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as {
        version: string;
        lastRejected: { error: string } | null;
      };
      return (
        dump.version === 'two' &&
        dump.lastRejected !== null &&
        dump.lastRejected.error.includes('listeners: expected array')
      );
    }, 'the invalid edit is refused and version two kept');
    expect((await send(listenPort, { host: 'reviews:9080' })).body).toBe('B');
    // Without the token the proxy refuses to quit; the token is in the 0600 file beside the config.
    expect((await fetch(`http://127.0.0.1:${adminPort}/quitquitquit`, { method: 'POST' })).status).toBe(401);
    const tokenFile = join(dir, 'admin-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(
      (
        await fetch(`http://127.0.0.1:${adminPort}/quitquitquit`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        })
      ).status,
    ).toBe(200);
    const r = await running;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('config file rejected');
    expect(r.stderr).toContain('listeners: expected array');
  });
});
