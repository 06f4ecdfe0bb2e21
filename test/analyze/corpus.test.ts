/**
 * The corpus of realistic configurations: every valid case, analyzed with the shared cluster
 * (base.yaml), yields no finding at all; every broken variant yields exactly the code its file name
 * starts with, once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalogue } from '../../src/analyze/index.js';
import { analyzeTexts, BASE, codes, CORPUS } from './support.js';
import { formatFinding } from '../../src/analyze/render.js';

const valid = readdirSync(`${CORPUS}valid`)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const broken = readdirSync(`${CORPUS}broken`)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('corpus', () => {
  it('the shared cluster alone is clean', () => {
    expect(analyzeTexts({ 'base.yaml': BASE }).map((f) => formatFinding(f))).toEqual([]);
  });

  it.each(valid)('valid/%s gives no finding', (file) => {
    const findings = analyzeTexts({ 'base.yaml': BASE, [file]: readFileSync(`${CORPUS}valid/${file}`, 'utf8') });
    expect(findings.filter((f) => codes([f]).length > 0).map((f) => formatFinding(f))).toEqual([]);
  });

  it.each(broken)('broken/%s gives exactly its code', (file) => {
    const expected = file.slice(0, 8);
    const findings = analyzeTexts({ 'base.yaml': BASE, [file]: readFileSync(`${CORPUS}broken/${file}`, 'utf8') });
    // One code (a conflict names each object involved, so a code may come more than once).
    expect([...new Set(codes(findings))], findings.map((f) => formatFinding(f)).join('\n')).toEqual([expected]);
    expect(findings[0]!.position?.file).toBe(file);
  });

  it('has a broken variant for every code of the catalogue', () => {
    const covered = new Set(broken.map((f) => f.slice(0, 8)));
    expect(
      catalogue()
        .filter((m) => !covered.has(m.code))
        .map((m) => m.code),
    ).toEqual([]);
  });
});
