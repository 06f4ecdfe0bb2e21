/** `meshctl uninject` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/uninject.js';
import { ExitCode, UsageError } from '../../src/errors.js';

describe('uninject validate()', () => {
  it('needs at least one -f', () => {
    expect(() => validate({})).toThrow(UsageError);
    expect(() => validate({ filename: [] })).toThrow(/uninject needs at least one -f/);
  });
  it('takes yaml or json', () => {
    expect(validate({ filename: ['-'] })).toEqual({ files: ['-'], format: 'yaml' });
    expect(validate({ filename: ['a.yaml', 'b.yaml'], output: 'json' })).toEqual({
      files: ['a.yaml', 'b.yaml'],
      format: 'json',
    });
    expect(() => validate({ filename: ['-'], output: 'table' })).toThrow(/-o table: unsupported output format/);
  });
  it('is a usage error (exit 64)', () => {
    try {
      validate({});
      expect.unreachable();
    } catch (err) {
      expect((err as UsageError).exitCode).toBe(ExitCode.Usage);
    }
  });
});
