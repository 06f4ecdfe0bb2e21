/**
 * Extracts the complete YAML documents of the seed text: fenced ```yaml blocks split on `---`;
 * pieces without both apiVersion and kind at the top level are excerpts (a lone `weight: 50`), not documents.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One complete document of the seed, with the line it starts on in the seed file. */
export interface SeedDocument {
  readonly text: string;
  readonly line: number;
}

/** The checked-in copy of the seed (CI must not depend on ../shared). */
export const SEED_FILE = fileURLToPath(new URL('../fixtures/config/seed/000_b53d9350814edc02.txt', import.meta.url));

/** Every complete YAML document of the seed, in order. */
export function seedDocuments(text = readFileSync(SEED_FILE, 'utf8')): SeedDocument[] {
  const lines = text.split('\n');
  const out: SeedDocument[] = [];
  let inYaml = false;
  let piece: string[] = [];
  let pieceStart = 0;
  const flush = () => {
    const body = piece.join('\n');
    if (/^apiVersion:/m.test(body) && /^kind:/m.test(body)) out.push({ text: body + '\n', line: pieceStart + 1 });
    piece = [];
  };
  lines.forEach((line, i) => {
    if (!inYaml) {
      if (/^```ya?ml\s*$/.test(line)) {
        inYaml = true;
        piece = [];
        pieceStart = i + 1;
      }
      return;
    }
    if (/^```\s*$/.test(line)) {
      flush();
      inYaml = false;
    } else if (/^---\s*$/.test(line)) {
      flush();
      pieceStart = i + 1;
    } else piece.push(line);
  });
  return out;
}
