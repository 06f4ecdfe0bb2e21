/**
 * Golden files of the capture rules, one per case of Istio's istio-iptables golden tests that
 * applies to meshctl (REDIRECT mode, no DNS, no HBONE), for IPv4 and IPv6. The golden text is
 * exactly what `meshctl proxy init --dry-run` prints and iptables-restore receives. Run with
 * UPDATE_GOLDEN=1 to rewrite, then review the diff.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveCaptureOptions, type RawCaptureSettings } from '../../src/proxy-init/options.js';
import { buildRules } from '../../src/proxy-init/rules.js';
import { applyInput, restoreText } from '../../src/proxy-init/restore.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** The cases: name -> settings, as flags would give them. */
const CASES: Record<string, RawCaptureSettings> = {
  defaults: {},
  'injector-flags': {
    proxyUid: '1337',
    proxyGid: '1337',
    inboundCapturePort: '15006',
    outboundCapturePort: '15001',
    excludeInboundPorts: '15020,15021,15090',
  },
  'inbound-ports-include': { includeInboundPorts: '4000,5000' },
  'inbound-ports-include-excluded': { includeInboundPorts: '8080,15020,9090', excludeInboundPorts: '9090' },
  'inbound-wildcard-exclude': { includeInboundPorts: '*', excludeInboundPorts: '22,80,443' },
  'inbound-none': { includeInboundPorts: '' },
  'outbound-ports-exclude': { excludeOutboundPorts: '22,80,443' },
  'outbound-ports-exclude-single': { excludeOutboundPorts: '5432' },
  'outbound-ports-include': { includeOutboundPorts: '32000,31000', includeOutboundIpRanges: '' },
  'ip-range': {
    excludeOutboundIpRanges: '1.1.0.0/16,2001:db8:1::/48',
    includeOutboundIpRanges: '9.9.0.0/16,2001:db8::/32',
  },
  'outbound-none': { includeOutboundIpRanges: '' },
  'loopback-outbound-iprange': { includeOutboundIpRanges: '127.1.2.3/32,::1/128' },
  'uid-gid': { proxyUid: '3,4', proxyGid: '1,2' },
  'exclude-interfaces': { excludeInterfaces: 'eth1,net2' },
  'many-ports': { excludeInboundPorts: Array.from({ length: 20 }, (_, i) => 7000 + i).join(',') },
  'capture-ports': { inboundCapturePort: '16006', outboundCapturePort: '16001' },
};

function render(settings: RawCaptureSettings): string {
  const o = resolveCaptureOptions(settings);
  return (['ipv4', 'ipv6'] as const)
    .map((f) => `# ${f}\n${restoreText(applyInput(buildRules(o, f), { chains: [], jumps: [] }))}`)
    .join('');
}

describe('capture rules (golden files, IPv4 and IPv6)', () => {
  for (const [name, settings] of Object.entries(CASES)) {
    it(name, () => {
      const file = join(TESTDATA, `${name}.golden`);
      const actual = render(settings);
      if (UPDATE) writeFileSync(file, actual);
      expect(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1`).toBe(true);
      expect(actual).toBe(readFileSync(file, 'utf8'));
    });
  }
});

describe('capture rules: properties', () => {
  it('is a pure function: same options, same rules', () => {
    const a = resolveCaptureOptions({ excludeOutboundIpRanges: '10.0.0.0/8', excludeInboundPorts: '8081' });
    const b = resolveCaptureOptions({ excludeInboundPorts: '8081', excludeOutboundIpRanges: '10.0.0.0/8' });
    expect(buildRules(a, 'ipv4')).toEqual(buildRules(b, 'ipv4'));
  });

  it("never redirects the proxy's own traffic: the owner RETURN comes before any jump to MESH_REDIRECT", () => {
    const set = buildRules(resolveCaptureOptions({ includeOutboundPorts: '80' }), 'ipv4');
    const out = set.rules.filter((r) => r.chain === 'MESH_OUTPUT').map((r) => r.spec);
    const ownerReturn = out.indexOf('-m owner --uid-owner 1337 -j RETURN');
    const firstRedirect = out.findIndex((s) => s.endsWith('-j MESH_REDIRECT'));
    expect(ownerReturn).toBeGreaterThanOrEqual(0);
    expect(firstRedirect).toBeGreaterThan(ownerReturn);
  });

  it('puts nothing in built-in chains but the two jumps', () => {
    const set = buildRules(resolveCaptureOptions({ excludeInterfaces: 'eth1', excludeOutboundPorts: '22' }), 'ipv6');
    expect(set.rules.filter((r) => !r.chain.startsWith('MESH_')).map((r) => `${r.chain} ${r.spec}`)).toEqual([
      'PREROUTING -p tcp -j MESH_INBOUND',
      'OUTPUT -p tcp -j MESH_OUTPUT',
    ]);
  });

  it('writes each family only its own ranges', () => {
    const o = resolveCaptureOptions({ excludeOutboundIpRanges: '10.0.0.0/8,fd00::/8' });
    expect(buildRules(o, 'ipv4').rules.map((r) => r.spec)).toContain('-d 10.0.0.0/8 -j RETURN');
    expect(
      buildRules(o, 'ipv4')
        .rules.map((r) => r.spec)
        .join('\n'),
    ).not.toContain('fd00');
    expect(buildRules(o, 'ipv6').rules.map((r) => r.spec)).toContain('-d fd00::/8 -j RETURN');
    expect(
      buildRules(o, 'ipv6')
        .rules.map((r) => r.spec)
        .join('\n'),
    ).not.toContain('10.0.0.0');
  });
});
