/** The package version, read once from package.json (the single source of truth for releases). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** meshctl's own version, e.g. `0.1.0`. */
export function meshctlVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}

/** The default proxy image for this version. */
export function defaultProxyImage(): string {
  return `ghcr.io/meshctl/meshctl:${meshctlVersion()}`;
}
