/** `meshctl install --local` / `uninstall --local` as a user runs them: a real background daemon (the built bin/meshctl). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../support/cli.js';
import { isControlPlaneProcess } from '../../../src/cluster/local/daemon-process.js';
import type { ControlPlaneState } from '../../../src/cluster/local-layout.js';

let home: string;
const cli = (...argv: string[]) => runCli(argv, { env: { MESHCTL_HOME: home } });

beforeAll(async () => {
  // The daemon runs the built CLI (bin/meshctl -> dist/), as an installed meshctl does; `npm test` builds it first.
  if (!existsSync(new URL('../../dist/commands/control-plane.js', import.meta.url))) {
    const { execa } = await import('execa');
    await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: new URL('../../..', import.meta.url).pathname });
  }
  home = await mkdtemp(join(tmpdir(), 'meshctl-install-'));
});
afterAll(async () => {
  await cli('uninstall', '--local');
});

describe('install --local / uninstall --local', () => {
  it('starts the control plane in the background, says where its state and logs are, and is idempotent', async () => {
    const first = await cli('install', '--local', '--stream-port', '0', '--debug-port', '0');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/✔ Local mesh control plane started \(pid \d+, version /);
    expect(first.stdout).toContain(`state               ${home}`);
    expect(first.stdout).toContain(join(home, 'logs', 'control-plane.log'));
    expect(first.stdout).toContain('meshctl run --name web');
    const state = JSON.parse(await readFile(join(home, 'control-plane.json'), 'utf8')) as ControlPlaneState;
    expect(await isControlPlaneProcess(state.pid, state.processStart)).toBe(true);
    expect((await fetch(`${state.apiUrl}/ready`)).status).toBe(200);
    expect(Number(await readFile(join(home, 'control-plane.pid'), 'utf8'))).toBe(state.pid);

    const second = await cli('install', '--local');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`The local mesh control plane is already running (pid ${state.pid}`);

    const log = await readFile(join(home, 'logs', 'control-plane.log'), 'utf8');
    expect(log).toMatch(/control plane .* ready: config stream \+ CA on 127\.0\.0\.1:\d+/);
    expect(log).not.toContain('PRIVATE KEY');

    const down = await cli('uninstall', '--local');
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(`✔ Local mesh control plane stopped (pid ${state.pid})`);
    expect(await isControlPlaneProcess(state.pid, state.processStart)).toBe(false);
    // State is kept: CA and store survive.
    expect(existsSync(join(home, 'ca', 'ca-key.pem'))).toBe(true);

    const again = await cli('uninstall', '--local');
    expect(again.stdout).toContain('The local mesh control plane is not running');
  });

  it('reports a control plane that cannot start, with the reason from its log', async () => {
    const r = await cli(
      'install',
      '--local',
      '--stream-port',
      '0',
      '--debug-port',
      '0',
      '--ca-cert',
      join(home, 'missing.pem'),
      '--ca-key',
      join(home, 'missing-key.pem'),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /the control plane exited during start-up .*missing\.pem: cannot read the CA certificate \(ENOENT\)/,
    );
    expect(r.stderr).toContain(`hint: see the full log in ${join(home, 'logs', 'control-plane.log')}`);
  });

  it('purges only after confirmation, and then only the files it wrote', async () => {
    const noTty = await cli('uninstall', '--local', '--purge');
    expect(noTty.code).toBe(64);
    expect(noTty.stderr).toContain('add -y to confirm');
    expect(existsSync(join(home, 'ca'))).toBe(true);

    await writeFile(join(home, 'my-notes.txt'), 'keep me');
    const purged = await cli('uninstall', '--local', '--purge', '-y');
    expect(purged.code).toBe(0);
    expect(purged.stdout).toContain(
      `Deleted the mesh state in ${home} (files the mesh did not write were left in place)`,
    );
    expect(existsSync(join(home, 'ca'))).toBe(false);
    expect(existsSync(join(home, 'store'))).toBe(false);
    expect(await readFile(join(home, 'my-notes.txt'), 'utf8')).toBe('keep me');
  });

  it('checks flags before doing anything', async () => {
    const r = await cli('install', '--local', '--ca-cert', 'x.pem');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--ca-cert and --ca-key go together');
    const t = await cli('install', '--local', '--cert-ttl', 'soon');
    expect(t.code).toBe(64);
    expect(t.stderr).toContain('--cert-ttl soon');
    // Above the 90-day cap: an error, not a silent cap.
    const long = await cli('install', '--local', '--cert-ttl', '2161h');
    expect(long.code).toBe(64);
    expect(long.stderr).toContain('--cert-ttl 2161h: above the longest workload certificate lifetime, 90 days (2160h)');
    // Linkerd's install value: a policy Linkerd does not have is refused, not taken for all-unauthenticated.
    const policy = await cli('install', '--local', '--set', 'proxy.defaultInboundPolicy=nobody');
    expect(policy.code).toBe(64);
    expect(policy.stderr).toContain('--default-inbound-policy nobody: not a Linkerd default inbound policy');
  });

  it('--set proxy.defaultInboundPolicy reaches the daemon (Linkerd install value, as on Kubernetes)', async () => {
    const r = await cli(
      'install',
      '--local',
      '--stream-port',
      '0',
      '--debug-port',
      '0',
      '--set',
      'proxy.defaultInboundPolicy=deny',
    );
    expect(r.code, r.stderr).toBe(0);
    const state = JSON.parse(await readFile(join(home, 'control-plane.json'), 'utf8')) as ControlPlaneState;
    const argv = (await readFile(`/proc/${state.pid}/cmdline`, 'utf8')).split('\0');
    expect(argv.slice(argv.indexOf('--default-inbound-policy'), argv.indexOf('--default-inbound-policy') + 2)).toEqual([
      '--default-inbound-policy',
      'deny',
    ]);
    expect((await cli('uninstall', '--local')).code).toBe(0);
  });
});
