/**
 * `meshctl proxy request METHOD PATH`: what the CLI runs inside a pod's proxy container through
 * pods/exec. Against a real proxy with its token in a 0600 file found as an injected pod finds it
 * (`$MESH_CERTS_DIR/admin-token`): reads need no token, changes carry it, the token never appears
 * in the output, and bad arguments are refused before any request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proxy } from '../../src/proxy-runtime/proxy.js';
import { ProxyLog } from '../../src/proxy-runtime/ground/log.js';
import { runCli } from '../support/cli.js';

let dir: string;
let proxy: Proxy;
let token: string;

const request = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(['proxy', 'request', ...argv, '--admin-port', String(proxy.adminPort)], {
    env: { MESH_CERTS_DIR: dir, ...env },
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-preq-'));
  proxy = await Proxy.start(
    { apiVersion: 'proxy.meshctl.dev/v1', version: '1', listeners: [] },
    {
      adminPort: 0,
      telemetryPort: 0,
      telemetryAddress: '127.0.0.1',
      accessLog: null,
      log: new ProxyLog('off'),
      adminTokenFile: join(dir, 'admin-token'),
    },
  );
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
});

afterAll(async () => {
  await proxy?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('meshctl proxy request', () => {
  it('reads the admin API without a token, and changes it with the token file, never printing it', async () => {
    expect((await stat(join(dir, 'admin-token'))).mode & 0o777).toBe(0o600);
    const level = await request(['GET', '/logging']);
    expect(level.code).toBe(0);
    expect(JSON.parse(level.stdout)).toEqual({ level: 'off' });

    // Istio's form without the leading slash works too.
    const set = await request(['POST', 'logging?level=debug']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ level: 'debug' });
    expect(proxy.log.level).toBe('debug');
    expect(set.stdout + set.stderr).not.toContain(token);

    // A config posted with -d is applied (what an attacker holding the token could do; proxy-status then shows DIVERGED).
    const config = JSON.stringify({ apiVersion: 'proxy.meshctl.dev/v1', version: 'posted', listeners: [] });
    const posted = await request(['POST', '/config', '-d', config]);
    expect(posted.code).toBe(0);
    expect(JSON.parse(posted.stdout)).toMatchObject({ ok: true });
    const hash = JSON.parse((await request(['GET', '/config_hash'])).stdout) as { configHash?: string };
    expect(hash.configHash).toMatch(/^[0-9a-f]{8,}/);
  });

  it('exits 1 with the status when the admin API refuses, and names a missing token file', async () => {
    const bad = await request(['POST', '/logging?level=loud']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('unknown level');
    expect(bad.stderr).toContain('POST /logging: the admin API answered 400');

    const wrongFile = await request(['POST', '/logging?level=info'], { MESH_CERTS_DIR: join(dir, 'elsewhere') });
    expect(wrongFile.code).not.toBe(0);
    expect(wrongFile.stderr).toContain(`cannot read the proxy's admin token ${join(dir, 'elsewhere', 'admin-token')}`);
    expect(proxy.log.level).toBe('debug');
  });

  it('refuses anything that is not a GET or POST on a path of the admin API, before any request', async () => {
    for (const [argv, message] of [
      [['DELETE', '/config'], 'the admin API serves GET and POST only'],
      [['GET', 'http://example.com/'], 'not a path on the admin API'],
      [['GET', '//evil.example/x'], 'not a path on the admin API'],
      [['GET', '/logging', '-d', '{}'], '--data goes with POST only'],
      [['POST', '/config', '-d', 'not json'], '--data: not JSON'],
    ] as const) {
      const r = await request([...argv]);
      expect(r.code, argv.join(' ')).toBe(64);
      expect(r.stderr).toContain(message);
    }
  });
});
