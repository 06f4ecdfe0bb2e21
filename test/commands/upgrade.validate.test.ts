/** `meshctl upgrade` argument and flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/upgrade.js';

describe('upgrade validate()', () => {
  it('takes a format and a --timeout on Kubernetes', () => {
    expect(validate([], {}, 'kubernetes')).toEqual({ format: 'table', timeoutMs: 300_000 });
    expect(validate([], { timeout: '30s', output: 'json', dryRun: true }, 'kubernetes')).toEqual({
      format: 'json',
      timeoutMs: 30_000,
    });
  });
  it('refuses arguments, a bad --timeout, an unknown format and the local platform', () => {
    expect(() => validate(['now'], {}, 'kubernetes')).toThrow(/unexpected argument now/);
    expect(() => validate([], { timeout: '0s' }, 'kubernetes')).toThrow(/--timeout 0s: not a duration/);
    expect(() => validate([], { timeout: 'later' }, 'kubernetes')).toThrow(/--timeout later: not a duration/);
    expect(() => validate([], { output: 'yaml' }, 'kubernetes')).toThrow(/-o yaml: unsupported output format/);
    expect(() => validate([], {}, 'local')).toThrow(/meshctl upgrade is for Kubernetes/);
  });
});
