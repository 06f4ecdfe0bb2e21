/**
 * Per-pod annotations inject reads from Istio's vocabulary: `proxy.istio.io/config`'s
 * terminationDrainDuration becomes the proxy's MESH_TERMINATION_DRAIN_DURATION; a bad one is a
 * warning naming it, and the proxy keeps its default; other ProxyConfig settings are named as not applied.
 */
import { describe, expect, it } from 'vitest';
import { defaultInjectOptions, podOverrides } from '../../src/inject/options.js';

describe('proxy.istio.io/config on a pod', () => {
  const base = defaultInjectOptions('0.1.0', 'ghcr.io/meshctl/meshctl:0.1.0');
  const read = (value: string) => {
    const warnings: string[] = [];
    const o = podOverrides(base, { 'proxy.istio.io/config': value }, (w) => warnings.push(w));
    return { drain: o.terminationDrainDuration, warnings };
  };

  it('takes terminationDrainDuration as Istio writes it, and names the settings it does not apply', () => {
    expect(read('terminationDrainDuration: 30s\n')).toEqual({ drain: '30s', warnings: [] });
    expect(read('terminationDrainDuration: 30s\nholdApplicationUntilProxyStarts: true\n')).toEqual({
      drain: '30s',
      warnings: [
        'annotation proxy.istio.io/config: holdApplicationUntilProxyStarts not applied (only terminationDrainDuration is)',
      ],
    });
  });

  it('warns about a value that is not a duration, or YAML that does not parse, and keeps the default', () => {
    const bad = read('terminationDrainDuration: soon\n');
    expect(bad.drain).toBeUndefined();
    expect(bad.warnings).toEqual([
      'annotation proxy.istio.io/config: terminationDrainDuration "soon" is not a duration (write 30s); using 5s',
    ]);
    expect(read('terminationDrainDuration: [30s\n').warnings).toEqual([
      'annotation proxy.istio.io/config: not YAML; its settings are ignored',
    ]);
  });
});
