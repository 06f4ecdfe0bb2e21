/** `meshctl demo` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/demo.js';
import { PlatformUnavailableError, UsageError } from '../../src/errors.js';

describe('demo validate()', () => {
  const defaults = { requests: '200', readyTimeout: '45' };
  it('reads the counts and the mode', () => {
    expect(validate(defaults, 'local')).toEqual({ requests: 200, readyTimeoutMs: 45_000, keep: false, cleanup: false });
    expect(validate({ ...defaults, keep: true }, 'local').keep).toBe(true);
    expect(validate({ ...defaults, cleanup: true }, 'local').cleanup).toBe(true);
  });
  it('refuses bad counts, --keep with --cleanup, and Kubernetes', () => {
    expect(() => validate({ ...defaults, requests: '5' }, 'local')).toThrow(/--requests 5: not a count/);
    expect(() => validate({ ...defaults, requests: '1.5e3x' }, 'local')).toThrow(UsageError);
    expect(() => validate({ ...defaults, readyTimeout: '0' }, 'local')).toThrow(/--ready-timeout 0/);
    expect(() => validate({ ...defaults, keep: true, cleanup: true }, 'local')).toThrow(/--keep and --cleanup/);
    expect(() => validate(defaults, 'kubernetes')).toThrow(PlatformUnavailableError);
  });
});
