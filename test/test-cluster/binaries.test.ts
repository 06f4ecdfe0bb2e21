/**
 * The cluster suites' requirement: missing binaries are reported with the command that builds them.
 * (describeRequiring turns this into a loud skip, or a failure under MESHCTL_TEST_REQUIRE_ALL=1.)
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { binaryDir, binaryNames, clusterDir, kubernetesTestBinaries, versions } from './harness/binaries.js';

/** A binary directory holding (empty) executables named `names` and a `.complete` stamp with `stamp`. */
function fakeBuild(names: readonly string[], stamp: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtc-bin-'));
  for (const n of names) {
    writeFileSync(join(dir, n), '');
    chmodSync(join(dir, n), 0o755);
  }
  writeFileSync(join(dir, '.complete'), stamp);
  return dir;
}

describe('kubernetes test binaries requirement', () => {
  const saved = process.env.MESHCTL_K8S_BIN_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.MESHCTL_K8S_BIN_DIR;
    else process.env.MESHCTL_K8S_BIN_DIR = saved;
  });

  it('is unmet when the binary directory is empty, and says to run npm run cluster:build', () => {
    const empty = mkdtempSync(join(tmpdir(), 'mtc-nobin-'));
    try {
      process.env.MESHCTL_K8S_BIN_DIR = empty;
      expect(kubernetesTestBinaries.met()).toBe(false);
      expect(kubernetesTestBinaries.howToMeet).toContain('npm run cluster:build');
    } finally {
      rmSync(empty, { recursive: true });
    }
  });

  it('is unmet by a build from before kube-proxy and CoreDNS were added (a date-only stamp)', () => {
    const dir = fakeBuild(
      ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'],
      '2026-12-04T19:26:42Z\n',
    );
    try {
      process.env.MESHCTL_K8S_BIN_DIR = dir;
      expect(kubernetesTestBinaries.met()).toBe(false);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('build.sh keeps a complete build whose stamp names every binary at its pinned version', () => {
    const stamp = binaryNames.map(
      (n) => `${n} ${n === 'etcd' ? versions.etcd : n === 'coredns' ? versions.coredns : versions.kubernetes}`,
    );
    const dir = fakeBuild(binaryNames, stamp.join('\n') + '\n');
    try {
      process.env.MESHCTL_K8S_BIN_DIR = dir;
      expect(kubernetesTestBinaries.met()).toBe(true);
      const out = execFileSync('bash', [join(clusterDir, 'build.sh')], {
        env: { ...process.env, MESHCTL_K8S_BIN_DIR: dir },
        encoding: 'utf8',
      });
      expect(out).toBe(`kubernetes ${versions.kubernetes} binaries already built in ${dir}\n`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('pins CoreDNS in its Go module at the version versions.env names', () => {
    const goMod = readFileSync(join(clusterDir, 'coredns', 'go.mod'), 'utf8');
    expect(goMod).toMatch(
      new RegExp(`^require github\\.com/coredns/coredns ${versions.coredns.replace(/\./g, '\\.')}$`, 'm'),
    );
  });

  it('looks for the pinned version under ~/.cache/meshctl by default', () => {
    delete process.env.MESHCTL_K8S_BIN_DIR;
    expect(binaryDir({})).toMatch(new RegExp(`/meshctl/kubernetes-${versions.kubernetes.replace(/\./g, '\\.')}$`));
    expect(versions.kubernetes).toMatch(/^v1\.34\.\d+$/);
  });
});
