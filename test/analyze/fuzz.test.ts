/**
 * Bad input never crashes analyze: random text, truncated and mutated real configs, and random
 * objects of every mesh kind give findings or a clean error, never an exception or a stack trace.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildAnalysisInput, runAnalysis } from '../../src/analyze/index.js';
import { MESH_KINDS, validateResource } from '../../src/config/index.js';
import { runCli } from '../support/cli.js';
import { BASE, CORPUS } from './support.js';

const samples = [BASE, ...readdirSync(`${CORPUS}valid`).map((f) => readFileSync(`${CORPUS}valid/${f}`, 'utf8'))];
const YAML_CHARS = [
  ':',
  '-',
  '[',
  ']',
  '{',
  '}',
  '"',
  "'",
  '\n',
  ' ',
  '#',
  '&',
  '*',
  '!',
  '|',
  '>',
  '\t',
  '%',
  '@',
  '`',
  ',',
  '?',
];

function analyzeText(text: string): number {
  const input = buildAnalysisInput({ files: [{ name: 'fuzz.yaml', text }], defaultNamespace: 'default' });
  const findings = runAnalysis(input);
  for (const f of findings) {
    expect(typeof f.message).toBe('string');
    expect(f.message.length).toBeGreaterThan(0);
  }
  return findings.length;
}

/** A real config cut at a random point, with a few characters replaced by YAML punctuation. */
const mangled = fc
  .record({
    sample: fc.constantFrom(...samples),
    cut: fc.double({ min: 0, max: 1, noNaN: true }),
    edits: fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), ch: fc.constantFrom(...YAML_CHARS) }), {
      maxLength: 4,
    }),
  })
  .map(({ sample, cut, edits }) => {
    let text = sample.slice(0, Math.floor(sample.length * cut));
    for (const e of edits) {
      const i = Math.floor(text.length * e.at);
      text = text.slice(0, i) + e.ch + text.slice(i + 1);
    }
    return text;
  });

describe('analyze never crashes', () => {
  it('on random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => void analyzeText(text)),
      { numRuns: 300 },
    );
  });

  it('on truncated and mutated real configurations', () => {
    fc.assert(
      fc.property(mangled, (text) => void analyzeText(text)),
      { numRuns: 400 },
    );
  });

  it('on random objects of every mesh kind', () => {
    const kinds = MESH_KINDS.map((k) => ({ apiVersion: `${k.group}/${k.versions[0]}`, kind: k.kind }));
    const object = fc.record({
      k: fc.constantFrom(...kinds),
      metadata: fc.oneof(fc.constant({ name: 'x', namespace: 'y' }), fc.anything()),
      spec: fc.anything({ maxDepth: 4, withNullPrototype: false }),
    });
    fc.assert(
      fc.property(object, ({ k, metadata, spec }) => {
        const r = validateResource({ object: { ...k, metadata, spec } });
        expect(Array.isArray(r.errors)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('through the CLI: exit 0 or 79, a one-line error, no stack trace', async () => {
    await fc.assert(
      fc.asyncProperty(mangled, async (text) => {
        const r = await runCli(['analyze', '-f', '-'], { stdin: text });
        expect([0, 79]).toContain(r.code);
        expect(r.stderr).not.toMatch(/\n\s+at |unexpected error/);
      }),
      { numRuns: 30 },
    );
  });
});
