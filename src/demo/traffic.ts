/**
 * The demo's traffic and what it observes: requests to productpage through a sidecar's HTTP_PROXY
 * listener (as curl with HTTP_PROXY would send them), counted by the reviews version named in each
 * answer, and the same counts from the reviews sidecars' `istio_requests_total` (reporter
 * destination), so the demo shows what the mesh's own telemetry says and checks the two agree.
 */
import { request } from 'node:http';
import type { DemoAnswer } from './app.js';
import { DEMO_SERVICE_PORT, REVIEWS_VERSIONS, type ReviewsVersion } from './scenario.js';

/** Per reviews version, how many requests it answered. */
export type VersionCounts = Record<ReviewsVersion, number>;

/** What one batch of traffic saw. */
export interface TrafficResult {
  readonly sent: number;
  readonly counts: VersionCounts;
  /** Requests that failed (status other than 200, or no reviews answer), with one sample reason. */
  readonly failed: number;
  readonly failure?: string;
}

const emptyCounts = (): VersionCounts => ({ v1: 0, v2: 0, v3: 0 });

/** One request to productpage through the proxy at 127.0.0.1:`proxyPort`; a new connection each time, as curl makes. */
export function productpageRequest(
  proxyPort: number,
  user: string | undefined,
  timeoutMs = 10_000,
): Promise<{ status: number; answer?: DemoAnswer; error?: string }> {
  const url = `http://productpage:${DEMO_SERVICE_PORT}/productpage`;
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        path: url,
        agent: false,
        timeout: timeoutMs,
        headers: { host: `productpage:${DEMO_SERVICE_PORT}`, ...(user ? { 'end-user': user } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, answer: JSON.parse(body) as DemoAnswer });
          } catch {
            resolve({ status: res.statusCode ?? 0, error: body.slice(0, 200) });
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
    req.end();
  });
}

/** The reviews version in a productpage answer (productpage -> reviews), if reviews answered. */
export function reviewsVersionOf(answer: DemoAnswer | undefined): ReviewsVersion | undefined {
  const v = answer?.calls.find((c) => c.target.startsWith('reviews:'))?.answer?.version;
  return (REVIEWS_VERSIONS as readonly string[]).includes(v ?? '') ? (v as ReviewsVersion) : undefined;
}

/** Sends `count` requests, `concurrency` at a time, and counts the reviews versions that answered. */
export async function sendTraffic(
  proxyPort: number,
  count: number,
  opts: { user?: string; concurrency?: number } = {},
): Promise<TrafficResult> {
  const counts = emptyCounts();
  let failed = 0;
  let failure: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const r = await productpageRequest(proxyPort, opts.user);
      const v = reviewsVersionOf(r.answer);
      const bad = r.answer?.calls.find((c) => c.status !== 200 || c.answer?.calls.some((cc) => cc.status !== 200));
      if (r.status === 200 && v && !bad) counts[v]++;
      else {
        failed++;
        failure ??=
          r.error ??
          (bad
            ? `${bad.target} answered ${bad.status}${bad.error ? ` (${bad.error})` : ''}`
            : `productpage answered ${r.status}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 8, count) }, worker));
  return { sent: count, counts, failed, ...(failure ? { failure } : {}) };
}

/** Sums `istio_requests_total` samples of a Prometheus exposition whose labels match `where`. */
export function sumRequests(exposition: string, where: Record<string, string>): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith('istio_requests_total{')) continue;
    const end = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(0, end).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    if (Object.entries(where).every(([k, v]) => labels[k] === v)) total += Number(line.slice(end + 1).trim());
  }
  return total;
}

/** Requests productpage sent to each reviews version, as the reviews sidecars count them. */
export async function reviewsMetrics(
  adminPorts: Readonly<Record<ReviewsVersion, number>>,
  sourceWorkload: string,
): Promise<VersionCounts> {
  const counts = emptyCounts();
  for (const v of REVIEWS_VERSIONS) {
    const res = await fetch(`http://127.0.0.1:${adminPorts[v]}/stats/prometheus`);
    if (!res.ok) throw new Error(`the reviews-${v} sidecar answered ${res.status} for /stats/prometheus`);
    counts[v] = sumRequests(await res.text(), {
      reporter: 'destination',
      source_workload: sourceWorkload,
      destination_version: v,
    });
  }
  return counts;
}

/** `after - before`, per version. */
export function difference(after: VersionCounts, before: VersionCounts): VersionCounts {
  return { v1: after.v1 - before.v1, v2: after.v2 - before.v2, v3: after.v3 - before.v3 };
}
