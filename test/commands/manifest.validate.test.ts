/** `meshctl manifest generate` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/manifest.js';

describe('manifest generate validate()', () => {
  it('takes yaml or json and one selection of parts', () => {
    expect(validate({})).toEqual({ format: 'yaml' });
    expect(validate({ output: 'json', crdsOnly: true })).toEqual({ format: 'json' });
    expect(validate({ skipCrds: true })).toEqual({ format: 'yaml' });
    expect(validate({ addons: true })).toEqual({ format: 'yaml' });
  });
  it('refuses contradictory parts and an unknown format', () => {
    expect(() => validate({ crdsOnly: true, skipCrds: true })).toThrow(/--crds-only and --skip-crds cannot be used/);
    expect(() => validate({ addons: true, crdsOnly: true })).toThrow(/--addons prints only the add-ons/);
    expect(() => validate({ addons: true, skipCrds: true })).toThrow(/--addons prints only the add-ons/);
    expect(() => validate({ output: 'table' })).toThrow(/-o table: unsupported output format/);
  });
});
