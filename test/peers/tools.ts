/**
 * The peer tools built by test/peers/build.sh (h2spec, grpc-go's interop server and client, and
 * Kubernetes' YAML reader), found where the script puts them: the same hash of the pinned
 * go.mod/go.sum files names the cache directory.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Requirement } from '../support/requirements.js';

const here = resolve('test/peers');

/** The cache directory of the tools built from the pins in this tree. */
export function peerToolsDir(): string {
  if (process.env.MESHCTL_PEERS_BIN_DIR) return process.env.MESHCTL_PEERS_BIN_DIR;
  const dirs = readdirSync(join(here, 'go')).sort();
  // The script hashes `cat go/*/go.mod go/*/go.sum go/k8syaml/main.go` (shell glob order: sorted).
  const files = [
    ...dirs.map((d) => join(here, 'go', d, 'go.mod')),
    ...dirs.map((d) => join(here, 'go', d, 'go.sum')),
    join(here, 'go', 'k8syaml', 'main.go'),
  ];
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'meshctl', `peers-${h.digest('hex').slice(0, 12)}`);
}

/** The path of one tool. */
export function peerTool(name: 'h2spec' | 'grpc-interop-server' | 'grpc-interop-client' | 'k8s-yaml2json'): string {
  return join(peerToolsDir(), name);
}

/** The tools are built. */
export const peerTools: Requirement = {
  name: 'the peer tools (h2spec, grpc-go interop, sigs.k8s.io/yaml)',
  met: () => existsSync(join(peerToolsDir(), '.complete')),
  howToMeet: 'build them with bash test/peers/build.sh (Go needed; CI runs it from .ci/prepare.d/40-peer-tools.sh)',
};

/** Waits until a `meshctl run` workload of the local mesh at `home` is an endpoint (its app accepts). */
export async function waitServing(home: string, name: string): Promise<void> {
  const { LocalPlatform } = await import('../../src/cluster/local/platform.js');
  for (let i = 0; i < 600; i++) {
    const w = (await new LocalPlatform(home).listWorkloads()).find((x) => x.name === name);
    if (w && w.serving !== false) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} never became an endpoint`);
}
