/**
 * The telemetry type of the config stream: per proxy, where its access log goes and how it is
 * encoded, and where its spans go at what sampling, from Istio's MeshConfig (an IstioOperator's
 * `spec.meshConfig`, which the platform puts into the snapshot's inputs) and the Telemetry
 * resources scoped to the proxy (mesh-wide, namespace, workload selector). A change
 * reaches running proxies like any push: no restart.
 */
import { ISTIO_METRIC_NAMES, type ProxyConfig } from '../../protocol/proxy-config/index.js';
import { TypeUrl } from '../../protocol/stream/messages.js';
import { kindRef, type ConfigGenerator } from '../push/generator.js';

/** The kind a MeshConfig change is announced as (the snapshot's `meshConfig`, not a config object). */
export const MESH_CONFIG_KIND = 'MeshConfig';
/** Its group, as Istio's IstioOperator carries it. */
export const MESH_CONFIG_GROUP = 'install.istio.io';

/** The MeshConfig fields meshctl enforces, as Istio names them. */
export interface MeshTelemetryConfig {
  enableTracing?: boolean;
  accessLogFile?: string;
  accessLogEncoding?: 'JSON' | 'TEXT';
  defaultConfig?: {
    tracing?: { sampling?: number; zipkin?: { address?: string }; custom_tags?: Record<string, unknown> };
  };
  extensionProviders?: {
    name: string;
    zipkin?: { service: string; port: number; path?: string };
    opentelemetry?: { service: string; port: number; http?: { path?: string } };
    envoyFileAccessLog?: { path?: string };
    prometheus?: Record<string, unknown>;
  }[];
  defaultProviders?: { tracing?: string[]; metrics?: string[] };
}

/** One telemetry resource: the proxy config's telemetry section without the ports the bootstrap owns. */
export type TelemetryResource = { name: 'telemetry' } & Omit<NonNullable<ProxyConfig['telemetry']>, 'port' | 'address'>;

type Tracing = NonNullable<TelemetryResource['tracing']>;

/** Istio's access log file -> the proxy's access log target. */
function accessLogTarget(file: string): string {
  if (file === '') return 'off';
  if (file === '/dev/stdout') return 'stdout';
  if (file === '/dev/stderr') return 'stderr';
  return file;
}

/** Istio's custom_tags (literal / header / environment) as the proxy takes them. */
function customTags(tags: Record<string, unknown> | undefined): Tracing['customTags'] | undefined {
  if (!tags) return undefined;
  const out: NonNullable<Tracing['customTags']> = {};
  for (const [name, t] of Object.entries(tags)) {
    const tag = t as {
      literal?: { value?: string };
      header?: { name?: string; defaultValue?: string };
      environment?: { name?: string; defaultValue?: string };
    };
    if (tag.literal?.value !== undefined) out[name] = { literal: { value: String(tag.literal.value) } };
    else if (tag.header?.name)
      out[name] = {
        header: {
          name: tag.header.name,
          ...(tag.header.defaultValue !== undefined ? { defaultValue: tag.header.defaultValue } : {}),
        },
      };
    else if (tag.environment?.name)
      out[name] = {
        environment: {
          name: tag.environment.name,
          ...(tag.environment.defaultValue !== undefined ? { defaultValue: tag.environment.defaultValue } : {}),
        },
      };
  }
  return Object.keys(out).length ? out : undefined;
}

/** Tracing as it is being resolved: MeshConfig first, then each Telemetry scope over it. */
interface TracingState {
  sampling: number;
  zipkin?: { address: string };
  openTelemetry?: { address: string; path?: string };
  customTags?: NonNullable<Tracing['customTags']>;
  disabled: boolean;
}

/** The collectors of named providers (MeshConfig extensionProviders); unknown names give none. */
function providersOf(
  mc: MeshTelemetryConfig | undefined,
  names: readonly string[],
): Pick<TracingState, 'zipkin' | 'openTelemetry'> {
  const out: Pick<TracingState, 'zipkin' | 'openTelemetry'> = {};
  for (const name of names) {
    const p = mc?.extensionProviders?.find((x) => x.name === name);
    if (p?.zipkin) out.zipkin = { address: `${p.zipkin.service}:${p.zipkin.port}` };
    if (p?.opentelemetry) {
      out.openTelemetry = {
        address: `${p.opentelemetry.service}:${p.opentelemetry.port}`,
        ...(p.opentelemetry.http?.path ? { path: p.opentelemetry.http.path } : {}),
      };
    }
  }
  return out;
}

function meshTracing(mc: MeshTelemetryConfig | undefined): TracingState {
  const t = mc?.defaultConfig?.tracing;
  // Istio's default sampling is 1%; the seed's example sets 100.
  const state: TracingState = { sampling: t?.sampling ?? 1, disabled: mc?.enableTracing === false };
  if (t?.zipkin?.address) state.zipkin = { address: t.zipkin.address };
  Object.assign(state, providersOf(mc, mc?.defaultProviders?.tracing ?? []));
  const tags = customTags(t?.custom_tags);
  if (tags) state.customTags = tags;
  return state;
}

function tracingSection(state: TracingState): Tracing | undefined {
  if (state.disabled || (!state.zipkin && !state.openTelemetry)) return undefined;
  return {
    sampling: state.sampling,
    ...(state.zipkin ? { zipkin: state.zipkin } : {}),
    ...(state.openTelemetry ? { openTelemetry: state.openTelemetry } : {}),
    ...(state.customTags ? { customTags: state.customTags } : {}),
  };
}

/** The proxy telemetry section a MeshConfig gives (the same for every proxy: MeshConfig is mesh-wide). */
export function telemetryFromMeshConfig(mc: MeshTelemetryConfig | undefined): TelemetryResource {
  return telemetryFor(mc, []);
}

/** The fields of a Telemetry's spec this generator applies. */
interface TelemetryOverride {
  tracing?: {
    providers?: { name: string }[];
    randomSamplingPercentage?: number;
    disableSpanReporting?: boolean;
    customTags?: Record<string, unknown>;
  }[];
  accessLogging?: { providers?: { name: string }[]; disabled?: boolean; filter?: { expression?: string } }[];
  metrics?: TelemetryMetrics[];
}

/** A Telemetry's `metrics[]` entry, as the generator reads it. */
interface TelemetryMetrics {
  providers?: { name: string }[];
  overrides?: {
    match?: { metric?: string; customMetric?: string; mode?: 'CLIENT_AND_SERVER' | 'CLIENT' | 'SERVER' };
    disabled?: boolean;
    tagOverrides?: Record<string, { operation?: 'UPSERT' | 'REMOVE'; value?: string }>;
  }[];
}

type Metrics = NonNullable<TelemetryResource['metrics']>;
type MetricName = NonNullable<Metrics['overrides']>[number]['metric'];

/** The Istio metrics of Telemetry's ALL_METRICS (and of an override without a metric) that the proxy produces. */
const ALL_METRICS: readonly MetricName[] = ISTIO_METRIC_NAMES;

/** Whether a metrics provider name is Prometheus (Istio's built-in `prometheus`, or an extensionProvider of that type). */
function isPrometheus(mc: MeshTelemetryConfig | undefined, name: string): boolean {
  const p = mc?.extensionProviders?.find((x) => x.name.toLowerCase() === name.toLowerCase());
  return p ? p.prometheus !== undefined : name.toLowerCase() === 'prometheus';
}

/**
 * The metrics settings of a proxy from the Telemetry `metrics` entries that apply to it (least
 * specific first), as Istio merges them (pilot's mergeMetrics): the most specific entry naming
 * providers decides which are in scope (else MeshConfig's defaultProviders.metrics, else prometheus);
 * every entry for an in-scope Prometheus provider then applies its overrides in order, per side
 * (CLIENT, SERVER) and metric, a later `disabled` or tag replacing an earlier one. One departure:
 * Istio drops the whole filter for `ALL_METRICS` + `disabled` whatever the mode; here the mode
 * given is honoured, as the API documents it. Custom and gRPC message metrics are not produced
 * (MESH0002 at apply), so their overrides are skipped.
 */
export function metricsFor(
  mc: MeshTelemetryConfig | undefined,
  entries: readonly TelemetryMetrics[],
): TelemetryResource['metrics'] {
  let inScope = mc?.defaultProviders?.metrics ?? ['prometheus'];
  for (const e of entries) if (e.providers?.length) inScope = e.providers.map((p) => p.name);
  if (!inScope.some((n) => isPrometheus(mc, n))) return { disabled: true };
  interface Merged {
    disabled?: boolean;
    tags: Map<string, { remove?: true; value?: string }>;
  }
  const merged = new Map<string, Merged>();
  let parent = mc?.defaultProviders?.metrics ?? ['prometheus'];
  for (const e of entries) {
    const names = e.providers?.length ? e.providers.map((p) => p.name) : parent;
    parent = names;
    if (!names.some((n) => isPrometheus(mc, n) && inScope.includes(n))) continue;
    for (const o of e.overrides ?? []) {
      if (o.match?.customMetric !== undefined) continue;
      const metric = o.match?.metric;
      const metrics =
        metric === undefined || metric === 'ALL_METRICS' ? ALL_METRICS : ALL_METRICS.filter((m) => m === metric);
      const mode = o.match?.mode ?? 'CLIENT_AND_SERVER';
      const sides = mode === 'CLIENT_AND_SERVER' ? (['CLIENT', 'SERVER'] as const) : ([mode] as const);
      for (const side of sides) {
        for (const m of metrics) {
          const key = `${side}/${m}`;
          const entry: Merged = merged.get(key) ?? { tags: new Map() };
          if (o.disabled !== undefined) entry.disabled = o.disabled;
          for (const [tag, t] of Object.entries(o.tagOverrides ?? {})) {
            if (t.operation === 'REMOVE') entry.tags.set(tag, { remove: true });
            else if (t.value !== undefined) entry.tags.set(tag, { value: t.value });
          }
          merged.set(key, entry);
        }
      }
    }
  }
  const overrides: NonNullable<Metrics['overrides']> = [];
  for (const [key, e] of [...merged].sort(([a], [b]) => a.localeCompare(b))) {
    if (!e.disabled && e.tags.size === 0) continue;
    const [mode, metric] = key.split('/') as ['CLIENT' | 'SERVER', MetricName];
    const tags = [...e.tags].sort(([a], [b]) => a.localeCompare(b)).map(([name, t]) => ({ name, ...t }));
    overrides.push({ metric, mode, ...(e.disabled ? { disabled: true } : {}), ...(tags.length ? { tags } : {}) });
  }
  return overrides.length ? { overrides } : undefined;
}

/**
 * The telemetry section of a proxy: MeshConfig, then the Telemetry resources that apply to it from
 * the least to the most specific (mesh-wide, its namespace, its workload selector), each overriding
 * what it sets, as Istio resolves them.
 */
export function telemetryFor(
  mc: MeshTelemetryConfig | undefined,
  scopes: readonly TelemetryOverride[],
): TelemetryResource {
  const out: TelemetryResource = { name: 'telemetry' };
  if (mc?.accessLogFile !== undefined) out.accessLog = accessLogTarget(mc.accessLogFile);
  if (mc?.accessLogEncoding) out.accessLogEncoding = mc.accessLogEncoding;
  const tracing = meshTracing(mc);
  for (const scope of scopes) {
    const t = scope.tracing?.[0];
    if (t) {
      if (t.providers?.length) {
        delete tracing.zipkin;
        delete tracing.openTelemetry;
        Object.assign(
          tracing,
          providersOf(
            mc,
            t.providers.map((p) => p.name),
          ),
        );
      }
      if (t.randomSamplingPercentage !== undefined) tracing.sampling = t.randomSamplingPercentage;
      if (t.disableSpanReporting !== undefined) tracing.disabled = t.disableSpanReporting;
      const tags = customTags(t.customTags);
      if (tags) tracing.customTags = { ...tracing.customTags, ...tags };
    }
    const a = scope.accessLogging?.[0];
    if (a) {
      if (a.disabled) out.accessLog = 'off';
      else {
        // Istio's built-in `envoy` provider writes to stdout; an envoyFileAccessLog provider names its path.
        const file = a.providers
          ?.map((p) => mc?.extensionProviders?.find((x) => x.name === p.name)?.envoyFileAccessLog?.path)
          .find((x) => x !== undefined);
        out.accessLog = file !== undefined ? accessLogTarget(file) : 'stdout';
      }
      if (a.filter?.expression) out.accessLogFilter = a.filter.expression;
    }
  }
  const section = tracingSection(tracing);
  if (section) out.tracing = section;
  const metrics = metricsFor(
    mc,
    scopes.flatMap((sc) => sc.metrics ?? []),
  );
  if (metrics) out.metrics = metrics;
  return out;
}

function matches(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** The Telemetry resources that apply to a proxy, least specific first (one per scope, the oldest name first). */
export function telemetryScopes(
  telemetries: readonly { metadata: { name?: string; namespace?: string }; spec?: unknown }[],
  proxy: { namespace: string; labels: Readonly<Record<string, string>> },
  rootNamespace: string,
): TelemetryOverride[] {
  const nsOf = (t: (typeof telemetries)[number]) => t.metadata.namespace ?? 'default';
  const selectorOf = (t: (typeof telemetries)[number]) =>
    (t.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels;
  const byName = [...telemetries].sort((a, b) =>
    `${nsOf(a)}/${a.metadata.name}`.localeCompare(`${nsOf(b)}/${b.metadata.name}`),
  );
  const root = byName.find((t) => nsOf(t) === rootNamespace && !selectorOf(t));
  const ns =
    proxy.namespace === rootNamespace ? undefined : byName.find((t) => nsOf(t) === proxy.namespace && !selectorOf(t));
  const workload = byName.find(
    (t) => nsOf(t) === proxy.namespace && selectorOf(t) !== undefined && matches(selectorOf(t), proxy.labels),
  );
  return [root, ns, workload].filter((t) => t !== undefined).map((t) => (t.spec ?? {}) as TelemetryOverride);
}

/** The telemetry generator: reads MeshConfig and the Telemetry kind; one resource per proxy, always (defaults when none). */
export function telemetryGenerator(): ConfigGenerator {
  return {
    typeUrl: TypeUrl.telemetry,
    reads: {
      kinds: [kindRef(MESH_CONFIG_GROUP, MESH_CONFIG_KIND), kindRef('telemetry.istio.io', 'Telemetry')],
      // a workload's labels pick the Telemetry selectors that apply and name it in telemetry
      registry: ['workloads'],
    },
    generate: (proxy, snap) => {
      // The registry's labels (Kubernetes: the pod's), not the node metadata's: a Kubernetes sidecar
      // starts knowing only its pod's name, so its metadata has no labels for selectors to match.
      const labels = snap.workload(proxy.workload, proxy.namespace)?.labels ?? proxy.labels;
      const scopes = telemetryScopes(
        snap.configs('Telemetry'),
        { namespace: proxy.namespace, labels },
        snap.rootNamespace,
      );
      const out = telemetryFor(snap.meshConfig as MeshTelemetryConfig | undefined, scopes);
      // ... and telemetry names the workload by them (app, version, canonical service)
      if (Object.keys(labels).length > 0) out.workloadLabels = { ...labels };
      return [out];
    },
  };
}
