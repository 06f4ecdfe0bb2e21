/** Replaying an edit of the normalised rendering onto the text as written (src/inject/rebase.ts). */
import { describe, expect, it } from 'vitest';
import { rebaseEdit } from '../../src/inject/rebase.js';

describe('rebaseEdit', () => {
  const source = '---\n# web\na: 1\n\n\nb:\n  - x\n---\n';
  const plain = 'a: 1\n\nb:\n  - x\n';

  it('keeps the source when the edit changes nothing, and takes the edit when source and base agree', () => {
    expect(rebaseEdit(source, plain, plain)).toBe(source);
    expect(rebaseEdit(plain, plain, 'a: 2\n')).toBe('a: 2\n');
  });

  it('inserts, replaces and deletes lines where they align, keeping separators, comments and blank-line runs', () => {
    const edited = 'a: 2\n\nb:\n  - proxy\n  - x\nc: 3\n';
    const out = rebaseEdit(source, plain, edited);
    expect(out).toBe('---\n# web\na: 2\n\n\nb:\n  - proxy\n  - x\nc: 3\n---\n');
    // ...and the reverse edit gives the source back, byte for byte.
    expect(rebaseEdit(out!, edited, plain)).toBe(source);
  });

  it('gives up (undefined) when a line the edit replaces is written differently in the source', () => {
    const flush = 'b:\n- x\n';
    expect(rebaseEdit(flush, 'b:\n  - x\n', 'b:\n  - y\n')).toBeUndefined();
  });
});
