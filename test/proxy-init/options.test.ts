/** Capture options from flags and annotations: defaults, precedence, and errors that name the fix. */
import { describe, expect, it } from 'vitest';
import { flagName, parseCidr, resolveCaptureOptions } from '../../src/proxy-init/options.js';
import { parseDownwardApiAnnotations, settingsFromAnnotations } from '../../src/proxy-init/annotations.js';
import { UsageError, InputParseError } from '../../src/errors.js';

describe('capture options', () => {
  it("defaults to Istio's: UID/GID 1337, 15001/15006, everything captured, the proxy's ports excluded", () => {
    const o = resolveCaptureOptions({});
    expect(o).toMatchObject({
      proxyUids: [1337],
      proxyGids: [1337],
      inboundCapturePort: 15006,
      outboundCapturePort: 15001,
      includeInboundPorts: '*',
      excludeInboundPorts: [15000, 15020],
      includeOutboundIpRanges: '*',
      ipv6: 'auto',
      iptablesMode: 'auto',
    });
  });

  it('names the flag and the value for a bad port', () => {
    expect(() => resolveCaptureOptions({ excludeInboundPorts: '8080,80a' })).toThrow(UsageError);
    expect(() => resolveCaptureOptions({ excludeInboundPorts: '8080,80a' })).toThrow(
      '--exclude-inbound-ports: "80a" is not a port',
    );
    expect(() => resolveCaptureOptions({ excludeOutboundPorts: '70000' })).toThrow(
      /--exclude-outbound-ports: "70000" is not a port/,
    );
  });

  it('names the annotation when the bad value came from one', () => {
    const a = settingsFromAnnotations(
      { 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/33' },
      '/etc/podinfo/annotations',
    );
    expect(() => resolveCaptureOptions(a.settings, (k) => a.origin[k] ?? flagName(k))).toThrow(
      'annotation traffic.sidecar.istio.io/excludeOutboundIPRanges (/etc/podinfo/annotations): "10.0.0.0/33" is not an IP range',
    );
  });

  it('canonicalises CIDRs the way iptables-save prints them', () => {
    expect(parseCidr('10.1.2.3/8', 'x').text).toBe('10.0.0.0/8');
    expect(parseCidr('169.254.169.254', 'x').text).toBe('169.254.169.254/32');
    expect(parseCidr('FD00:0:0:0:0:0:0:1/64', 'x')).toEqual({ family: 'ipv6', text: 'fd00::/64' });
    expect(parseCidr('2001:db8:0:1:0:0:0:0/64', 'x').text).toBe('2001:db8:0:1::/64');
    expect(parseCidr('::ffff:10.0.0.1/128', 'x').text).toBe('::ffff:a00:1/128');
  });

  it('refuses "*" as an excluded range and equal capture ports', () => {
    expect(() => resolveCaptureOptions({ excludeOutboundIpRanges: '*' })).toThrow(/would exclude every destination/);
    expect(() => resolveCaptureOptions({ inboundCapturePort: '15001' })).toThrow(/are both 15001/);
  });

  it('refuses user names (a passwd lookup would be needed inside the pod)', () => {
    expect(() => resolveCaptureOptions({ proxyUid: 'istio-proxy' })).toThrow(
      /"istio-proxy" is not a numeric user or group id/,
    );
  });
});

describe('capture annotations', () => {
  it("takes meshctl's name over Istio's, and accepts Istio's alone", () => {
    const both = settingsFromAnnotations({
      'traffic.meshctl.dev/exclude-outbound-ports': '5432',
      'traffic.sidecar.istio.io/excludeOutboundPorts': '3306',
      'traffic.sidecar.istio.io/includeInboundPorts': '8080',
    });
    expect(both.settings).toEqual({ excludeOutboundPorts: '5432', includeInboundPorts: '8080' });
    expect(both.origin.excludeOutboundPorts).toBe('annotation traffic.meshctl.dev/exclude-outbound-ports');
  });

  it('refuses a misspelt meshctl annotation, listing the real ones', () => {
    expect(() => settingsFromAnnotations({ 'traffic.meshctl.dev/exclude-inbound-port': '80' })).toThrow(
      /unknown annotation traffic.meshctl.dev\/exclude-inbound-port/,
    );
  });

  it("warns about Istio's TPROXY interception mode", () => {
    expect(settingsFromAnnotations({ 'sidecar.istio.io/interceptionMode': 'TPROXY' }).warnings[0]).toContain(
      'REDIRECT only',
    );
  });

  it('parses the downward API file, quotes and escapes included', () => {
    const text =
      'kubernetes.io/config.seen="2024-01-01T00:00:00Z"\ntraffic.meshctl.dev/exclude-inbound-ports="8081,8082"\nnote="say \\"hi\\"\\n"\n';
    expect(parseDownwardApiAnnotations(text, 'a')).toEqual({
      'kubernetes.io/config.seen': '2024-01-01T00:00:00Z',
      'traffic.meshctl.dev/exclude-inbound-ports': '8081,8082',
      note: 'say "hi"\n',
    });
  });

  it('names the file and line of a malformed annotation line', () => {
    const err = (() => {
      try {
        parseDownwardApiAnnotations('a="1"\nb=2\n', '/etc/podinfo/annotations');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InputParseError);
    expect((err as Error).message).toBe(
      '/etc/podinfo/annotations:2:1: not an annotation line; expected key="value" as the downward API writes it',
    );
  });
});
