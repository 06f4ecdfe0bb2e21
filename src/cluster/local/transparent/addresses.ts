/**
 * Address leases of `meshctl run --transparent`, in one JSON file under the mesh home, read and
 * written only under a lock file, so concurrent runs never get the same address:
 *
 * - the mesh's network: one /24 of 198.19.0.0/17 for workloads (the bridge holds .1, the gateway)
 *   and the matching /24 of 198.19.128.0/17 for service VIPs, chosen once per mesh home among
 *   those no address or route of the machine uses, so two mesh homes on one machine do not clash;
 * - one lease per running workload (its namespace, veth, address, and the pid of the run that owns
 *   it, with that process's start time, so a crashed run's lease is recognised as stale);
 * - one VIP per service, kept for good (clients' hosts files name it).
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CaptureError } from '../../../errors.js';

/** One running transparent workload. */
export interface WorkloadLease {
  readonly name: string;
  readonly namespace: string;
  /** The network namespace (`ip netns`) and the host end of its veth. */
  readonly netns: string;
  readonly veth: string;
  readonly ipv4: string;
  /** Its ULA IPv6 address (fd00:198:19:N::x), absent where the machine has no IPv6. */
  ipv6?: string;
  /** The `meshctl run` process that owns the lease, and when it started (see processStartTime). */
  readonly pid: number;
  readonly processStart?: string;
  /** Token, root CA and control-plane socket handed to the sidecar. */
  readonly runtimeDir: string;
}

/** The lease file's content. */
export interface Leases {
  /** Third octet of the workload /24 (198.19.N.0/24); VIPs are in 198.19.(N+128).0/24. */
  network?: number;
  workloads: WorkloadLease[];
  /** `name.namespace` -> VIP. */
  services: Record<string, string>;
}

/** The network derived from the lease file. */
export interface MeshNetwork {
  readonly bridge: string;
  readonly gateway: string;
  readonly prefixLength: 24;
  /** The bridge's IPv6 (ULA) address in fd00:198:19:N::/64, the workloads' IPv6 gateway. */
  readonly gateway6: string;
  /** Prefix of every namespace and veth name of this mesh home. */
  readonly namePrefix: string;
}

/** A short, stable tag of the mesh home, so names of different homes never collide. */
export function homeTag(home: string): string {
  return createHash('sha256').update(home).digest('hex').slice(0, 6);
}

/** Names and the gateway of the network whose third octet is `third`. */
export function meshNetwork(home: string, third: number): MeshNetwork {
  const tag = homeTag(home);
  return {
    bridge: `mesh-${tag}`,
    gateway: `198.19.${third}.1`,
    prefixLength: 24,
    gateway6: `${ipv6Prefix(third)}1`,
    namePrefix: `msh${tag}`,
  };
}

/** `fd00:198:19:N::`, the ULA /64 of the mesh network N (only ULA: nothing is routed outside the machine). */
export function ipv6Prefix(third: number): string {
  return `fd00:198:19:${third}::`;
}

function dir(home: string): string {
  return join(home, 'transparent');
}

async function readLeases(file: string): Promise<Leases> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Leases>;
    return {
      ...(parsed.network !== undefined ? { network: parsed.network } : {}),
      workloads: parsed.workloads ?? [],
      services: parsed.services ?? {},
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { workloads: [], services: {} };
    throw new CaptureError(
      `the lease file ${file} is unreadable: ${(err as Error).message}`,
      `remove it (no transparent workload may be running) and run again`,
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock file (O_EXCL with the holder's pid; a dead holder's lock is taken over). */
async function lock(file: string, timeoutMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      await rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new CaptureError(
        `the lease file lock ${file} is held by pid ${holder}`,
        'wait for that meshctl run to finish starting, or remove the lock file if no such process exists',
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Runs `fn` with the leases under the lock; what `fn` leaves in the object is written back
 * (atomically) before the lock is released.
 */
export async function withLeases<T>(home: string, fn: (leases: Leases) => Promise<T>): Promise<T> {
  await mkdir(dir(home), { recursive: true, mode: 0o700 });
  const file = join(dir(home), 'leases.json');
  const release = await lock(join(dir(home), 'leases.lock'), 15_000);
  try {
    const leases = await readLeases(file);
    const before = JSON.stringify(leases);
    const result = await fn(leases);
    if (JSON.stringify(leases) !== before) {
      // Written aside and renamed: a crash mid-write leaves the old file, never half a file.
      await writeFile(`${file}.tmp`, JSON.stringify(leases, null, 2) + '\n', { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    }
    return result;
  } finally {
    await release();
  }
}

/**
 * The third octet of the mesh network: the one recorded, else the first N in 0..127 for which
 * neither 198.19.N.0/24 nor 198.19.(N+128).0/24 appears in `inUse` (the machine's addresses and
 * routes as `ip` prints them), starting from a value derived from the home.
 */
export function chooseNetwork(leases: Leases, home: string, inUse: string): number {
  if (leases.network !== undefined) return leases.network;
  const used = new Set<number>();
  for (const m of inUse.matchAll(/198\.19\.(\d+)\.\d+/g)) used.add(Number(m[1]) % 128);
  const start = parseInt(homeTag(home), 16) % 128;
  for (let i = 0; i < 128; i++) {
    const n = (start + i) % 128;
    if (!used.has(n)) {
      leases.network = n;
      return n;
    }
  }
  throw new CaptureError(
    'no free /24 left in 198.19.0.0/17 for the local mesh network',
    'remove unused bridges or routes in 198.19.0.0/16',
  );
}

/** A free workload address (198.19.N.2-254, and fd00:198:19:N::same) and a free namespace/veth index. */
export function allocateWorkload(leases: Leases, network: number): { ipv4: string; ipv6: string; index: number } {
  const taken = new Set(leases.workloads.map((w) => w.ipv4));
  for (let host = 2; host < 255; host++) {
    const ipv4 = `198.19.${network}.${host}`;
    if (!taken.has(ipv4)) return { ipv4, ipv6: `${ipv6Prefix(network)}${host}`, index: host };
  }
  throw new CaptureError(`all 253 addresses of 198.19.${network}.0/24 are leased`, 'stop some transparent workloads');
}

/** The VIP of a service, allocated on first use and kept. */
export function serviceVip(leases: Leases, network: number, service: string, namespace: string): string {
  const key = `${service}.${namespace}`;
  const existing = leases.services[key];
  if (existing) return existing;
  const taken = new Set(Object.values(leases.services));
  for (let host = 1; host < 255; host++) {
    const vip = `198.19.${network + 128}.${host}`;
    if (!taken.has(vip)) {
      leases.services[key] = vip;
      return vip;
    }
  }
  throw new CaptureError(
    `all 254 service VIPs of 198.19.${network + 128}.0/24 are allocated`,
    'edit transparent/leases.json under the mesh home to drop services no longer used',
  );
}

/** The hosts file of a workload namespace: localhost, then every service VIP by its names. */
export function hostsFile(leases: Leases, namespace: string, hostname: string, ipv4: string): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${ipv4}\t${hostname}`];
  for (const [key, vip] of Object.entries(leases.services).sort()) {
    const [name, ns] = [key.slice(0, key.lastIndexOf('.')), key.slice(key.lastIndexOf('.') + 1)];
    const fqdn = `${name}.${ns}.svc.cluster.local`;
    lines.push(
      `${vip}\t${[...(ns === namespace ? [name] : []), `${name}.${ns}`, `${name}.${ns}.svc`, fqdn].join(' ')}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Rewrites a hosts file in place: `ip netns exec` bind-mounts the file, so a rename would not be seen. */
export async function rewriteInPlace(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o644 });
}
