/**
 * `meshctl proxy init` against real iptables in network namespaces the test creates: the rules as
 * iptables-save shows them, idempotence, replacement, exact cleanup next to someone else's rules,
 * nft/legacy detection, and a refused rule reported with iptables' message and nothing applied.
 */
import { expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { netnsRequirements } from './support/requirements.js';
import { useNetnsLab, type NetnsHost } from './support/netns.js';
import { runProxyInit } from '../proxy-init/support/run-proxy-init.js';
import { resolveCaptureOptions } from '../../src/proxy-init/options.js';
import { buildRules, ruleLine } from '../../src/proxy-init/rules.js';
import { parseNatState } from '../../src/proxy-init/restore.js';
import { applyCapture } from '../../src/proxy-init/apply.js';
import { execaRunner, type CommandRunner } from '../../src/proxy-init/iptables.js';
import { CaptureError } from '../../src/errors.js';

describeRequiring(netnsRequirements, 'meshctl proxy init in a network namespace', () => {
  const lab = useNetnsLab(['pod', 'legacy-pod', 'fault-pod']);
  let pod: NetnsHost;
  /** The nat table as iptables-save prints it, without the timestamps and packet counters. */
  const natTable = async (host: NetnsHost, bin = 'iptables-save') => {
    const r = await lab().exec(host, bin, ['-t', 'nat']);
    expect(r.exitCode).toBe(0);
    return r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
      .join('\n');
  };
  const rulesOf = (save: string) =>
    [...parseNatState(save).rules].flatMap(([chain, specs]) => specs.map((spec) => `-A ${chain} ${spec}`));
  let pristineV4 = '';
  let pristineV6 = '';

  it('applies the capture for IPv4 and IPv6 (the namespace has an IPv6 address), leaving other rules alone', async () => {
    pod = lab().host('pod');
    // Someone else's chain and rule, which must survive init and cleanup untouched.
    for (const args of [
      ['-t', 'nat', '-N', 'KEEP_ME'],
      ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-m', 'tcp', '--dport', '6000', '-j', 'KEEP_ME'],
    ]) {
      expect((await lab().exec(pod, 'iptables', args)).exitCode).toBe(0);
    }
    pristineV4 = await natTable(pod);
    pristineV6 = await natTable(pod, 'ip6tables-save');
    const r = await runProxyInit(['--netns', pod.ns]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'IPv4: capture applied: 15 rules (iptables-nft)\nIPv6: capture applied: 15 rules (ip6tables-nft)\n',
    );
    expect(r.code).toBe(0);
  });

  it('leaves exactly the generated rules, in order, as iptables-save prints them', async () => {
    const o = resolveCaptureOptions({});
    for (const [family, bin] of [
      ['ipv4', 'iptables-save'],
      ['ipv6', 'ip6tables-save'],
    ] as const) {
      const saved = rulesOf(await natTable(pod, bin));
      const mine = saved.filter((l) => / -j MESH_|^-A MESH_/.test(l));
      const expected = buildRules(o, family).rules.map(ruleLine);
      expect([...mine].sort()).toEqual([...expected].sort());
      // Order within each chain is what decides the capture: compare chain by chain.
      for (const chain of ['PREROUTING', 'OUTPUT', 'MESH_INBOUND', 'MESH_OUTPUT']) {
        expect(mine.filter((l) => l.startsWith(`-A ${chain} `))).toEqual(
          expected.filter((l) => l.startsWith(`-A ${chain} `)),
        );
      }
    }
    expect(rulesOf(await natTable(pod))).toContain('-A OUTPUT -p tcp -m tcp --dport 6000 -j KEEP_ME');
  });

  it('changes nothing when run a second time (iptables-save identical)', async () => {
    const [v4, v6] = [await natTable(pod), await natTable(pod, 'ip6tables-save')];
    const r = await runProxyInit(['--netns', pod.ns]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'IPv4: capture already in place: 15 rules, nothing changed (iptables-nft)\nIPv6: capture already in place: 15 rules, nothing changed (ip6tables-nft)\n',
    );
    expect(await natTable(pod)).toBe(v4);
    expect(await natTable(pod, 'ip6tables-save')).toBe(v6);
  });

  it('replaces a capture made with other options in one step, without stacking jumps', async () => {
    const r = await runProxyInit([
      '--netns',
      pod.ns,
      '--exclude-outbound-ports',
      '5432',
      '--exclude-inbound-ports',
      '22',
    ]);
    expect(r.stdout).toContain('IPv4: capture replaced (the previous rules differed): 16 rules');
    const rules = rulesOf(await natTable(pod));
    expect(rules.filter((l) => l === '-A OUTPUT -p tcp -j MESH_OUTPUT')).toHaveLength(1);
    expect(rules.filter((l) => l === '-A PREROUTING -p tcp -j MESH_INBOUND')).toHaveLength(1);
    expect(rules).toContain('-A MESH_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN');
    expect(rules).toContain('-A MESH_INBOUND -p tcp -m multiport --dports 15000,15020,22 -j RETURN');
  });

  it('--cleanup restores the table as it was before, foreign rules included; a second cleanup finds nothing', async () => {
    const r = await runProxyInit(['--netns', pod.ns, '--cleanup']);
    expect(r.stdout).toBe('IPv4: capture removed (iptables-nft)\nIPv6: capture removed (ip6tables-nft)\n');
    expect(await natTable(pod)).toBe(pristineV4);
    expect(await natTable(pod, 'ip6tables-save')).toBe(pristineV6);
    const again = await runProxyInit(['--netns', pod.ns, '--cleanup']);
    expect(again.stdout).toBe(
      'IPv4: no capture rules to remove (iptables-nft)\nIPv6: no capture rules to remove (ip6tables-nft)\n',
    );
  });

  it('uses iptables-legacy where the namespace already has legacy rules (as istio-iptables decides)', async () => {
    const host = lab().host('legacy-pod');
    expect(
      (
        await lab().exec(host, 'iptables-legacy', [
          '-t',
          'filter',
          '-A',
          'INPUT',
          '-p',
          'tcp',
          '--dport',
          '7',
          '-j',
          'DROP',
        ])
      ).exitCode,
    ).toBe(0);
    const r = await runProxyInit(['--netns', host.ns, '--ipv6', 'false']);
    expect(r.stdout).toBe('IPv4: capture applied: 15 rules (iptables-legacy)\n');
    expect(rulesOf(await natTable(host, 'iptables-legacy-save'))).toContain('-A OUTPUT -p tcp -j MESH_OUTPUT');
    expect(rulesOf(await natTable(host, 'iptables-nft-save'))).toEqual([]);
    expect((await runProxyInit(['--netns', host.ns, '--ipv6', 'false'])).stdout).toContain('already in place');
    expect((await runProxyInit(['--netns', host.ns, '--cleanup', '--ipv6', 'false'])).stdout).toBe(
      'IPv4: capture removed (iptables-legacy)\n',
    );
    expect(rulesOf(await natTable(host, 'iptables-legacy-save'))).toEqual([]);
  });

  it('reports the rule iptables refused with its message, and applies none of the rules', async () => {
    const host = lab().host('fault-pod');
    const before = await natTable(host);
    // Fault injection: real iptables-restore receives one rule it must refuse (a REDIRECT from a
    // chain where the owner match is not allowed), which valid options can never produce.
    const real = execaRunner(host.ns);
    const corruptingRunnerForTest: CommandRunner = {
      prefix: real.prefix,
      run: (file, args, input) =>
        real.run(
          file,
          args,
          input?.replace(
            '-A PREROUTING -p tcp -j MESH_INBOUND',
            '-A PREROUTING -p tcp -m owner --uid-owner 1337 -j MESH_INBOUND',
          ),
        ),
    };
    const err = await applyCapture(resolveCaptureOptions({}), corruptingRunnerForTest, ['ipv4']).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CaptureError);
    expect((err as CaptureError).message).toBe(
      // The line iptables blamed, as meshctl generated it (the fault was injected underneath).
      'iptables-nft-restore (IPv4) refused the rule "-A PREROUTING -p tcp -j MESH_INBOUND": RULE_APPEND failed (Invalid argument): rule in chain PREROUTING',
    );
    expect((err as CaptureError).exitCode).toBe(1);
    expect(await natTable(host)).toBe(before);
  });
});
