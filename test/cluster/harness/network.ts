/**
 * The cluster's pod network on the host: one Linux bridge per cluster (`mtc-<id>`) holding the gateway
 * address of a /24 inside 198.18.0.0/17, chosen so that it collides with no address or route already on
 * the host (other clusters, other suites' namespaces). The node agent attaches each pod's veth to it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The pod network of one cluster. */
export interface PodNetwork {
  /** Bridge interface name (`mtc-<id>`). */
  bridge: string;
  /** Pod subnet, e.g. 198.18.97.0/24. */
  subnet: string;
  /** The bridge's (host's) address in the subnet, the pods' default gateway. */
  gateway: string;
  /** Prefix of every network namespace and veth this cluster creates. */
  netnsPrefix: string;
  vethPrefix: string;
}

/** Service ClusterIPs: allocated by the API server, routed nowhere (there is no kube-proxy). */
export const serviceCidr = '198.18.128.0/17';

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const lockDir = '/tmp/mtc-network.lock';

async function withNetworkLock<T>(fn: () => T): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      // A lock older than 30 s belongs to a process that died mid-allocation.
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > 30_000) rmdirSync(lockDir);
      } catch {
        /* released meanwhile */
      }
      await sleep(50);
    }
  }
  try {
    return fn();
  } finally {
    rmdirSync(lockDir);
  }
}

/** Creates the bridge of cluster `id` on a free /24. */
export async function createPodNetwork(id: string): Promise<PodNetwork> {
  return withNetworkLock(() => {
    const used = new Set<number>();
    const text = ip(['-4', '-o', 'addr', 'show']) + ip(['-4', 'route', 'show', 'table', 'all']);
    for (const m of text.matchAll(/198\.18\.(\d+)\.\d+/g)) used.add(Number(m[1]));
    const candidates = Array.from({ length: 64 }, (_, i) => 64 + i).filter((n) => !used.has(n));
    const third = candidates[Math.floor(Math.random() * candidates.length)];
    if (third === undefined) throw new Error('no free /24 left in 198.18.64.0/18 for a test cluster pod network');
    const net: PodNetwork = {
      bridge: `mtc-${id}`,
      subnet: `198.18.${third}.0/24`,
      gateway: `198.18.${third}.1`,
      netnsPrefix: `mtc-${id}-`,
      vethPrefix: `mtc${id}`,
    };
    ip(['link', 'add', net.bridge, 'type', 'bridge']);
    try {
      ip(['addr', 'add', `${net.gateway}/24`, 'dev', net.bridge]);
      ip(['link', 'set', net.bridge, 'up']);
    } catch (e) {
      ip(['link', 'del', net.bridge]);
      throw e;
    }
    return net;
  });
}

/** Names of network namespaces starting with `prefix`. */
export function listNetns(prefix: string): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/** Removes every namespace, veth and the bridge of a cluster (idempotent; used after the agent stops). */
export function removePodNetwork(net: Pick<PodNetwork, 'bridge' | 'netnsPrefix' | 'vethPrefix'>): void {
  for (const ns of listNetns(net.netnsPrefix)) {
    // Processes left in a namespace (a node agent that was killed) would keep it alive: end them first.
    try {
      for (const pid of ip(['netns', 'pids', ns]).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    } catch {
      /* namespace gone meanwhile */
    }
    try {
      ip(['netns', 'del', ns]);
    } catch {
      /* gone meanwhile */
    }
  }
  const links = ip(['-o', 'link', 'show'])
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n === net.bridge || n.startsWith(net.vethPrefix));
  for (const link of links) {
    try {
      ip(['link', 'del', link]);
    } catch {
      /* a veth goes with its peer */
    }
  }
}
