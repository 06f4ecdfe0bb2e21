/**
 * The cluster's node and pod network. The node is a network namespace of its own (`mtc-<id>-node`), so that
 * its kube-proxy rules, NodePorts, LoadBalancer addresses and DNS server touch neither the host's netfilter
 * tables nor another cluster's (every cluster has the same service CIDR): a veth pair links it to the host
 * on a /24 of its own (host `.1`, where the API server listens; node `.2`, the node's InternalIP; `.10`-`.250`
 * LoadBalancer addresses), and a bridge in it (`mtc-<id>`) holds the gateway of the pod /24, which the host
 * routes via the node. Both /24s are in 198.18.64.0/18, chosen (under a lock) to collide with no address or
 * route already on the host (other clusters, other suites' namespaces).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
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
  /** The node's network namespace (kube-proxy, the node agent, CoreDNS run in it). */
  nodeNetns: string;
  /** The node's address (InternalIP) on its link to the host. */
  nodeIP: string;
  /** The host's address on that link: the API server listens there. */
  hostIP: string;
  /** The link's /24; `<prefix>.10`-`<prefix>.250` are LoadBalancer addresses. */
  linkSubnet: string;
  /**
   * Whether bridged pod-to-pod packets pass the node's iptables (br_netfilter), as kube-proxy expects on a
   * bridge: without it a Service reply from a pod on the same bridge skips the un-DNAT, so kube-proxy must
   * masquerade all Service traffic instead (the server then sees the node's address, not the client's).
   */
  bridgeNetfilter: boolean;
}

/**
 * Service ClusterIPs, handled by the node's kube-proxy (the same range in every cluster: each node is its own
 * network namespace). `.1` is the `kubernetes` Service, `.10` the cluster DNS (as kubeadm does).
 */
export const serviceCidr = '198.18.128.0/17';
/** The kube-dns Service's ClusterIP, where pods send DNS queries. */
export const clusterDnsIP = '198.18.128.10';
/** The cluster's DNS domain. */
export const clusterDomain = 'cluster.local';

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

/** Creates the node namespace of cluster `id`, its link to the host and its pod bridge, on two free /24s. */
export async function createPodNetwork(id: string): Promise<PodNetwork> {
  return withNetworkLock(() => {
    const used = new Set<number>();
    const text = ip(['-4', '-o', 'addr', 'show']) + ip(['-4', 'route', 'show', 'table', 'all']);
    for (const m of text.matchAll(/198\.18\.(\d+)\.\d+/g)) used.add(Number(m[1]));
    const candidates = Array.from({ length: 64 }, (_, i) => 64 + i).filter((n) => !used.has(n));
    const pick = (): number => {
      const i = Math.floor(Math.random() * candidates.length);
      const n = candidates.splice(i, 1)[0];
      if (n === undefined) throw new Error('no free /24 left in 198.18.64.0/18 for a test cluster network');
      return n;
    };
    const pods = pick();
    const link = pick();
    const net: PodNetwork = {
      bridge: `mtc-${id}`,
      subnet: `198.18.${pods}.0/24`,
      gateway: `198.18.${pods}.1`,
      netnsPrefix: `mtc-${id}-`,
      vethPrefix: `mtc${id}`,
      nodeNetns: `mtc-${id}-node`,
      nodeIP: `198.18.${link}.2`,
      hostIP: `198.18.${link}.1`,
      linkSubnet: `198.18.${link}.0/24`,
      bridgeNetfilter: false,
    };
    const hostVeth = `${net.vethPrefix}h`;
    const inNode = (args: string[]): string => ip(['-n', net.nodeNetns, ...args]);
    ip(['netns', 'add', net.nodeNetns]);
    try {
      ip(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.nodeNetns]);
      ip(['addr', 'add', `${net.hostIP}/24`, 'dev', hostVeth]);
      ip(['link', 'set', hostVeth, 'up']);
      inNode(['link', 'set', 'lo', 'up']);
      inNode(['addr', 'add', `${net.nodeIP}/24`, 'dev', 'eth0']);
      inNode(['link', 'set', 'eth0', 'up']);
      inNode(['route', 'add', 'default', 'via', net.hostIP]);
      inNode(['link', 'add', net.bridge, 'type', 'bridge']);
      inNode(['addr', 'add', `${net.gateway}/24`, 'dev', net.bridge]);
      inNode(['link', 'set', net.bridge, 'up']);
      // A node routes between its pods, the host and Services (a fresh namespace does not forward).
      const sysctl = (setting: string): void =>
        void execFileSync('ip', ['netns', 'exec', net.nodeNetns, 'sysctl', '-qw', setting], { stdio: 'pipe' });
      sysctl('net.ipv4.ip_forward=1');
      try {
        if (!existsSync('/proc/sys/net/bridge')) execFileSync('modprobe', ['br_netfilter'], { stdio: 'pipe' });
        sysctl('net.bridge.bridge-nf-call-iptables=1');
        net.bridgeNetfilter = true;
      } catch {
        /* no br_netfilter on this kernel: kube-proxy masquerades all Service traffic (see bridgeNetfilter) */
      }
      ip(['route', 'add', net.subnet, 'via', net.nodeIP, 'dev', hostVeth]);
    } catch (e) {
      removePodNetwork(net);
      throw e;
    }
    return net;
  });
}

/** argv that runs a program in the node's network namespace only (the host's mounts stay visible). */
export function inNodeNetns(net: Pick<PodNetwork, 'nodeNetns'>, argv: readonly string[]): string[] {
  return ['nsenter', `--net=/run/netns/${net.nodeNetns}`, '--', ...argv];
}

/** Names of network namespaces starting with `prefix`. */
export function listNetns(prefix: string): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/** Removes every namespace (the node's with its bridge), veth and pod resolv.conf of a cluster (idempotent). */
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
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
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
