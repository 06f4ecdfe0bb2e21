/** What the capture tests need from the machine, as requirements for describeRequiring. */
import { execFileSync } from 'node:child_process';
import { isRoot, type Requirement } from '../../support/requirements.js';

function runs(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** iptables and ip6tables (with -save/-restore) are installed. */
export const hasIptables: Requirement = {
  name: 'iptables',
  met: () =>
    runs('iptables', ['--version']) &&
    runs('ip6tables', ['--version']) &&
    runs('iptables-save', ['--version']) &&
    runs('ip6tables-restore', ['--version']),
  howToMeet: 'apt-get install -y iptables',
};

/** iproute2's `ip netns` and util-linux's setpriv (to run a process as another user inside a namespace). */
export const hasNetnsTools: Requirement = {
  name: 'ip netns and setpriv',
  met: () => runs('ip', ['netns', 'list']) && runs('setpriv', ['--version']),
  howToMeet: 'apt-get install -y iproute2 util-linux',
};

/** curl, the unmodified client of the end-to-end tests. */
export const hasCurl: Requirement = {
  name: 'curl',
  met: () => runs('curl', ['--version']),
  howToMeet: 'apt-get install -y curl',
};

/** Everything a network-namespace capture suite needs. */
export const netnsRequirements: readonly Requirement[] = [isRoot, hasIptables, hasNetnsTools];
