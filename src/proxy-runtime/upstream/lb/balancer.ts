/**
 * Load balancers (Istio LoadBalancerSettings): ROUND_ROBIN (weighted), LEAST_REQUEST with the
 * power of two choices (LEAST_CONN is its alias, as in Istio), RANDOM (weighted), and consistent
 * hashing on a ring (header, cookie, query parameter, source IP). PASSTHROUGH is not a balancer:
 * an originalDst cluster has exactly one endpoint per request, the original destination.
 */
import type { LoadBalancerConfig } from '../../../protocol/proxy-config/index.js';
import type { Endpoint } from '../../ground/endpoint.js';

/** Picks an endpoint among `candidates` (non-empty); `hashKey` feeds consistent hashing. */
export interface Balancer {
  pick(candidates: readonly Endpoint[], hashKey: string | undefined): Endpoint;
}

function totalWeight(eps: readonly Endpoint[]): number {
  let t = 0;
  for (const e of eps) t += e.weight;
  return t;
}

function weightedAt(eps: readonly Endpoint[], point: number): Endpoint {
  for (const e of eps) {
    point -= e.weight;
    if (point < 0) return e;
  }
  return eps[eps.length - 1]!;
}

function uniformWeights(eps: readonly Endpoint[]): boolean {
  const w = eps[0]!.weight;
  for (const e of eps) if (e.weight !== w) return false;
  return true;
}

/** Weighted round robin: a counter walked over cumulative weights. */
export class RoundRobin implements Balancer {
  private next = 0;
  pick(c: readonly Endpoint[]): Endpoint {
    const n = this.next++;
    if (this.next > 1e9) this.next = 0;
    if (uniformWeights(c)) return c[n % c.length]!;
    return weightedAt(c, n % totalWeight(c));
  }
}

/** Weighted random. */
export class RandomPick implements Balancer {
  pick(c: readonly Endpoint[]): Endpoint {
    if (uniformWeights(c)) return c[Math.floor(Math.random() * c.length)]!;
    return weightedAt(c, Math.random() * totalWeight(c));
  }
}

/** Power of two choices on active requests (weights scale the comparison). */
export class LeastRequest implements Balancer {
  pick(c: readonly Endpoint[]): Endpoint {
    if (c.length === 1) return c[0]!;
    const a = c[Math.floor(Math.random() * c.length)]!;
    let b = c[Math.floor(Math.random() * (c.length - 1))]!;
    if (b === a) b = c[c.length - 1]!;
    return a.health.activeRequests / a.weight <= b.health.activeRequests / b.weight ? a : b;
  }
}

/** FNV-1a 32-bit, then a murmur finaliser for spread: cheap and good enough for a hash ring. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const RING_POINTS_PER_WEIGHT_UNIT = 64;

/** Ring hash: each endpoint owns points on a ring in proportion to its weight; a key maps to the next point. */
export class RingHash implements Balancer {
  private ringFor: readonly Endpoint[] | undefined;
  private points: Uint32Array = new Uint32Array(0);
  private owners: Endpoint[] = [];
  private readonly fallback = new RandomPick();

  pick(c: readonly Endpoint[], hashKey: string | undefined): Endpoint {
    if (hashKey === undefined) return this.fallback.pick(c);
    if (this.ringFor !== c) this.build(c);
    const h = hash32(hashKey);
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === this.points.length ? 0 : lo]!;
  }

  private build(c: readonly Endpoint[]): void {
    const minW = Math.min(...c.map((e) => e.weight));
    const entries: [number, Endpoint][] = [];
    for (const e of c) {
      const n = Math.max(1, Math.round((e.weight / minW) * RING_POINTS_PER_WEIGHT_UNIT));
      for (let i = 0; i < n; i++) entries.push([hash32(`${e.key}_${i}`), e]);
    }
    entries.sort((x, y) => x[0] - y[0]);
    this.points = Uint32Array.from(entries.map((x) => x[0]));
    this.owners = entries.map((x) => x[1]);
    this.ringFor = c;
  }
}

/** Makes the balancer a cluster's config asks for. */
export function makeBalancer(cfg: LoadBalancerConfig | undefined): Balancer {
  if (cfg?.consistentHash) return new RingHash();
  switch (cfg?.simple) {
    case 'LEAST_REQUEST':
    case 'LEAST_CONN':
      return new LeastRequest();
    case 'RANDOM':
      return new RandomPick();
    default:
      return new RoundRobin();
  }
}
