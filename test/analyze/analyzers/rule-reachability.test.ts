/** MESH0109 unreachable VirtualService rules and MESH0110 ineffective match blocks. */
import { describe, expect, it } from 'vitest';
import { analyzeTexts, codes } from '../support.js';

const vs = (http: string) =>
  `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: shop}\nspec:\n  hosts: [web]\n  http:\n${http}`;
const rule = (match: string, name = '') =>
  `  - ${name ? `name: ${name}\n    ` : ''}${match ? `match:\n${match}    ` : ''}route:\n    - destination: {host: web}\n`;

describe('rule reachability', () => {
  it('MESH0109: a rule after a rule without match, naming both', () => {
    const f = analyzeTexts({ 'vs.yaml': vs(rule('', 'all') + rule('    - uri: {prefix: /a}\n', 'narrow')) });
    expect(codes(f)).toEqual(['MESH0109']);
    expect(f[0]!.message).toBe(
      'Rule http[1] "narrow" is never used: rule http[0] "all" before it has no match and takes every request; move it last or give it a match.',
    );
    expect(f[0]!.field).toBe('spec.http[1]');
  });

  it('MESH0109 and MESH0110: a rule whose only match repeats an earlier one (key order and names do not matter)', () => {
    const f = analyzeTexts({
      'vs.yaml': vs(
        rule('    - name: first\n      uri: {prefix: /a}\n      method: {exact: GET}\n') +
          rule('    - method: {exact: GET}\n      uri: {prefix: /a}\n'),
      ),
    });
    // (MESH0002: a match name is accepted but appears in no log yet.)
    expect(codes(f).sort()).toEqual(['MESH0002', 'MESH0109', 'MESH0110']);
  });

  it('MESH0110: a later prefix match covered by an earlier, wider one; not when the earlier one is narrower', () => {
    const covered = analyzeTexts({
      'vs.yaml': vs(
        rule('    - uri: {prefix: /api}\n') + rule('    - uri: {prefix: /api/v2}\n      method: {exact: GET}\n'),
      ),
    });
    expect(codes(covered)).toEqual(['MESH0110']);
    expect(covered[0]!.message).toContain('match 0 of rule http[0] comes first and matches every request it would');
    for (const http of [
      // narrower first: fine
      rule('    - uri: {prefix: /api/v2}\n') + rule('    - uri: {prefix: /api}\n'),
      // the earlier one needs a header the later one does not
      rule('    - uri: {prefix: /api}\n      headers: {x-canary: {exact: "1"}}\n') +
        rule('    - uri: {prefix: /api/v2}\n'),
      // different methods
      rule('    - uri: {prefix: /api}\n      method: {exact: POST}\n') +
        rule('    - uri: {prefix: /api/v2}\n      method: {exact: GET}\n'),
      // an exact later URI is left alone, as istioctl does
      rule('    - uri: {prefix: /}\n') + rule('    - uri: {exact: /}\n'),
    ])
      expect(codes(analyzeTexts({ 'vs.yaml': vs(http) }))).toEqual([]);
  });
});
