// Copies the non-TypeScript files the compiled code loads at run time into dist/, so the npm
// package and the container image (which ship dist/, not src/) are complete.
import { cpSync } from 'node:fs';

for (const file of ['protocol/mesh.proto']) cpSync(`src/${file}`, `dist/${file}`);
