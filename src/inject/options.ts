/** What inject adds, and how `--set` and per-pod annotations change it. */
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { Annotations, DEFAULT_CONTROL_PLANE_ADDRESS } from '../protocol/well-known.js';

/** Resource requests and limits of the proxy container (Kubernetes quantities). */
export interface ProxyResources {
  requests: { cpu?: string; memory?: string };
  limits: { cpu?: string; memory?: string };
}

/** Everything the injector needs to know; the same for the CLI and the webhook. */
export interface InjectOptions {
  /** meshctl's version, recorded in the status annotation. */
  version: string;
  proxyImage: string;
  /** Native sidecar (init container with restartPolicy Always, Kubernetes >= 1.29) or classic container. */
  nativeSidecar: boolean;
  controlPlaneAddress: string;
  proxyLogLevel: string;
  resources: ProxyResources;
  /** Istio's terminationDrainDuration for this pod (`30s`); unset: the proxy's default (5 s). */
  terminationDrainDuration?: string;
}

/** Istio's per-pod ProxyConfig annotation (YAML); its terminationDrainDuration is honoured. */
export const ISTIO_PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config';

/** Small by default: a Node.js proxy idles at ~40 MiB; limits leave headroom for bursts. */
export function defaultInjectOptions(version: string, proxyImage: string): InjectOptions {
  return {
    version,
    proxyImage,
    nativeSidecar: true,
    controlPlaneAddress: DEFAULT_CONTROL_PLANE_ADDRESS,
    proxyLogLevel: 'info',
    resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  };
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$/;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'off'];

/** The keys `--set` accepts, with how each is applied. */
const SETTERS: Record<string, (o: InjectOptions, v: string) => void> = {
  'proxy.image': (o, v) => void (o.proxyImage = v),
  'proxy.logLevel': (o, v) => void (o.proxyLogLevel = checkLogLevel(v, '--set proxy.logLevel')),
  'proxy.resources.requests.cpu': (o, v) =>
    void (o.resources.requests.cpu = checkQuantity(v, '--set proxy.resources.requests.cpu')),
  'proxy.resources.requests.memory': (o, v) =>
    void (o.resources.requests.memory = checkQuantity(v, '--set proxy.resources.requests.memory')),
  'proxy.resources.limits.cpu': (o, v) =>
    void (o.resources.limits.cpu = checkQuantity(v, '--set proxy.resources.limits.cpu')),
  'proxy.resources.limits.memory': (o, v) =>
    void (o.resources.limits.memory = checkQuantity(v, '--set proxy.resources.limits.memory')),
  'controlPlane.address': (o, v) => void (o.controlPlaneAddress = v),
  nativeSidecar: (o, v) => void (o.nativeSidecar = checkBool(v, '--set nativeSidecar')),
};

/** The `--set` keys, for help text and errors. */
export const SETTABLE_KEYS = Object.keys(SETTERS);

/** Applies `key=value` settings; an unknown key or a bad value is a usage error naming it. */
export function applySettings(options: InjectOptions, settings: readonly string[]): InjectOptions {
  const o = structuredClone(options);
  for (const s of settings) {
    const eq = s.indexOf('=');
    if (eq <= 0)
      throw new UsageError(`--set ${s}: expected key=value`, `for example --set proxy.resources.requests.cpu=50m`);
    const key = s.slice(0, eq);
    const setter = SETTERS[key];
    if (!setter) throw new UsageError(`--set ${key}: unknown setting`, `settable keys: ${SETTABLE_KEYS.join(', ')}`);
    setter(o, s.slice(eq + 1));
  }
  return o;
}

function checkQuantity(v: string, what: string): string {
  if (!QUANTITY.test(v))
    throw new UsageError(`${what}=${v}: not a Kubernetes quantity`, 'use values such as 100m, 0.5, 64Mi or 1Gi');
  return v;
}

function checkLogLevel(v: string, what: string): string {
  if (!LOG_LEVELS.includes(v))
    throw new UsageError(`${what}=${v}: unknown log level`, `use one of ${LOG_LEVELS.join(', ')}`);
  return v;
}

function checkBool(v: string, what: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`${what}=${v}: expected true or false`);
}

/** Per-pod overrides from annotations; a malformed value is reported, and the default kept. */
export function podOverrides(
  options: InjectOptions,
  annotations: Readonly<Record<string, string>>,
  warn: (message: string) => void,
): InjectOptions {
  const o = structuredClone(options);
  const quantity = (key: string, set: (v: string) => void) => {
    const v = annotations[key];
    if (v === undefined) return;
    if (QUANTITY.test(v)) set(v);
    else warn(`annotation ${key}: "${v}" is not a Kubernetes quantity; using the default`);
  };
  quantity(Annotations.proxyCpuRequest, (v) => (o.resources.requests.cpu = v));
  quantity(Annotations.proxyMemoryRequest, (v) => (o.resources.requests.memory = v));
  quantity(Annotations.proxyCpuLimit, (v) => (o.resources.limits.cpu = v));
  quantity(Annotations.proxyMemoryLimit, (v) => (o.resources.limits.memory = v));
  const image = annotations[Annotations.proxyImage];
  if (image) o.proxyImage = image;
  const level = annotations[Annotations.proxyLogLevel];
  if (level !== undefined) {
    if (LOG_LEVELS.includes(level)) o.proxyLogLevel = level;
    else warn(`annotation ${Annotations.proxyLogLevel}: "${level}" is not a log level; using ${o.proxyLogLevel}`);
  }
  const proxyConfig = annotations[ISTIO_PROXY_CONFIG_ANNOTATION];
  if (proxyConfig !== undefined) {
    let drain: unknown;
    try {
      const parsed = parseYaml(proxyConfig) as Record<string, unknown> | null;
      drain = parsed?.terminationDrainDuration;
      // Said, never silently dropped: the rest of Istio's ProxyConfig does not apply to this proxy.
      const ignored = Object.keys(parsed ?? {}).filter((k) => k !== 'terminationDrainDuration');
      if (ignored.length > 0)
        warn(
          `annotation ${ISTIO_PROXY_CONFIG_ANNOTATION}: ${ignored.join(', ')} not applied (only terminationDrainDuration is)`,
        );
    } catch {
      warn(`annotation ${ISTIO_PROXY_CONFIG_ANNOTATION}: not YAML; its settings are ignored`);
    }
    if (drain !== undefined) {
      if (typeof drain === 'string' && parseDuration(drain) !== undefined) o.terminationDrainDuration = drain;
      else
        warn(
          `annotation ${ISTIO_PROXY_CONFIG_ANNOTATION}: terminationDrainDuration "${String(drain)}" is not a duration (write 30s); using 5s`,
        );
    }
  }
  return o;
}
