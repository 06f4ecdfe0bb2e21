/**
 * Which labels each Istio metric carries on each side, after the Telemetry kind's metrics overrides
 * (which the control plane has already merged across scopes, per metric and side, as Istio merges
 * them): a disabled metric is not produced, a removed tag is left out, an upserted tag replaces a
 * standard label's value or is added after them, its value a CEL expression evaluated per request.
 */
import { compileTagValue, type TagValueInput } from '../../config/log-filter.js';
import type { MetricsSettingsConfig } from '../../protocol/proxy-config/index.js';
import { ISTIO_METRIC_NAMES } from '../../protocol/proxy-config/index.js';

/** An Istio metric, by its Telemetry API name. */
export type IstioMetric = (typeof ISTIO_METRIC_NAMES)[number];
/** CLIENT: what the proxy reports as the source (outbound, gateways); SERVER: as the destination. */
export type Side = 'CLIENT' | 'SERVER';

/** Where one label of a plan takes its value: a standard label, or an expression (index into the side's values). */
interface LabelSource {
  readonly name: string;
  readonly standard: string | undefined;
  readonly expression: number | undefined;
}

/** The labels of one metric on one side. */
export class MetricPlan {
  constructor(
    readonly disabled: boolean,
    /** identifies the label schema: '' for the standard labels, so series made under another are not shown */
    readonly key: string,
    private readonly labels: readonly LabelSource[],
  ) {}

  /** The Prometheus label text (`k="v",...`) from the standard labels and the side's expression values. */
  format(standard: Readonly<Record<string, string>>, values: readonly (string | undefined)[]): string {
    let out = '';
    for (const l of this.labels) {
      const v = l.expression !== undefined ? (values[l.expression] ?? 'unknown') : (standard[l.standard!] ?? '');
      out += `${out ? ',' : ''}${l.name}="${escapeLabelValue(v)}"`;
    }
    return out;
  }
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** The compiled expressions of one side, evaluated once per request or connection for every metric. */
export interface SideExpressions {
  readonly evaluate: readonly ((r: TagValueInput) => string | undefined)[];
}

const HTTP_METRICS: ReadonlySet<IstioMetric> = new Set([
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
]);

/** Every metric's plan on both sides, from a config's `telemetry.metrics` (validated: its expressions compile). */
export class MetricPlans {
  private readonly plans = new Map<string, MetricPlan>();
  private readonly exprs: Record<Side, { http: SideExpressions; tcp: SideExpressions }>;

  constructor(cfg: MetricsSettingsConfig | undefined, httpLabels: readonly string[], tcpLabels: readonly string[]) {
    const compiled: Record<string, { http: string[]; tcp: string[] }> = {
      CLIENT: { http: [], tcp: [] },
      SERVER: { http: [], tcp: [] },
    };
    for (const o of cfg?.overrides ?? []) {
      const http = HTTP_METRICS.has(o.metric);
      const pool = compiled[o.mode]![http ? 'http' : 'tcp'];
      let labels: LabelSource[] = (http ? httpLabels : tcpLabels).map((n) => ({
        name: n,
        standard: n,
        expression: undefined,
      }));
      for (const t of o.tags ?? []) {
        if (t.remove) {
          labels = labels.filter((l) => l.name !== t.name);
          continue;
        }
        if (t.value === undefined) continue;
        let index = pool.indexOf(t.value);
        if (index < 0) index = pool.push(t.value) - 1;
        const source: LabelSource = { name: t.name, standard: undefined, expression: index };
        const at = labels.findIndex((l) => l.name === t.name);
        if (at >= 0) labels[at] = source;
        else labels.push(source);
      }
      const key = o.tags?.length ? JSON.stringify(o.tags) : '';
      this.plans.set(
        `${o.mode}/${o.metric}`,
        new MetricPlan(cfg?.disabled === true || o.disabled === true, key, labels),
      );
    }
    const side = (s: Side) => ({
      http: { evaluate: compiled[s]!.http.map(compileTagValue) },
      tcp: { evaluate: compiled[s]!.tcp.map(compileTagValue) },
    });
    this.exprs = { CLIENT: side('CLIENT'), SERVER: side('SERVER') };
    const standard = (labels: readonly string[]) =>
      labels.map((n) => ({ name: n, standard: n, expression: undefined }));
    this.defaults = {
      http: new MetricPlan(cfg?.disabled === true, '', standard(httpLabels)),
      tcp: new MetricPlan(cfg?.disabled === true, '', standard(tcpLabels)),
    };
  }

  private readonly defaults: { http: MetricPlan; tcp: MetricPlan };

  /** The plan of `metric` on `side`. */
  plan(metric: IstioMetric, side: Side): MetricPlan {
    return this.plans.get(`${side}/${metric}`) ?? (HTTP_METRICS.has(metric) ? this.defaults.http : this.defaults.tcp);
  }

  /** The expressions HTTP (or TCP) metrics read on `side`: none means no per-request evaluation at all. */
  expressions(side: Side, kind: 'http' | 'tcp'): SideExpressions {
    return this.exprs[side][kind];
  }
}
