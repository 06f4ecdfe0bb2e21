/**
 * The telemetry type of the config stream: per proxy, where its access log goes and how it is
 * encoded, and where its spans go at what sampling, from Istio's MeshConfig (an IstioOperator's
 * `spec.meshConfig`, which the platform puts into the snapshot's inputs). A change
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
  defaultConfig?: { tracing?: { sampling?: number; zipkin?: { address?: string }; custom_tags?: Record<string, unknown> } };
  extensionProviders?: { name: string; zipkin?: { service: string; port: number; path?: string }; opentelemetry?: { service: string; port: number; http?: { path?: string } } }[];
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
    const tag = t as { literal?: { value?: string }; header?: { name?: string; defaultValue?: string }; environment?: { name?: string; defaultValue?: string } };
    if (tag.literal?.value !== undefined) out[name] = { literal: { value: String(tag.literal.value) } };
    else if (tag.header?.name) out[name] = { header: { name: tag.header.name, ...(tag.header.defaultValue !== undefined ? { defaultValue: tag.header.defaultValue } : {}) } };
    else if (tag.environment?.name) out[name] = { environment: { name: tag.environment.name, ...(tag.environment.defaultValue !== undefined ? { defaultValue: tag.environment.defaultValue } : {}) } };
  }
  return Object.keys(out).length ? out : undefined;
}

/** The proxy telemetry section a MeshConfig gives (the same for every proxy: MeshConfig is mesh-wide). */
export function telemetryFromMeshConfig(mc: MeshTelemetryConfig | undefined): TelemetryResource {
  const out: TelemetryResource = { name: 'telemetry' };
  if (!mc) return out;
  if (mc.accessLogFile !== undefined) out.accessLog = accessLogTarget(mc.accessLogFile);
  if (mc.accessLogEncoding) out.accessLogEncoding = mc.accessLogEncoding;
  if (mc.enableTracing === false) return out;
  const t = mc.defaultConfig?.tracing;
  const tracing: Tracing = {};
  // Istio's default sampling is 1%; the seed's example sets 100.
  tracing.sampling = t?.sampling ?? 1;
  if (t?.zipkin?.address) tracing.zipkin = { address: t.zipkin.address };
  for (const name of mc.defaultProviders?.tracing ?? []) {
    const p = mc.extensionProviders?.find((x) => x.name === name);
    if (p?.zipkin) tracing.zipkin = { address: `${p.zipkin.service}:${p.zipkin.port}` };
    if (p?.opentelemetry) {
      tracing.openTelemetry = { address: `${p.opentelemetry.service}:${p.opentelemetry.port}`, ...(p.opentelemetry.http?.path ? { path: p.opentelemetry.http.path } : {}) };
    }
  }
  const tags = customTags(t?.custom_tags);
  if (tags) tracing.customTags = tags;
  if (tracing.zipkin || tracing.openTelemetry) out.tracing = tracing;
  return out;
}

/** The telemetry generator: claims the mesh config; one resource per proxy, always (defaults when none). */
export function telemetryGenerator(): ConfigGenerator {
  return {
    typeUrl: TypeUrl.telemetry,
    reads: { kinds: [kindRef(MESH_CONFIG_GROUP, MESH_CONFIG_KIND)], registry: [] },
    generate: (_proxy, snap) => [telemetryFromMeshConfig(snap.meshConfig as MeshTelemetryConfig | undefined)],
  };
}
