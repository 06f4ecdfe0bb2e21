/**
 * The four Istio HTTP series (requests, duration, request bytes, response bytes), kept outside
 * prom-client: recording a request is one map hit and a few array increments, and the series are
 * rendered into the Prometheus text at scrape time. (prom-client's label validation and hashing
 * per observation cost more than the rest of the telemetry together under load.)
 */

const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000];

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
  readonly duration = new Histo(DURATION_BUCKETS);
  readonly requestBytes = new Histo(SIZE_BUCKETS);
  readonly responseBytes = new Histo(SIZE_BUCKETS);
  constructor(readonly labelText: string) {}
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Formats a label set as `k="v",...` (Prometheus text). */
export function formatLabels(labels: Readonly<Record<string, string>>, order: readonly string[]): string {
  return order.map((k) => `${k}="${escape(labels[k] ?? '')}"`).join(',');
}

/** All HTTP series of a proxy. */
export class HttpSeriesSet {
  private readonly series = new Map<string, HttpSeries>();

  get(key: string, makeLabelText: () => string): HttpSeries {
    let s = this.series.get(key);
    if (!s) {
      s = new HttpSeries(makeLabelText());
      this.series.set(key, s);
    }
    return s;
  }

  /** The Prometheus text of every series. */
  render(): string {
    if (this.series.size === 0) return '';
    const out: string[] = [];
    out.push('# HELP istio_requests_total Requests handled, by source, destination and response', '# TYPE istio_requests_total counter');
    for (const s of this.series.values()) out.push(`istio_requests_total{${s.labelText}} ${s.requests}`);
    const histo = (name: string, help: string, pick: (s: HttpSeries) => Histo) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const s of this.series.values()) {
        const h = pick(s);
        let cum = 0;
        h.bounds.forEach((b, i) => {
          cum += h.counts[i]!;
          out.push(`${name}_bucket{${s.labelText},le="${b}"} ${cum}`);
        });
        out.push(`${name}_bucket{${s.labelText},le="+Inf"} ${h.count}`, `${name}_sum{${s.labelText}} ${h.sum}`, `${name}_count{${s.labelText}} ${h.count}`);
      }
    };
    histo('istio_request_duration_milliseconds', 'Request duration', (s) => s.duration);
    histo('istio_request_bytes', 'Request body sizes', (s) => s.requestBytes);
    histo('istio_response_bytes', 'Response body sizes', (s) => s.responseBytes);
    return out.join('\n') + '\n';
  }
}
