/**
 * The telemetry type of the config stream: per proxy, where its access log goes and how it is
 * encoded, and where its spans go at what sampling, from Istio's MeshConfig (an IstioOperator's
 * `spec.meshConfig`, which the platform puts into the snapshot's inputs) and the Telemetry
 * resources scoped to the proxy (mesh-wide, namespace, workload selector). A change
 * reaches running proxies like any push: no restart.
 */
import type { ProxyConfig } from '../../protocol/proxy-config/index.js';
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
  }[];
  defaultProviders?: { tracing?: string[] };
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
      registry: [],
    },
    generate: (proxy, snap) => {
      const scopes = telemetryScopes(snap.configs('Telemetry'), proxy, snap.rootNamespace);
      return [telemetryFor(snap.meshConfig as MeshTelemetryConfig | undefined, scopes)];
    },
  };
}
