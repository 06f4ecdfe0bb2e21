/**
 * Test programs that run inside network namespaces (as other users) cannot be vitest workers:
 * they are separate node processes. Their TypeScript is bundled with esbuild into
 * node_modules/.cache/meshctl-netns/, where packages (koffi, ...) resolve from the checkout.
 */
import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const OUT_DIR = join(ROOT, 'node_modules', '.cache', 'meshctl-netns');
const built = new Map<string, Promise<string>>();

/** Bundles a fixture (path relative to test/netns/fixtures/) and returns the .mjs to run with node. */
export function fixture(name: string): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      await mkdir(OUT_DIR, { recursive: true, mode: 0o755 });
      const outfile = join(OUT_DIR, `${basename(name, '.ts')}-${process.pid}.mjs`);
      await build({
        entryPoints: [join(ROOT, 'test', 'netns', 'fixtures', name)],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        packages: 'external',
        logLevel: 'error',
      });
      return outfile;
    })();
    built.set(name, p);
  }
  return p;
}

/** The node binary running the tests (the pinned Node 24), for processes started in namespaces. */
export const NODE = process.execPath;
