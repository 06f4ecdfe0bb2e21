/**
 * The parts of `meshctl run --transparent` that need no root: address leases (network choice,
 * workload addresses, service VIPs, the hosts file, the lock under concurrency) and the checks
 * that refuse a machine or a user before anything is created.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  allocateWorkload,
  chooseNetwork,
  homeTag,
  hostsFile,
  meshNetwork,
  serviceVip,
  withLeases,
  type Leases,
} from '../../src/cluster/local/transparent/addresses.js';
import { assertTransparentHost, checkUserFlag, transparentMeshHome } from '../../src/cluster/local/transparent/host.js';
import { macFor } from '../../src/cluster/local/transparent/netns.js';
import { CaptureError, UsageError } from '../../src/errors.js';
import { runCli } from '../support/cli.js';

const homes: string[] = [];
function home(): string {
  const h = mkdtempSync(join(tmpdir(), 'meshctl-leases-'));
  homes.push(h);
  return h;
}
afterAll(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

const empty = (): Leases => ({ workloads: [], services: {} });

describe('transparent run address leases', () => {
  it('picks a /24 whose workload and VIP halves the machine does not use, and keeps it', () => {
    const h = '/home/a/.meshctl';
    const leases = empty();
    const preferred = parseInt(homeTag(h), 16) % 128;
    // The preferred /24 is taken (as a VIP range of something else): the next one is chosen.
    const n = chooseNetwork(leases, h, `inet 198.19.${preferred + 128}.1/24 dev other`);
    expect(n).toBe((preferred + 1) % 128);
    expect(leases.network).toBe(n);
    expect(chooseNetwork(leases, h, '')).toBe(n);
    expect(meshNetwork(h, n)).toEqual({
      bridge: `mesh-${homeTag(h)}`,
      gateway: `198.19.${n}.1`,
      prefixLength: 24,
      gateway6: `fd00:198:19:${n}::1`,
      namePrefix: `msh${homeTag(h)}`,
    });
  });

  it('gives each workload a free address from .2 and each service one VIP for good', () => {
    const leases = empty();
    expect(allocateWorkload(leases, 7)).toEqual({ ipv4: '198.19.7.2', ipv6: 'fd00:198:19:7::2', index: 2 });
    leases.workloads.push({
      name: 'a',
      namespace: 'default',
      netns: 'x-2',
      veth: 'xv2',
      ipv4: '198.19.7.2',
      pid: 1,
      runtimeDir: '/run/meshctl/x-2',
    });
    expect(allocateWorkload(leases, 7).ipv4).toBe('198.19.7.3');
    expect(serviceVip(leases, 7, 'reviews', 'default')).toBe('198.19.135.1');
    expect(serviceVip(leases, 7, 'ratings', 'default')).toBe('198.19.135.2');
    expect(serviceVip(leases, 7, 'reviews', 'default')).toBe('198.19.135.1');
    expect(serviceVip(leases, 7, 'reviews', 'prod')).toBe('198.19.135.3');
  });

  it('writes a hosts file naming each VIP (short name only in the same namespace)', () => {
    const leases: Leases = {
      workloads: [],
      services: { 'reviews.default': '198.19.135.1', 'db.prod': '198.19.135.2' },
    };
    expect(hostsFile(leases, 'default', 'productpage', '198.19.7.3')).toBe(
      [
        '127.0.0.1\tlocalhost',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        '198.19.7.3\tproductpage',
        '198.19.135.2\tdb.prod db.prod.svc db.prod.svc.cluster.local',
        '198.19.135.1\treviews reviews.default reviews.default.svc reviews.default.svc.cluster.local',
        '',
      ].join('\n'),
    );
  });

  it('derives a locally administered MAC from the address, so a reused address keeps its MAC', () => {
    expect(macFor('198.19.7.3')).toBe('02:00:c6:13:07:03');
  });

  it('never hands out one address twice to concurrent runs (lock file), and persists the leases', async () => {
    const h = home();
    const got = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        withLeases(h, async (leases) => {
          const n = chooseNetwork(leases, h, '');
          const { ipv4, index } = allocateWorkload(leases, n);
          await new Promise((r) => setTimeout(r, 5));
          leases.workloads.push({
            name: `w${i}`,
            namespace: 'default',
            netns: `n-${index}`,
            veth: `v${index}`,
            ipv4,
            pid: process.pid,
            runtimeDir: `/run/meshctl/n-${index}`,
          });
          return ipv4;
        }),
      ),
    );
    expect(new Set(got).size).toBe(8);
    const stored = JSON.parse(readFileSync(join(h, 'transparent', 'leases.json'), 'utf8')) as Leases;
    expect(stored.workloads.map((w) => w.ipv4).sort()).toEqual([...got].sort());
  });

  it('takes over a lock whose holder is dead', async () => {
    const h = home();
    await withLeases(h, async () => undefined);
    // A pid that cannot be running (above pid_max).
    writeFileSync(join(h, 'transparent', 'leases.lock'), '99999999');
    expect(await withLeases(h, async (l) => l.workloads.length)).toBe(0);
  });

  it('names a corrupt lease file and what to do', async () => {
    const h = home();
    await withLeases(h, async () => undefined);
    writeFileSync(join(h, 'transparent', 'leases.json'), '{not json');
    await expect(withLeases(h, async () => undefined)).rejects.toThrow(CaptureError);
    await expect(withLeases(h, async () => undefined)).rejects.toThrow(/leases\.json is unreadable/);
  });
});

describe('transparent run checks before anything is created', () => {
  it('refuses another OS and a non-root user with the requirement and the fix', async () => {
    await expect(assertTransparentHost('darwin', 0)).rejects.toMatchObject({
      message: expect.stringContaining('needs Linux network namespaces and iptables (this is darwin)'),
      hint: expect.stringContaining('run without --transparent'),
    });
    await expect(assertTransparentHost('linux', 1000)).rejects.toMatchObject({
      message: expect.stringContaining('must run as root'),
      hint: expect.stringContaining('sudo'),
    });
  });

  it('refuses a machine without iptables, with the package to install', async () => {
    // A PATH holding iproute2 and setpriv but no iptables.
    const bin = home();
    for (const tool of ['ip', 'setpriv'])
      symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    await expect(assertTransparentHost('linux', 0, { PATH: bin })).rejects.toMatchObject({
      message: expect.stringContaining('iptables is missing'),
      hint: 'install it: apt-get install -y iptables',
    });
  });

  it("under sudo, finds the invoking user's mesh home (not root's), unless MESHCTL_HOME says otherwise", async () => {
    const root = execFileSync('getent', ['passwd', 'root'], { encoding: 'utf8' }).split(':')[5]!;
    const expected = existsSync(`${root}/.meshctl`) ? `${root}/.meshctl` : '/fallback';
    expect(await transparentMeshHome({ SUDO_USER: 'root', SUDO_UID: '5' }, '/fallback')).toBe(expected);
    expect(await transparentMeshHome({ SUDO_USER: 'root', SUDO_UID: '5', MESHCTL_HOME: '/x' }, '/fallback')).toBe(
      '/fallback',
    );
    expect(await transparentMeshHome({}, '/fallback')).toBe('/fallback');
    expect(await transparentMeshHome({ SUDO_USER: 'no-such-user-here', SUDO_UID: '5' }, '/fallback')).toBe('/fallback');
  });

  it('refuses --user forms it cannot use, and the proxy UID/GID 1337', () => {
    expect(() => checkUserFlag('bob;rm')).toThrow(UsageError);
    expect(() => checkUserFlag('1337')).toThrow(/the sidecar's/);
    expect(() => checkUserFlag('1000:1337')).toThrow(/the sidecar's/);
    expect(() => checkUserFlag('nobody')).not.toThrow();
    expect(() => checkUserFlag('1000:1000')).not.toThrow();
  });

  it('meshctl run: --transparent flags are checked before anything is created (exit 64, the flag named)', async () => {
    const env = { MESHCTL_HOME: join(tmpdir(), 'meshctl-no-such-home'), PATH: process.env.PATH };
    const userWithout = await runCli(['--local', 'run', '--user', 'bob', '--name', 'x', '--port', '1', '--', 'true'], {
      env,
    });
    expect(userWithout).toMatchObject({ code: 64, stdout: '' });
    expect(userWithout.stderr).toContain('--user and --exclude-* need --transparent');
    const proxyUser = await runCli(
      ['--local', 'run', '--transparent', '--user', '1337', '--name', 'x', '--port', '1', '--', 'true'],
      { env },
    );
    expect(proxyUser.code).toBe(64);
    expect(proxyUser.stderr).toContain("--user 1337: UID/GID 1337 is the sidecar's");
    const badPort = await runCli(
      [
        '--local',
        'run',
        '--transparent',
        '--exclude-outbound-ports',
        'http',
        '--name',
        'x',
        '--port',
        '1',
        '--',
        'true',
      ],
      { env },
    );
    expect(badPort.code).toBe(64);
    expect(badPort.stderr).toContain('--exclude-outbound-ports: "http" is not a port');
  });

  it('meshctl run --help shows a --transparent example', async () => {
    const help = await runCli(['run', '--help']);
    expect(help.stdout).toContain('--transparent');
    expect(help.stdout).toContain(
      'sudo meshctl run --transparent --name client --port 9000 -- curl -s http://reviews:9080/',
    );
  });
});
