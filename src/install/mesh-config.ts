/**
 * Istio's MeshConfig as users already write it: `spec.meshConfig` of an IstioOperator (the seed's
 * tracing and access-log examples) or `--set meshConfig.KEY=VALUE`. Only the telemetry fields are
 * read (tracing, access logs); every other key is reported back so `install` can warn that it is
 * accepted but has no effect (MESH0002), never silently dropped.
 */
import { UsageError } from '../errors.js';

/** The keys read, as dotted paths (lists and maps below them are read whole). */
const ENFORCED = [
  'enableTracing',
  'accessLogFile',
  'accessLogEncoding',
  'defaultConfig.tracing.sampling',
  'defaultConfig.tracing.zipkin.address',
  'defaultConfig.tracing.custom_tags',
  'extensionProviders',
  'defaultProviders.tracing',
];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Dotted paths of every leaf (or list) in `v`. */
function paths(v: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(v).flatMap(([k, x]) =>
    isObject(x) && Object.keys(x).length > 0 && !ENFORCED.includes(prefix + k)
      ? paths(x, `${prefix}${k}.`)
      : [prefix + k],
  );
}

/** The meshConfig of a values file: an IstioOperator (`spec.meshConfig`), or a plain `meshConfig:` mapping. */
export function meshConfigOfDocument(doc: unknown): Record<string, unknown> | undefined {
  if (!isObject(doc)) return undefined;
  if (doc.kind === 'IstioOperator')
    return isObject(doc.spec) && isObject(doc.spec.meshConfig) ? doc.spec.meshConfig : {};
  return isObject(doc.meshConfig) ? doc.meshConfig : undefined;
}

function parseScalar(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw !== '' && /^-?[0-9]+(\.[0-9]+)?$/.test(raw)) return Number(raw);
  return raw;
}

/** Applies `--set meshConfig.a.b=v` pairs (others are left to the install values) to `base`. */
export function applyMeshConfigSets(base: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const out = structuredClone(base);
  for (const s of sets) {
    const eq = s.indexOf('=');
    const key = eq > 0 ? s.slice(0, eq) : '';
    if (!key.startsWith('meshConfig.')) continue;
    const parts = key.slice('meshConfig.'.length).split('.');
    if (parts.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype'))
      throw new UsageError(`--set ${key}: not a meshConfig key`);
    let cur = out;
    for (const p of parts.slice(0, -1)) {
      if (!isObject(cur[p])) cur[p] = {};
      cur = cur[p] as Record<string, unknown>;
    }
    cur[parts[parts.length - 1]!] = parseScalar(s.slice(eq + 1));
  }
  return out;
}

/** Checks the enforced fields' types; returns the config and the keys that are accepted but have no effect. */
export function validateMeshConfig(
  mc: Record<string, unknown>,
  where: string,
): { config: Record<string, unknown>; ignored: string[] } {
  const fail = (path: string, what: string): never => {
    throw new UsageError(`${where}: meshConfig.${path}: ${what}`);
  };
  if (mc.enableTracing !== undefined && typeof mc.enableTracing !== 'boolean')
    fail('enableTracing', 'expected true or false');
  if (mc.accessLogFile !== undefined && typeof mc.accessLogFile !== 'string')
    fail('accessLogFile', 'expected a path such as /dev/stdout, or "" for no access log');
  if (typeof mc.accessLogFile === 'string' && mc.accessLogFile !== '' && !mc.accessLogFile.startsWith('/'))
    fail('accessLogFile', 'expected an absolute path (/dev/stdout)');
  if (mc.accessLogEncoding !== undefined && mc.accessLogEncoding !== 'JSON' && mc.accessLogEncoding !== 'TEXT')
    fail('accessLogEncoding', 'expected JSON or TEXT');
  const tracing =
    isObject(mc.defaultConfig) && isObject(mc.defaultConfig.tracing) ? mc.defaultConfig.tracing : undefined;
  if (
    tracing?.sampling !== undefined &&
    (typeof tracing.sampling !== 'number' || tracing.sampling < 0 || tracing.sampling > 100)
  )
    fail('defaultConfig.tracing.sampling', 'expected a percentage from 0 to 100');
  if (
    tracing?.zipkin !== undefined &&
    !(isObject(tracing.zipkin) && typeof tracing.zipkin.address === 'string' && tracing.zipkin.address !== '')
  ) {
    fail('defaultConfig.tracing.zipkin.address', 'expected host:port of the Zipkin collector');
  }
  if (mc.extensionProviders !== undefined) {
    if (!Array.isArray(mc.extensionProviders)) fail('extensionProviders', 'expected a list of providers');
    (mc.extensionProviders as unknown[]).forEach((p, i) => {
      if (!isObject(p) || typeof p.name !== 'string' || p.name === '')
        fail(`extensionProviders[${i}].name`, 'every provider needs a name');
      const body = isObject(p) ? (p.zipkin ?? p.opentelemetry) : undefined;
      if (
        body !== undefined &&
        !(
          isObject(body) &&
          typeof body.service === 'string' &&
          Number.isInteger(body.port) &&
          (body.port as number) > 0 &&
          (body.port as number) < 65536
        )
      ) {
        fail(`extensionProviders[${i}]`, 'zipkin and opentelemetry providers need service (host) and port');
      }
    });
  }
  const dp = isObject(mc.defaultProviders) ? mc.defaultProviders.tracing : undefined;
  if (dp !== undefined && !(Array.isArray(dp) && dp.every((n) => typeof n === 'string')))
    fail('defaultProviders.tracing', 'expected a list of provider names');
  const ignored = paths(mc).filter((p) => !ENFORCED.some((e) => p === e || p.startsWith(e + '.')));
  const providers = ((mc.extensionProviders as unknown[] | undefined) ?? []) as Record<string, unknown>[];
  providers.forEach((p, i) => {
    for (const k of Object.keys(p))
      if (!['name', 'zipkin', 'opentelemetry', 'envoyFileAccessLog'].includes(k))
        ignored.push(`extensionProviders[${i}].${k}`);
  });
  // The telemetry generator (control-plane/generators/telemetry.ts) reads the checked fields as MeshTelemetryConfig.
  return { config: mc, ignored };
}

/**
 * Splits install inputs: IstioOperator documents and `meshConfig:` mappings become the MeshConfig
 * (with `--set meshConfig.*` applied and checked, keys without effect returned), the rest stays
 * install values. `meshConfig` is undefined when no input carried one.
 */
export function splitMeshConfig(
  files: readonly { name: string; docs: readonly unknown[] }[],
  sets: readonly string[],
): {
  valueFiles: { name: string; values: unknown }[];
  valueSets: string[];
  meshConfig: Record<string, unknown> | undefined;
  ignored: string[];
} {
  const valueFiles: { name: string; values: unknown }[] = [];
  let meshConfig: Record<string, unknown> | undefined;
  for (const f of files) {
    for (const doc of f.docs) {
      const mc = meshConfigOfDocument(doc);
      if (mc !== undefined) {
        meshConfig = { ...meshConfig, ...mc };
        const rest =
          isObject(doc) && doc.kind !== 'IstioOperator'
            ? Object.fromEntries(Object.entries(doc).filter(([k]) => k !== 'meshConfig'))
            : {};
        if (Object.keys(rest).length) valueFiles.push({ name: f.name, values: rest });
      } else valueFiles.push({ name: f.name, values: doc });
    }
  }
  const meshSets = sets.filter((s) => s.startsWith('meshConfig.'));
  if (meshSets.length) meshConfig = applyMeshConfigSets(meshConfig ?? {}, meshSets);
  const ignored = meshConfig
    ? validateMeshConfig(meshConfig, files.map((f) => f.name).join(', ') || '--set').ignored
    : [];
  return { valueFiles, valueSets: sets.filter((s) => !s.startsWith('meshConfig.')), meshConfig, ignored };
}
