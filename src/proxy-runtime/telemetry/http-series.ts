/**
 * The four Istio HTTP series (requests, duration, request bytes, response bytes), kept outside
 * prom-client: recording a request is one map hit and a few array increments, and the series are
 * rendered into the Prometheus text at scrape time. (prom-client's label validation and hashing
 * per observation cost more than the rest of the telemetry together under load.)
 */

/**
 * Envoy's default histogram buckets, which Istio's stats use for all three histograms (duration in
 * milliseconds, sizes in bytes): `histogram_quantile` over Istio dashboards gives the same answers here.
 */
export const ISTIO_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

class Histo {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/** One label combination. */
export class HttpSeries {
  requests = 0;
  readonly duration = new Histo(ISTIO_BUCKETS);
  readonly requestBytes = new Histo(ISTIO_BUCKETS);
  readonly responseBytes = new Histo(ISTIO_BUCKETS);
  constructor(readonly labelText: string) {}
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Formats a label set as `k="v",...` (Prometheus text). */
export function formatLabels(labels: Readonly<Record<string, string>>, order: readonly string[]): string {
  return order.map((k) => `${k}="${escape(labels[k] ?? '')}"`).join(',');
}

/** How many lookup keys are remembered before the cache starts over (the series themselves stay). */
const KEY_CACHE_LIMIT = 10_000;

/**
 * All HTTP series of a proxy: exactly one per label set for the life of the process. Lookup keys
 * (which include facts that change without changing the labels, like the config version) only
 * find a series; two keys giving the same labels share it, so a config swap never starts a
 * second `istio_requests_total` line with the same labels (Prometheus refuses such a scrape) and
 * never resets a counter.
 */
export class HttpSeriesSet {
  private readonly byKey = new Map<string, HttpSeries>();
  private readonly byLabels = new Map<string, HttpSeries>();

  /** The series of `key`; on a miss, of the label text `makeLabelText` returns (made once per label set). */
  get(key: string, makeLabelText: () => string): HttpSeries {
    let s = this.byKey.get(key);
    if (!s) {
      const text = makeLabelText();
      s = this.byLabels.get(text);
      if (!s) {
        s = new HttpSeries(text);
        this.byLabels.set(text, s);
      }
      if (this.byKey.size >= KEY_CACHE_LIMIT) this.byKey.clear();
      this.byKey.set(key, s);
    }
    return s;
  }

  /** How many distinct label sets have been recorded. */
  get size(): number {
    return this.byLabels.size;
  }

  /** The Prometheus text of every series. */
  render(): string {
    if (this.byLabels.size === 0) return '';
    const out: string[] = [];
    out.push(
      '# HELP istio_requests_total Requests handled, by source, destination and response',
      '# TYPE istio_requests_total counter',
    );
    for (const s of this.byLabels.values()) out.push(`istio_requests_total{${s.labelText}} ${s.requests}`);
    const histo = (name: string, help: string, pick: (s: HttpSeries) => Histo) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const s of this.byLabels.values()) {
        const h = pick(s);
        let cum = 0;
        h.bounds.forEach((b, i) => {
          cum += h.counts[i]!;
          out.push(`${name}_bucket{${s.labelText},le="${b}"} ${cum}`);
        });
        out.push(
          `${name}_bucket{${s.labelText},le="+Inf"} ${h.count}`,
          `${name}_sum{${s.labelText}} ${h.sum}`,
          `${name}_count{${s.labelText}} ${h.count}`,
        );
      }
    };
    histo('istio_request_duration_milliseconds', 'Request duration', (s) => s.duration);
    histo('istio_request_bytes', 'Request body sizes', (s) => s.requestBytes);
    histo('istio_response_bytes', 'Response body sizes', (s) => s.responseBytes);
    return out.join('\n') + '\n';
  }
}
