/**
 * Where the test cluster's binaries live and whether they are there. They are built from the pinned Go
 * module in test/test-cluster/k8s-binaries/ by test/test-cluster/build.sh (`npm run cluster:build`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Requirement } from '../../support/requirements.js';

/** test/test-cluster/ in this checkout. */
export const clusterDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The checkout's root (where bin/meshctl and node_modules are). */
export const checkoutDir = resolve(clusterDir, '..', '..');

/** The pinned versions, from test/test-cluster/versions.env (shared with build.sh). */
export const versions: { kubernetes: string; etcd: string; coredns: string } = (() => {
  const text = readFileSync(join(clusterDir, 'versions.env'), 'utf8');
  const get = (key: string): string => {
    const m = new RegExp(`^${key}=(\\S+)`, 'm').exec(text);
    if (!m?.[1]) throw new Error(`test/test-cluster/versions.env has no ${key}=`);
    return m[1];
  };
  return { kubernetes: get('KUBERNETES_VERSION'), etcd: get('ETCD_VERSION'), coredns: get('COREDNS_VERSION') };
})();

/** The binaries a cluster needs, by name. */
export const binaryNames = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kube-proxy',
  'coredns',
] as const;
/** One of the cluster's binaries. */
export type BinaryName = (typeof binaryNames)[number];

/** The directory build.sh writes to (same rule as the script). */
export function binaryDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MESHCTL_K8S_BIN_DIR) return env.MESHCTL_K8S_BIN_DIR;
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'meshctl', `kubernetes-${versions.kubernetes}`);
}

/** Absolute path of one binary. */
export function binaryPath(name: BinaryName): string {
  return join(binaryDir(), name);
}

/** Whether a complete build is present (build.sh writes `.complete` last; a binary added to the list is missing). */
export function binariesPresent(): boolean {
  return existsSync(join(binaryDir(), '.complete')) && binaryNames.every((n) => existsSync(binaryPath(n)));
}

/** Suites that need the cluster declare this with describeRequiring. */
export const kubernetesTestBinaries: Requirement = {
  name: 'kubernetes test binaries',
  met: binariesPresent,
  howToMeet: `build them once with \`npm run cluster:build\` (Go needed; they go to ${binaryDir()})`,
};
