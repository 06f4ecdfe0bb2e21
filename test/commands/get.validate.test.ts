/** `meshctl get` argument and flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/get.js';

describe('get validate()', () => {
  it('takes a kind, an optional name and table, yaml or json', () => {
    expect(validate(['vs'], {})).toEqual({ format: 'table', kind: 'vs', name: undefined });
    expect(validate(['dr', 'reviews'], { output: 'yaml' })).toEqual({ format: 'yaml', kind: 'dr', name: 'reviews' });
    expect(validate(['ts'], { output: 'json', allNamespaces: true }).format).toBe('json');
  });
  it('refuses a missing kind and an unknown format', () => {
    expect(() => validate([], {})).toThrow(/get needs a kind/);
    expect(() => validate(['vs'], { output: 'wide' })).toThrow(/-o wide: unsupported output format/);
  });
});
