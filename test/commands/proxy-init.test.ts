/** `meshctl proxy init` without touching iptables: --dry-run, validation, and the help. */
import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProxyInit } from '../proxy-init/support/run-proxy-init.js';

describe('meshctl proxy init (no iptables needed)', () => {
  it('--dry-run prints the iptables-restore input for IPv4 and IPv6, and the injector flags give the golden rules', async () => {
    const r = await runProxyInit([
      '--dry-run',
      '--proxy-uid',
      '1337',
      '--proxy-gid',
      '1337',
      '--inbound-capture-port',
      '15006',
      '--outbound-capture-port',
      '15001',
      '--exclude-inbound-ports',
      '15020,15021,15090',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const golden = readFileSync(
      join(import.meta.dirname, '..', 'proxy-init', 'testdata', 'injector-flags.golden'),
      'utf8',
    );
    expect(r.stdout).toBe(
      golden
        .replace('# ipv4\n', '# IPv4: iptables-restore --noflush\n')
        .replace(
          '# ipv6\n',
          '# IPv6: ip6tables-restore --noflush (written only when the namespace has a global IPv6 address)\n',
        ),
    );
  });

  it('--dry-run --ipv6 false prints IPv4 only; -o json lists the rules', async () => {
    const text = await runProxyInit(['--dry-run', '--ipv6', 'false']);
    expect(text.stdout).toContain('# IPv4');
    expect(text.stdout).not.toContain('# IPv6');
    const json = await runProxyInit(['--dry-run', '--ipv6', 'false', '-o', 'json']);
    const parsed = JSON.parse(json.stdout) as { ruleSets: { family: string; rules: string[] }[] };
    expect(parsed.ruleSets.map((s) => s.family)).toEqual(['ipv4']);
    expect(parsed.ruleSets[0]!.rules).toContain('-A MESH_OUTPUT -m owner --uid-owner 1337 -j RETURN');
  });

  it('reads the annotations file, and a flag overrides its annotation', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcap-annotations-'));
    const file = join(dir, 'annotations');
    await writeFile(
      file,
      'traffic.sidecar.istio.io/excludeOutboundPorts="5432"\ntraffic.meshctl.dev/exclude-outbound-ip-ranges="169.254.169.254/32"\n',
    );
    const r = await runProxyInit(['--dry-run', '--ipv6', 'false', '--annotations-file', file]);
    expect(r.stdout).toContain('-A MESH_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN');
    expect(r.stdout).toContain('-A MESH_OUTPUT -d 169.254.169.254/32 -j RETURN');
    const o = await runProxyInit([
      '--dry-run',
      '--ipv6',
      'false',
      '--annotations-file',
      file,
      '--exclude-outbound-ports',
      '3306',
    ]);
    expect(o.stdout).toContain('--dport 3306 -j RETURN');
    expect(o.stdout).not.toContain('5432');
  });

  it('names the annotation behind a bad value, exit 64, nothing printed on stdout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcap-annotations-'));
    const file = join(dir, 'annotations');
    await writeFile(file, 'traffic.meshctl.dev/exclude-inbound-ports="8080,http"\n');
    const r = await runProxyInit(['--dry-run', '--annotations-file', file]);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `Error: annotation traffic.meshctl.dev/exclude-inbound-ports (${file}): "http" is not a port\n  hint: give TCP ports from 1 to 65535, separated by commas (e.g. 8080,9090)\n`,
    );
  });

  it('names a missing annotations file', async () => {
    const r = await runProxyInit(['--dry-run', '--annotations-file', '/nonexistent/annotations']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: /nonexistent/annotations: no such file');
  });

  it('refuses --dry-run with --cleanup, and a bad --netns name', async () => {
    expect((await runProxyInit(['--dry-run', '--cleanup'])).stderr).toContain(
      '--dry-run and --cleanup cannot be used together',
    );
    const n = await runProxyInit(['--netns', '../etc']);
    expect(n.code).toBe(64);
    expect(n.stderr).toContain('--netns ../etc: not a network namespace name');
  });

  it('documents the flags the injector passes', async () => {
    const r = await runProxyInit(['--help']);
    for (const flag of [
      '--proxy-uid',
      '--proxy-gid',
      '--inbound-capture-port',
      '--outbound-capture-port',
      '--exclude-inbound-ports',
      '--exclude-outbound-ports',
      '--exclude-outbound-ip-ranges',
      '--include-inbound-ports',
      '--include-outbound-ip-ranges',
      '--annotations-file',
      '--cleanup',
      '--dry-run',
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });
});

describe('README capture section', () => {
  it('shows the --dry-run output meshctl really prints', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const m = /```\n\$ meshctl proxy init --dry-run --ipv6 false\n([\s\S]*?)```/.exec(readme);
    expect(m, 'README section capture lost its dry-run example').not.toBeNull();
    expect((await runProxyInit(['--dry-run', '--ipv6', 'false'])).stdout).toBe(m![1]);
  });
});
