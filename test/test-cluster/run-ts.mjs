// Runs one of the test cluster's TypeScript entry points with plain Node 24 (type stripping, no build step).
// Node strips types but does not map the project's `./x.js` import specifiers to `./x.ts` sources; the
// resolve hook below does that one thing. Usage: node test/test-cluster/run-ts.mjs <file.ts> [args...]
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

module.registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.endsWith('.js') && (specifier.startsWith('./') || specifier.startsWith('../')) && context.parentURL?.startsWith('file:')) {
      const asTs = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
      if (!existsSync(fileURLToPath(new URL(specifier, context.parentURL))) && existsSync(fileURLToPath(asTs))) {
        return nextResolve(asTs.href, context);
      }
    }
    return nextResolve(specifier, context);
  },
});

const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node test/test-cluster/run-ts.mjs <file.ts> [args...]\n');
  process.exit(64);
}
process.argv = [process.argv[0], resolve(entry), ...rest];
await import(pathToFileURL(resolve(entry)).href);
