/** `meshctl authz check` argument and flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/authz.js';
import { ExitCode, UsageError } from '../../src/errors.js';

describe('authz check validate()', () => {
  it('reads NAME or NAME.NAMESPACE, defaulting the namespace', () => {
    expect(validate(['reviews-v1'], {}, 'shop')).toEqual({
      format: 'table',
      target: { name: 'reviews-v1', namespace: 'shop', id: 'reviews-v1.shop' },
    });
    expect(validate(['reviews-v1.default'], { output: 'json' }, 'shop').target.id).toBe('reviews-v1.default');
  });
  it('refuses a missing or malformed name and an unknown format, as usage errors', () => {
    expect(() => validate([], {}, 'default')).toThrow(/authz check needs a proxy name/);
    expect(() => validate(['Bad_Name'], {}, 'default')).toThrow(/Bad_Name: not a proxy name/);
    expect(() => validate(['web'], { output: 'yaml' }, 'default')).toThrow(/-o yaml: unsupported output format/);
    expect(() => validate([], {}, 'default')).toThrow(
      expect.objectContaining({ exitCode: ExitCode.Usage }) as unknown as UsageError,
    );
  });
});
