#!/usr/bin/env node
// Regenerates src/protocol/proxy-config/shape-check.generated.ts from the proxy config schema (run through
// `npm run proxy-config:generate`, which builds dist/ first).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { shapeCheckSource } = await import(join(root, 'dist/protocol/proxy-config/shape-check-source.js'));
const file = join(root, 'src/protocol/proxy-config/shape-check.generated.ts');
writeFileSync(file, shapeCheckSource());
console.log(`wrote ${file}`);
