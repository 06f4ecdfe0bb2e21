/** `meshctl version` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/version.js';

describe('version validate()', () => {
  it('takes text, json or short, and defaults to text', () => {
    expect(validate({})).toEqual({ format: 'text' });
    expect(validate({ output: 'json' })).toEqual({ format: 'json' });
    expect(validate({ output: 'short', client: true })).toEqual({ format: 'short' });
  });
  it('refuses another format', () => {
    expect(() => validate({ output: 'yaml' })).toThrow(/-o yaml: unsupported output format/);
  });
});
