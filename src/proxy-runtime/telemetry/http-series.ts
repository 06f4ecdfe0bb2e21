/**
 * The Istio series (requests, duration, request and response bytes, and the four TCP counters),
 * kept outside any metric library: recording a request is one map hit and a few array increments,
 * and the series are rendered into the Prometheus text at scrape time. (prom-client's label
 * validation and hashing per observation cost more than the rest of the telemetry together under load.)
 */
import type { MetricsSettingsConfig } from '../../protocol/proxy-config/index.js';
import { MetricPlans, type IstioMetric, type SideExpressions, type Side } from './metric-plans.js';

/**
 * Envoy's default histogram buckets, which Istio's stats use for all three histograms (duration in
 * milliseconds, sizes in bytes): `histogram_quantile` over Istio dashboards gives the same answers here.
 */
export const ISTIO_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** A histogram with fixed bucket bounds. */
export class Histo {
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

/** A counter's value. */
export class Count {
  value = 0;
}

/** One series of one metric: its label text, and under which plan (per side) it was last made. */
interface Entry<T> {
  readonly labelText: string;
  readonly value: T;
  /** the plan key each side last made this series under (undefined: that side never did) */
  client: string | undefined;
  server: string | undefined;
}

/** One Istio metric: exactly one series per label text. */
class Family<T> {
  readonly byLabels = new Map<string, Entry<T>>();
  constructor(
    readonly metric: IstioMetric,
    readonly name: string,
    readonly help: string,
    readonly make: () => T,
  ) {}

  /** The series of `labelText`, marked as made under `plan` on `side`. */
  get(labelText: string, side: Side, planKey: string): T {
    let e = this.byLabels.get(labelText);
    if (!e) {
      e = { labelText, value: this.make(), client: undefined, server: undefined };
      this.byLabels.set(labelText, e);
    }
    if (side === 'CLIENT') e.client = planKey;
    else e.server = planKey;
    return e.value;
  }
}

/** The series one request is counted in (undefined: that metric is disabled on its side). */
export interface HttpSeries {
  readonly requests: Count | undefined;
  readonly duration: Histo | undefined;
  readonly requestBytes: Histo | undefined;
  readonly responseBytes: Histo | undefined;
}

/** The series one TCP connection is counted in (undefined: disabled on its side). */
export interface TcpSeries {
  readonly opened: Count | undefined;
  readonly closed: Count | undefined;
  readonly sent: Count | undefined;
  readonly received: Count | undefined;
}

/** How many lookup keys are remembered before the cache starts over (the series themselves stay). */
const KEY_CACHE_LIMIT = 10_000;

const count = () => new Count();
const histo = () => new Histo(ISTIO_BUCKETS);

/**
 * All Istio series of a proxy (the four HTTP and four TCP metrics): exactly one per metric and
 * label set for the life of the process. Lookup keys (which include facts that change without
 * changing the labels, like the config version) only find a series; two keys giving the same
 * labels share it, so a config swap never starts a second `istio_requests_total` line with the same
 * labels (Prometheus refuses such a scrape) and never resets a counter. A Telemetry override that
 * changes a metric's labels hides the series made under the previous labels (they stay, so
 * changing back continues them) and a disabled metric is not rendered.
 */
export class IstioSeriesSet {
  private readonly byKey = new Map<string, HttpSeries>();
  private readonly tcpByKey = new Map<string, TcpSeries>();
  private readonly requests = new Family(
    'REQUEST_COUNT',
    'istio_requests_total',
    'Requests handled, by source, destination and response',
    count,
  );
  private readonly duration = new Family(
    'REQUEST_DURATION',
    'istio_request_duration_milliseconds',
    'Request duration',
    histo,
  );
  private readonly requestBytes = new Family('REQUEST_SIZE', 'istio_request_bytes', 'Request body sizes', histo);
  private readonly responseBytes = new Family('RESPONSE_SIZE', 'istio_response_bytes', 'Response body sizes', histo);
  private readonly tcpOpened = new Family(
    'TCP_OPENED_CONNECTIONS',
    'istio_tcp_connections_opened_total',
    'TCP connections opened',
    count,
  );
  private readonly tcpClosed = new Family(
    'TCP_CLOSED_CONNECTIONS',
    'istio_tcp_connections_closed_total',
    'TCP connections closed',
    count,
  );
  private readonly tcpSent = new Family(
    'TCP_SENT_BYTES',
    'istio_tcp_sent_bytes_total',
    'Bytes sent to the downstream on TCP connections',
    count,
  );
  private readonly tcpReceived = new Family(
    'TCP_RECEIVED_BYTES',
    'istio_tcp_received_bytes_total',
    'Bytes received from the downstream on TCP connections',
    count,
  );
  private plans: MetricPlans;
  private plansText = '';
  /** bumped when the plans change: part of every lookup key, so no key made under old plans is reused */
  generation = 0;

  constructor(
    private readonly httpLabels: readonly string[],
    private readonly tcpLabels: readonly string[],
  ) {
    this.plans = new MetricPlans(undefined, httpLabels, tcpLabels);
  }

  /** Applies a config's metrics settings (expressions already validated); no-op when unchanged. */
  configure(cfg: MetricsSettingsConfig | undefined): void {
    const text = cfg === undefined ? '' : JSON.stringify(cfg);
    if (text === this.plansText) return;
    this.plans = new MetricPlans(cfg, this.httpLabels, this.tcpLabels);
    this.plansText = text;
    this.generation++;
    this.byKey.clear();
    this.tcpByKey.clear();
  }

  /** The expressions HTTP (or TCP) series read on `side` (evaluated by the caller, once per request). */
  expressions(side: Side, kind: 'http' | 'tcp'): SideExpressions {
    return this.plans.expressions(side, kind);
  }

  /** The HTTP series of `key` (which must include `generation` and the expression values); built once per key. */
  http(
    key: string,
    side: Side,
    standard: () => Readonly<Record<string, string>>,
    values: readonly (string | undefined)[],
  ): HttpSeries {
    return this.cached(this.byKey, key, side, standard, values, (pick) => ({
      requests: pick(this.requests),
      duration: pick(this.duration),
      requestBytes: pick(this.requestBytes),
      responseBytes: pick(this.responseBytes),
    }));
  }

  /** The TCP series of `key` (as for http()). */
  tcp(
    key: string,
    side: Side,
    standard: () => Readonly<Record<string, string>>,
    values: readonly (string | undefined)[],
  ): TcpSeries {
    return this.cached(this.tcpByKey, key, side, standard, values, (pick) => ({
      opened: pick(this.tcpOpened),
      closed: pick(this.tcpClosed),
      sent: pick(this.tcpSent),
      received: pick(this.tcpReceived),
    }));
  }

  /** The series of `key` from `cache`, built on a miss with each family's plan for `side` (none when disabled). */
  private cached<S>(
    cache: Map<string, S>,
    key: string,
    side: Side,
    standard: () => Readonly<Record<string, string>>,
    values: readonly (string | undefined)[],
    build: (pick: <T>(f: Family<T>) => T | undefined) => S,
  ): S {
    let s = cache.get(key);
    if (!s) {
      const labels = standard();
      s = build((f) => {
        const plan = this.plans.plan(f.metric, side);
        return plan.disabled ? undefined : f.get(plan.format(labels, values), side, plan.key);
      });
      if (cache.size >= KEY_CACHE_LIMIT) cache.clear();
      cache.set(key, s);
    }
    return s;
  }

  /** How many distinct HTTP label sets have been recorded (requests). */
  get size(): number {
    return this.requests.byLabels.size;
  }

  /** The entries of `f` the current plans show: made under the current plan of a side where the metric is on. */
  private *visible<T>(f: Family<T>): Generator<Entry<T>> {
    const client = this.plans.plan(f.metric, 'CLIENT');
    const server = this.plans.plan(f.metric, 'SERVER');
    for (const e of f.byLabels.values()) {
      if ((!client.disabled && e.client === client.key) || (!server.disabled && e.server === server.key)) yield e;
    }
  }

  /** The Prometheus text of every shown series. */
  render(): string {
    const out: string[] = [];
    const counter = (f: Family<Count>) => {
      let head = false;
      for (const e of this.visible(f)) {
        if (!head) out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} counter`);
        head = true;
        out.push(`${f.name}{${e.labelText}} ${e.value.value}`);
      }
    };
    const histogram = (f: Family<Histo>) => {
      let head = false;
      for (const e of this.visible(f)) {
        if (!head) out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} histogram`);
        head = true;
        const h = e.value;
        const sep = e.labelText ? ',' : '';
        let cum = 0;
        h.bounds.forEach((b, i) => {
          cum += h.counts[i]!;
          out.push(`${f.name}_bucket{${e.labelText}${sep}le="${b}"} ${cum}`);
        });
        out.push(
          `${f.name}_bucket{${e.labelText}${sep}le="+Inf"} ${h.count}`,
          `${f.name}_sum{${e.labelText}} ${h.sum}`,
          `${f.name}_count{${e.labelText}} ${h.count}`,
        );
      }
    };
    counter(this.requests);
    histogram(this.duration);
    histogram(this.requestBytes);
    histogram(this.responseBytes);
    counter(this.tcpSent);
    counter(this.tcpReceived);
    counter(this.tcpOpened);
    counter(this.tcpClosed);
    return out.length ? out.join('\n') + '\n' : '';
  }
}
