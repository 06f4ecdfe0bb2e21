/**
 * The proxy's own labelled counters and gauges, rendered in the Prometheus text format. The
 * sidecar has a handful of them, set a few times per connection or config change; prom-client
 * (with the OpenTelemetry API it pulls in) cost ~20 MB of RSS in every sidecar for that.
 */

/** One labelled value. */
export interface MetricChild {
  inc(v?: number): void;
  dec(v?: number): void;
  set(v: number): void;
}

/** The JSON form of a metric (the shape prom-client's getMetricsAsJSON gave, which /stats?format=json keeps). */
export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: { value: number; labels: Record<string, string> }[];
}

class Child implements MetricChild {
  value = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly counter: boolean,
  ) {}

  inc(v = 1): void {
    this.value += v;
  }

  dec(v = 1): void {
    if (this.counter) throw new Error('a counter only goes up');
    this.value -= v;
  }

  set(v: number): void {
    if (this.counter) throw new Error('a counter is not set');
    this.value = v;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A counter or gauge with a fixed list of label names. */
export class Metric {
  private readonly children = new Map<string, Child>();
  /** runs before rendering (a gauge read from elsewhere) */
  collect: (() => void) | undefined;

  constructor(
    readonly type: 'counter' | 'gauge',
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  /** The child of these label values (by name, or positional in labelNames order). */
  labels(...values: [Record<string, string>] | string[]): MetricChild {
    const byName: Record<string, string> = {};
    if (typeof values[0] === 'object') {
      const given = values[0];
      for (const n of this.labelNames) byName[n] = given[n] ?? '';
    } else {
      this.labelNames.forEach((n, i) => (byName[n] = (values[i] as string | undefined) ?? ''));
    }
    let key = '';
    for (const n of this.labelNames) key += byName[n] + '\u0001';
    let c = this.children.get(key);
    if (!c) {
      c = new Child(byName, this.type === 'counter');
      this.children.set(key, c);
    }
    return c;
  }

  /** Sets the unlabelled value. */
  set(v: number): void {
    this.labels().set(v);
  }

  /** Forgets every child. */
  reset(): void {
    this.children.clear();
  }

  /** The Prometheus text of this metric. */
  render(): string {
    this.collect?.();
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const c of this.children.values()) {
      const labels = this.labelNames.map((n) => `${n}="${escapeLabel(c.labels[n] ?? '')}"`).join(',');
      out += `${this.name}${labels ? `{${labels}}` : ''} ${c.value}\n`;
    }
    return out;
  }

  json(): MetricJson {
    this.collect?.();
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: [...this.children.values()].map((c) => ({ value: c.value, labels: { ...c.labels } })),
    };
  }
}

/** The metrics of one proxy, in registration order. */
export class MetricRegistry {
  private readonly all: Metric[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.add(new Metric('counter', name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.add(new Metric('gauge', name, help, labelNames));
  }

  private add(m: Metric): Metric {
    this.all.push(m);
    return m;
  }

  /** Prometheus text of every metric. */
  metrics(): string {
    return this.all.map((m) => m.render()).join('');
  }

  /** Every metric as JSON (/stats?format=json). */
  getMetricsAsJSON(): MetricJson[] {
    return this.all.map((m) => m.json());
  }
}
