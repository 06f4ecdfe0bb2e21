#!/usr/bin/env node
// Regenerates templates/crds/ from the schemas in src/config (run through `npm run crds:generate`,
// which builds dist/ first). Removes CRD files no kind generates any more.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { generateCrdFiles } = await import(join(root, 'dist/config/index.js'));
const dir = join(root, 'templates/crds');
mkdirSync(dir, { recursive: true });
const files = generateCrdFiles();
const wanted = new Set(files.map((f) => f.fileName));
for (const name of readdirSync(dir)) if (name.endsWith('.yaml') && !wanted.has(name)) rmSync(join(dir, name));
for (const f of files) writeFileSync(join(dir, f.fileName), f.yaml);
console.log(`wrote ${files.length} CRDs to templates/crds/`);

// The README's "Supported configuration" tables come from the same schemas: refresh them in place,
// between the generated markers of the config section (nothing else in the README is touched).
const { supportTables } = await import(join(root, 'dist/config/index.js'));
const readmePath = join(root, 'README.md');
const { readFileSync } = await import('node:fs');
const readme = readFileSync(readmePath, 'utf8');
const marked = /(<!-- generated:support-tables -->\n)[\s\S]*?(<!-- \/generated:support-tables -->)/;
if (marked.test(readme)) {
  writeFileSync(
    readmePath,
    readme.replace(marked, (_m, open, close) => `${open}${supportTables()}${close}`),
  );
  console.log('refreshed the support tables in README.md');
} else {
  console.log('README.md has no generated:support-tables markers; tables not written');
}
