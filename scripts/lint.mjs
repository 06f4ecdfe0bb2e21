#!/usr/bin/env node
/**
 * `npm run lint`: the types (tsc over src, test and bench), the import rules of the house
 * (dependency-cruiser, .dependency-cruiser.cjs) and the formatting (prettier, width 120). Runs all
 * three whatever fails first, so one run shows every problem; exits 1 when any failed.
 */
import { spawnSync } from 'node:child_process';

const checks = ['lint:types', 'lint:imports', 'lint:format'];
const failed = [];
for (const check of checks) {
  process.stdout.write(`\n> ${check}\n`);
  const r = spawnSync('npm', ['run', '--silent', check], { stdio: 'inherit' });
  if (r.status !== 0) failed.push(check);
}
process.stdout.write(
  failed.length ? `\nlint failed: ${failed.join(', ')}\n` : '\nlint: types, imports and formatting are clean\n',
);
process.exit(failed.length ? 1 : 0);
