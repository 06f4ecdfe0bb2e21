/**
 * Per-pod network namespaces, as a bridge CNI plugin would make them: a veth pair from the cluster's
 * bridge (in the node's namespace, where the agent runs) to `eth0` in the pod's namespace, an address from
 * the node's /24, a default route to the bridge; and the pod's resolv.conf in /etc/netns/<namespace>/, which
 * `ip netns exec` (how every container starts) bind-mounts over /etc/resolv.conf.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { PodNetwork } from '../harness/network.js';

const run = promisify(execFile);

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (e) {
    const err = e as { stderr?: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? String(e)).trim()}`);
  }
}

/** One pod's network sandbox. */
export interface PodSandbox {
  netns: string;
  ip: string;
}

/** Hands out addresses and builds/removes sandboxes for one node. */
export class PodNetworker {
  private readonly used = new Set<number>();
  private vethCounter = 0;
  private readonly base: string;

  readonly net: PodNetwork;

  constructor(net: PodNetwork) {
    this.net = net;
    this.base = net.gateway.split('.').slice(0, 3).join('.');
  }

  /** The namespace name of a pod (stable: derived from its UID, so helpers can find it too). */
  netnsName(podUid: string): string {
    return `${this.net.netnsPrefix}${podUid.slice(0, 13)}`;
  }

  /** Creates the pod's namespace, veth, address and resolv.conf. */
  async create(podUid: string, resolvConf: string): Promise<PodSandbox> {
    let host = 2;
    while (this.used.has(host) && host < 255) host++;
    if (host >= 255) throw new Error(`pod network ${this.net.subnet} is full`);
    this.used.add(host);
    const netns = this.netnsName(podUid);
    const veth = `${this.net.vethPrefix}${(this.vethCounter++).toString(16)}`;
    const addr = `${this.base}.${host}`;
    try {
      await ip(['netns', 'add', netns]);
      await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      await ip(['link', 'set', veth, 'master', this.net.bridge]);
      await ip(['link', 'set', veth, 'up']);
      await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', netns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', netns, 'route', 'add', 'default', 'via', this.net.gateway]);
      mkdirSync(`/etc/netns/${netns}`, { recursive: true, mode: 0o755 });
      writeFileSync(`/etc/netns/${netns}/resolv.conf`, resolvConf, { mode: 0o644 });
    } catch (e) {
      await this.remove({ netns, ip: addr });
      throw e;
    }
    return { netns, ip: addr };
  }

  /** Removes the namespace (its veth goes with it) and resolv.conf, and frees the address. */
  async remove(sandbox: PodSandbox): Promise<void> {
    await ip(['netns', 'del', sandbox.netns]).catch(() => {});
    rmSync(`/etc/netns/${sandbox.netns}`, { recursive: true, force: true });
    this.used.delete(Number(sandbox.ip.split('.')[3]));
  }
}
