/**
 * Suites that need something the machine may lack (root for network namespaces, the Kubernetes
 * binaries, iptables) declare it here. Without it they skip LOUDLY, saying why and how to get it;
 * with MESHCTL_TEST_REQUIRE_ALL=1 (CI) a missing requirement is a failing test instead, so nothing
 * is silently skipped where it must run.
 */
import { describe, it } from 'vitest';

/** Something a suite needs: a name, whether it is met, and how to meet it. */
export interface Requirement {
  name: string;
  met: () => boolean;
  howToMeet: string;
}

/** Whether missing requirements must fail instead of skipping. */
export const requireAll = process.env.MESHCTL_TEST_REQUIRE_ALL === '1';

/** `describe`, run only when every requirement is met; otherwise a loud skip, or a failure in CI. */
export function describeRequiring(requirements: readonly Requirement[], name: string, body: () => void): void {
  const missing = requirements.filter((r) => !r.met());
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const why = missing.map((r) => `${r.name} (${r.howToMeet})`).join('; ');
  if (requireAll) {
    describe(name, () => {
      it('has what it needs to run', () => {
        throw new Error(`MESHCTL_TEST_REQUIRE_ALL=1 but this suite cannot run: missing ${why}`);
      });
    });
    return;
  }
  process.stderr.write(`\n!!! SKIPPED "${name}": missing ${why}\n\n`);
  // The one justified skip: the suite cannot run here, and the line above says so.
  describe.skip(name, body);
}

/** The current process runs as root (needed for network namespaces and iptables). */
export const isRoot: Requirement = {
  name: 'root',
  met: () => process.getuid?.() === 0,
  howToMeet: 'run the tests as root, e.g. sudo npm test',
};
