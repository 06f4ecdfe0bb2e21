/** `meshctl proxy-status` argument and flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/proxy-status.js';

describe('proxy-status validate()', () => {
  it('lists all proxies without a name, one with NAME[.NAMESPACE]', () => {
    expect(validate([], {}, 'default')).toEqual({ format: 'table', target: undefined });
    expect(validate(['productpage-v1'], { output: 'json' }, 'shop')).toEqual({
      format: 'json',
      target: { name: 'productpage-v1', namespace: 'shop', id: 'productpage-v1.shop' },
    });
  });
  it('refuses a malformed name and an unknown format', () => {
    expect(() => validate(['a..b'], {}, 'default')).toThrow(/a\.\.b: not a proxy name/);
    expect(() => validate([], { output: 'yaml', ignoreStale: true }, 'default')).toThrow(
      /-o yaml: unsupported output format/,
    );
  });
});
