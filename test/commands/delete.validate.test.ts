/** `meshctl delete` argument and flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/delete.js';
import { UsageError } from '../../src/errors.js';

describe('delete validate()', () => {
  it('takes files, or a kind with names', () => {
    expect(validate([], { filename: ['vs.yaml'] })).toEqual({ format: 'text', target: { files: ['vs.yaml'] } });
    expect(validate(['vs', 'reviews', 'ratings'], { output: 'json' })).toEqual({
      format: 'json',
      target: { kind: 'vs', names: ['reviews', 'ratings'] },
    });
  });
  it('refuses both, neither, a kind without a name, and an unknown format', () => {
    expect(() => validate(['vs', 'reviews'], { filename: ['vs.yaml'] })).toThrow(/either -f or a kind and names/);
    expect(() => validate([], {})).toThrow(/delete needs -f, or a kind and at least one name/);
    expect(() => validate(['vs'], {})).toThrow(UsageError);
    expect(() => validate(['vs', 'x'], { output: 'yaml' })).toThrow(/-o yaml: unsupported output format/);
  });
});
