/**
 * The cluster suites' requirement: missing binaries are reported with the command that builds them.
 * (describeRequiring turns this into a loud skip, or a failure under MESHCTL_TEST_REQUIRE_ALL=1.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { binaryDir, kubernetesTestBinaries, versions } from './harness/binaries.js';

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

  it('looks for the pinned version under ~/.cache/meshctl by default', () => {
    delete process.env.MESHCTL_K8S_BIN_DIR;
    expect(binaryDir({})).toMatch(new RegExp(`/meshctl/kubernetes-${versions.kubernetes.replace(/\./g, '\\.')}$`));
    expect(versions.kubernetes).toMatch(/^v1\.34\.\d+$/);
  });
});
