/**
 * The network of `meshctl run --transparent`, made with iproute2: a bridge per mesh home holding
 * the gateway address, and per workload a named network namespace (`ip netns`) whose `eth0` is
 * one end of a veth pair plugged into the bridge, plus its `/etc/netns/<ns>/hosts` (which
 * `ip netns exec` mounts over /etc/hosts). Every step fails with the command and iproute2's
 * message; removal is idempotent, so it serves both a normal stop and the sweep of a crashed run.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CaptureError } from '../../../errors.js';
import type { MeshNetwork, WorkloadLease } from './addresses.js';

/** Runs `ip` with `args`; throws CaptureError naming the command and iproute2's message. */
export async function ip(args: readonly string[]): Promise<string> {
  const r = await execa('ip', args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0)
    throw new CaptureError(
      `ip ${args.join(' ')} failed: ${String(r.stderr).trim() || `exit ${String(r.exitCode)}`}`,
      'check that iproute2 works here (ip netns list) and that no other tool removed the mesh bridge meanwhile',
    );
  return String(r.stdout);
}

async function quietly(args: readonly string[]): Promise<void> {
  await execa('ip', args, { reject: false, stdin: 'ignore' });
}

/** The machine's IPv4 addresses and routes as `ip` prints them (to pick a free /24). */
export async function addressesAndRoutes(): Promise<string> {
  return (await ip(['-4', '-o', 'addr', 'show'])) + (await ip(['-4', 'route', 'show', 'table', 'all']));
}

/**
 * Creates the mesh bridge with its gateway addresses, unless it exists. Resolves with whether it
 * has its IPv6 gateway: not where the kernel has no IPv6 (the workloads are then IPv4-only).
 */
export async function ensureBridge(net: MeshNetwork): Promise<boolean> {
  const exists = (await execa('ip', ['link', 'show', net.bridge], { reject: false })).exitCode === 0;
  if (!exists) await ip(['link', 'add', net.bridge, 'type', 'bridge']);
  const addrs = await ip(['-o', 'addr', 'show', 'dev', net.bridge]);
  if (!addrs.includes(`${net.gateway}/`))
    await ip(['addr', 'add', `${net.gateway}/${net.prefixLength}`, 'dev', net.bridge]);
  let ipv6 = addrs.includes(`${net.gateway6}/`);
  if (!ipv6 && existsSync(`/proc/sys/net/ipv6/conf/${net.bridge}/disable_ipv6`)) {
    // A machine that turned IPv6 off by default (sysctl) would leave the bridge without it.
    await writeFile(`/proc/sys/net/ipv6/conf/${net.bridge}/disable_ipv6`, '0').catch(() => undefined);
    ipv6 =
      (await execa('ip', ['-6', 'addr', 'add', `${net.gateway6}/64`, 'dev', net.bridge, 'nodad'], { reject: false }))
        .exitCode === 0;
  }
  await ip(['link', 'set', net.bridge, 'up']);
  return ipv6;
}

/** Removes the mesh bridge (when no workload is left on it). */
export async function removeBridge(net: MeshNetwork): Promise<void> {
  await quietly(['link', 'del', net.bridge]);
}

/** Where `ip netns exec` finds the namespace's hosts file. */
export function hostsPath(netns: string): string {
  return join('/etc/netns', netns, 'hosts');
}

/** Creates the workload's namespace, its veth on the bridge, its address, default route and hosts file. */
export async function createWorkloadNetns(net: MeshNetwork, lease: WorkloadLease, hosts: string): Promise<void> {
  await mkdir(join('/etc/netns', lease.netns), { recursive: true, mode: 0o755 });
  await writeFile(hostsPath(lease.netns), hosts, { mode: 0o644 });
  await ip(['netns', 'add', lease.netns]);
  await ip(['-n', lease.netns, 'link', 'set', 'lo', 'up']);
  // Made on the host with its peer created straight inside the namespace as eth0. Its MAC follows
  // from its address: a workload given the address of one that just stopped is found at once by
  // neighbours still caching the old entry (the host's, the bridge's, other workloads').
  await ip([
    'link',
    'add',
    lease.veth,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'address',
    macFor(lease.ipv4),
    'netns',
    lease.netns,
  ]);
  await quietly(['neigh', 'flush', 'to', lease.ipv4]);
  await ip(['link', 'set', lease.veth, 'master', net.bridge, 'up']);
  await ip(['-n', lease.netns, 'addr', 'add', `${lease.ipv4}/${net.prefixLength}`, 'dev', 'eth0']);
  await ip(['-n', lease.netns, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', lease.netns, 'route', 'add', 'default', 'via', net.gateway]);
  if (lease.ipv6) {
    await quietly(['-6', 'neigh', 'flush', 'to', lease.ipv6]);
    const v6 = [
      ['-n', lease.netns, '-6', 'addr', 'add', `${lease.ipv6}/64`, 'dev', 'eth0', 'nodad'],
      ['-n', lease.netns, '-6', 'route', 'add', 'default', 'via', net.gateway6],
    ];
    for (const args of v6) {
      // IPv6 is a bonus: a namespace where it cannot be set up stays IPv4-only.
      if ((await execa('ip', args, { reject: false })).exitCode !== 0) {
        delete lease.ipv6;
        break;
      }
    }
  }
}

/** The locally administered MAC of a workload address: 02:00 then the four octets of the IPv4 address. */
export function macFor(ipv4: string): string {
  return ['02', '00', ...ipv4.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** Whether a named network namespace exists. */
export async function netnsExists(netns: string): Promise<boolean> {
  const out = await ip(['netns', 'list']);
  return out.split('\n').some((l) => l.split(' ')[0] === netns);
}

/**
 * Removes everything of a workload: processes still in its namespace (a crashed run's sidecar and
 * app), the namespace (its iptables rules and eth0 go with it, and so the host's veth end), the
 * veth if it outlived it, the hosts file and the sidecar's runtime directory.
 */
export async function removeWorkloadNetns(lease: WorkloadLease): Promise<void> {
  if (await netnsExists(lease.netns)) {
    const pids = (await execa('ip', ['netns', 'pids', lease.netns], { reject: false })).stdout;
    for (const pid of String(pids).split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    await quietly(['netns', 'del', lease.netns]);
  }
  await quietly(['link', 'del', lease.veth]);
  await rm(join('/etc/netns', lease.netns), { recursive: true, force: true });
  await rm(lease.runtimeDir, { recursive: true, force: true });
}
