/**
 * DNS in the proxy, as Envoy does it for ServiceEntry `resolution: DNS` (STRICT_DNS) and
 * `DNS_ROUND_ROBIN` (LOGICAL_DNS) with Istio's respect_dns_ttl: a name is resolved with the
 * resolver's A and AAAA queries (c-ares, the servers of /etc/resolv.conf unless set), its addresses
 * are kept for the smallest TTL of the answer, and the name is resolved again when that runs out.
 * A failed re-resolution keeps the last good addresses (as Envoy keeps its hosts). Names the DNS
 * servers do not know (an /etc/hosts entry such as `localhost`) fall back to the system resolver,
 * kept for a short while. Dials use it through net's `lookup` hook, so the socket is still returned
 * at once; strict mode spreads new connections over every address, logical mode takes the first.
 */
import { lookup as systemLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

/** How the addresses of a name are used: every one (strict), or the first of the answer (logical). */
export type DnsMode = 'strict' | 'logical';

/** How long an answer from the system resolver (no TTL) is kept. */
const SYSTEM_TTL_MS = 5_000;

interface Entry {
  addresses: { address: string; family: 4 | 6 }[];
  expiresAt: number;
  /** the resolution under way, shared by every dial waiting for it */
  pending: Promise<void> | undefined;
  /** the next address strict mode hands out */
  next: number;
}

/** The net.connect `lookup` hook's signature. */
export type LookupHook = (
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/** Names resolved by this process's proxy, with their TTLs. */
export class DnsCache {
  private resolver = new Resolver({ timeout: 2_000, tries: 2 });
  private readonly entries = new Map<string, Entry>();
  private readonly hooks: Record<DnsMode, LookupHook>;
  /** resolutions sent (A and AAAA together count as one), for the admin stats */
  resolutions = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.hooks = { strict: this.hook('strict'), logical: this.hook('logical') };
  }

  /** Resolves through these servers (`host` or `host:port`, IPv6 in brackets) instead of /etc/resolv.conf's. */
  setServers(servers: readonly string[]): void {
    this.resolver = new Resolver({ timeout: 2_000, tries: 2 });
    this.resolver.setServers([...servers]);
    this.entries.clear();
  }

  /** The `lookup` hook for dials in `mode`. */
  lookupHook(mode: DnsMode): LookupHook {
    return this.hooks[mode];
  }

  /**
   * Whether a connection to `address` may still carry requests for `name`: false once a fresh
   * answer no longer lists it, so kept-alive connections follow the record when it changes.
   */
  stillServes(name: string, address: string | undefined): boolean {
    const key = name.toLowerCase();
    const e = this.entries.get(key);
    if (!e || address === undefined || e.addresses.length === 0) return true;
    // The TTL ran out: resolve again in the background; this reuse is judged on the answer at hand,
    // the next ones on the fresh one.
    if (this.now() >= e.expiresAt && !e.pending)
      e.pending = this.refresh(key, e)
        .catch(() => undefined)
        .finally(() => (e.pending = undefined));
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    return e.addresses.some((a) => a.address === plain);
  }

  /** The addresses of `name`, resolving when there are none or their TTL ran out. */
  async addresses(name: string): Promise<Entry['addresses']> {
    const key = name.toLowerCase();
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { addresses: [], expiresAt: 0, pending: undefined, next: 0 }));
    if (this.now() >= e.expiresAt || e.addresses.length === 0) {
      e.pending ??= this.refresh(key, e).finally(() => (e!.pending = undefined));
      await e.pending;
    }
    return e.addresses;
  }

  private async refresh(name: string, e: Entry): Promise<void> {
    this.resolutions++;
    const [v4, v6] = await Promise.allSettled([
      this.resolver.resolve4(name, { ttl: true }),
      this.resolver.resolve6(name, { ttl: true }),
    ]);
    const records = [
      ...(v4.status === 'fulfilled' ? v4.value.map((r) => ({ ...r, family: 4 as const })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((r) => ({ ...r, family: 6 as const })) : []),
    ];
    if (records.length > 0) {
      e.addresses = records.map((r) => ({ address: r.address, family: r.family }));
      e.expiresAt = this.now() + Math.min(...records.map((r) => r.ttl)) * 1000;
      return;
    }
    const unknown = [v4, v6].every(
      (r) =>
        r.status === 'rejected' && ['ENOTFOUND', 'ENODATA'].includes((r.reason as NodeJS.ErrnoException).code ?? ''),
    );
    if (e.addresses.length > 0 && !unknown) {
      // The servers did not answer: keep the last good addresses, try again on the next dial a second later.
      e.expiresAt = this.now() + 1_000;
      return;
    }
    const system = await new Promise<LookupAddress[]>((resolve) =>
      systemLookup(name, { all: true }, (err, list) => resolve(err ? [] : list)),
    );
    e.addresses = system.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
    e.expiresAt = this.now() + SYSTEM_TTL_MS;
  }

  private hook(mode: DnsMode): LookupHook {
    return (hostname, options, callback) => {
      if (isIP(hostname)) {
        const family = isIP(hostname);
        return options.all ? callback(null, [{ address: hostname, family }]) : callback(null, hostname, family);
      }
      this.addresses(hostname).then(
        (list) => {
          const e = this.entries.get(hostname.toLowerCase());
          if (list.length === 0 || !e) {
            const err: NodeJS.ErrnoException = new Error(`DNS: no address for ${hostname}`);
            err.code = 'ENOTFOUND';
            return callback(err, options.all ? [] : '');
          }
          const i = mode === 'logical' ? 0 : e.next++ % list.length;
          const pick = list[i]!;
          // One address per dial: the balancing is ours, not happy eyeballs'.
          if (options.all) callback(null, [{ address: pick.address, family: pick.family }]);
          else callback(null, pick.address, pick.family);
        },
        (err: NodeJS.ErrnoException) => callback(err, options.all ? [] : ''),
      );
    };
  }
}

/** The proxy process's DNS cache: one per process, as the resolver configuration is. */
export const proxyDns = new DnsCache();
