/** `meshctl check` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/check.js';

describe('check validate()', () => {
  it('takes a format and a --wait duration', () => {
    expect(validate({ wait: '0s' })).toEqual({ format: 'table', waitMs: 0 });
    expect(validate({ wait: '1m', output: 'json', proxy: true })).toEqual({ format: 'json', waitMs: 60_000 });
    expect(validate({ wait: '0s', output: 'short', pre: true })).toEqual({ format: 'short', waitMs: 0 });
  });
  it('refuses a bad --wait, --pre with --proxy, and an unknown format', () => {
    expect(() => validate({ wait: 'soon' })).toThrow(/--wait soon: not a duration/);
    expect(() => validate({ wait: '0s', pre: true, proxy: true })).toThrow(/--pre and --proxy cannot be used together/);
    expect(() => validate({ wait: '0s', output: 'yaml' })).toThrow(/-o yaml: unsupported output format/);
  });
});
