/**
 * re2js is loaded on first use (src/config/re2.ts): a sidecar whose config has no regex does not pay its memory.
 * The guard below fails when a module imports re2js's value at load time again.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { re2 } from '../../src/config/re2.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('re2js, loaded on first use', () => {
  it('no module under src/ imports re2js at load time (only types; the value comes from re2())', () => {
    const offenders = sources('src').filter((file) =>
      /^import\s+(?!type\b)[^;]*from\s+'re2js'/m.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('re2() gives RE2 semantics: linear-time matching, no backreferences, case folding by flag', () => {
    const RE2 = re2();
    expect(re2()).toBe(RE2);
    expect(RE2.compile('/api/v[0-9]+/.*').matches('/api/v2/users')).toBe(true);
    expect(RE2.compile('abc', RE2.CASE_INSENSITIVE).matches('ABC')).toBe(true);
    expect(() => RE2.compile('(a)\\1')).toThrow();
    // a pattern that backtracks exponentially in a backtracking engine answers at once
    expect(RE2.compile('(a+)+$').matches('a'.repeat(64) + 'b')).toBe(false);
  });
});
