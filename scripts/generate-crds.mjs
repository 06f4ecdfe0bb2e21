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
