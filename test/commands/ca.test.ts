/** `meshctl ca rotate` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/ca.js';

describe('ca rotate validate()', () => {
  it('needs --yes without a terminal, or with -o json', () => {
    expect(() => validate({}, false)).toThrow(/no terminal to confirm it/);
    expect(() => validate({ output: 'json' }, true)).toThrow(/-o json does not ask/);
    expect(validate({ yes: true }, false)).toEqual({ format: 'table' });
    expect(validate({ yes: true, output: 'json' }, false)).toEqual({ format: 'json' });
    expect(validate({}, true)).toEqual({ format: 'table' });
  });

  it('refuses an unknown output format', () => {
    expect(() => validate({ yes: true, output: 'yaml' }, false)).toThrow(/-o yaml: unsupported output format/);
  });
});
