/**
 * Install settings ("values"), with defaults, `--set key=value` and `-f values.yaml` overrides.
 * Every key is known: a typo is an error naming the key and the settable ones, never ignored.
 */
import { MAX_CERT_TTL_SECONDS } from '../config/limits.js';
import { parseDuration } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { DEFAULT_INBOUND_POLICIES, MESH_NAMESPACE, TRUST_DOMAIN } from '../protocol/well-known.js';

/** One gateway's settings (`gateways.ingress.*`, `gateways.egress.*`). */
export interface GatewayValues {
  enabled: boolean;
  /** LoadBalancer, NodePort or ClusterIP. */
  serviceType: string;
  replicas: number;
  resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
}

const GATEWAY_SERVICE_TYPES = ['LoadBalancer', 'NodePort', 'ClusterIP'];

/** Everything `install` and `manifest generate` render from. */
export interface InstallValues {
  namespace: string;
  image: string;
  controlPlane: {
    replicas: number;
    logLevel: string;
    resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  };
  /** Workload certificate lifetime (Go-style duration: 24h, 90m, 5s). */
  certTtl: string;
  trustDomain: string;
  webhook: { failurePolicy: 'Fail' | 'Ignore'; timeoutSeconds: number };
  /** A user-supplied root CA (paths to PEM files); empty: the control plane generates one on first start. */
  ca: { cert: string; key: string };
  /** Kubernetes >= 1.29 supports native sidecars; false injects classic sidecar containers. */
  nativeSidecar: boolean;
  /** The ingress gateway (on by default, Service LoadBalancer) and the egress gateway (off, ClusterIP). */
  gateways: { ingress: GatewayValues; egress: GatewayValues };
  /**
   * Linkerd's `proxy.defaultInboundPolicy`: what ports no Server covers allow, where no pod or
   * namespace annotation config.linkerd.io/default-inbound-policy says otherwise.
   */
  proxy: { defaultInboundPolicy: string };
}

/** The defaults for a given image. */
export function defaultValues(image: string): InstallValues {
  return {
    namespace: MESH_NAMESPACE,
    image,
    controlPlane: {
      replicas: 2,
      logLevel: 'info',
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
    },
    certTtl: '24h',
    trustDomain: TRUST_DOMAIN,
    webhook: { failurePolicy: 'Fail', timeoutSeconds: 10 },
    ca: { cert: '', key: '' },
    nativeSidecar: true,
    gateways: {
      ingress: { enabled: true, serviceType: 'LoadBalancer', replicas: 1, resources: gatewayResources() },
      egress: { enabled: false, serviceType: 'ClusterIP', replicas: 1, resources: gatewayResources() },
    },
    proxy: { defaultInboundPolicy: 'all-unauthenticated' },
  };
}

function gatewayResources(): GatewayValues['resources'] {
  return { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } };
}

type Leaf = string | number | boolean;

/** Flattens the defaults into `a.b.c` keys, the vocabulary of --set. */
function leaves(obj: object, prefix = ''): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object') for (const [kk, vv] of leaves(v, key)) out.set(kk, vv);
    else out.set(key, v as Leaf);
  }
  return out;
}

/** The keys `--set` and values files accept. */
export function settableKeys(): string[] {
  return [...leaves(defaultValues('x')).keys()];
}

const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;

function coerce(key: string, raw: unknown, template: Leaf, where: string): Leaf {
  if (typeof template === 'number') {
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${where}${key}=${String(raw)}: expected a whole number`);
    return n;
  }
  if (typeof template === 'boolean') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw new UsageError(`${where}${key}=${String(raw)}: expected true or false`);
  }
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new UsageError(`${where}${key}: expected a string`);
  return String(raw);
}

function setPath(obj: Record<string, unknown>, key: string, value: Leaf): void {
  const parts = key.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[parts[parts.length - 1]!] = value;
}

function check(v: InstallValues): InstallValues {
  if (!['Fail', 'Ignore'].includes(v.webhook.failurePolicy)) {
    throw new UsageError(`webhook.failurePolicy=${v.webhook.failurePolicy}: expected Fail or Ignore`);
  }
  if (!DURATION.test(v.certTtl))
    throw new UsageError(`certTtl=${v.certTtl}: not a duration`, 'use a duration such as 24h, 90m or 30s');
  const ttlMs = parseDuration(v.certTtl);
  if (ttlMs !== undefined && ttlMs > MAX_CERT_TTL_SECONDS * 1000)
    throw new UsageError(
      `certTtl=${v.certTtl}: above the longest workload certificate lifetime, 90 days (2160h)`,
      'give at most 2160h',
    );
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v.namespace))
    throw new UsageError(`namespace=${v.namespace}: not a valid namespace name`);
  if (Boolean(v.ca.cert) !== Boolean(v.ca.key))
    throw new UsageError('ca.cert and ca.key go together', 'set both to use your own root CA, or neither');
  if (v.controlPlane.replicas < 1) throw new UsageError('controlPlane.replicas must be at least 1');
  if (!(DEFAULT_INBOUND_POLICIES as readonly string[]).includes(v.proxy.defaultInboundPolicy))
    throw new UsageError(
      `proxy.defaultInboundPolicy=${v.proxy.defaultInboundPolicy}: not a Linkerd default inbound policy`,
      `use one of ${DEFAULT_INBOUND_POLICIES.join(', ')}`,
    );
  for (const k of ['ingress', 'egress'] as const) {
    const g = v.gateways[k];
    if (!GATEWAY_SERVICE_TYPES.includes(g.serviceType))
      throw new UsageError(
        `gateways.${k}.serviceType=${g.serviceType}: not a Service type`,
        `use one of ${GATEWAY_SERVICE_TYPES.join(', ')}`,
      );
    if (g.enabled && g.replicas < 1)
      throw new UsageError(`gateways.${k}.replicas must be at least 1`, `or set gateways.${k}.enabled=false`);
  }
  return v;
}

/** Applies a values file (already parsed; `file` names it in errors) and then `--set` pairs. */
export function resolveValues(
  base: InstallValues,
  files: readonly { name: string; values: unknown }[],
  sets: readonly string[],
): InstallValues {
  const v = structuredClone(base) as unknown as Record<string, unknown>;
  const known = leaves(base);
  for (const f of files) {
    if (f.values === null || f.values === undefined) continue;
    if (typeof f.values !== 'object' || Array.isArray(f.values))
      throw new UsageError(`${f.name}: a values file must be a YAML mapping`);
    for (const [key, raw] of leaves(f.values as object)) {
      const template = known.get(key);
      if (template === undefined)
        throw new UsageError(`${f.name}: ${key}: unknown setting`, `settable keys: ${[...known.keys()].join(', ')}`);
      setPath(v, key, coerce(key, raw, template, `${f.name}: `));
    }
  }
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set ${s}: expected key=value`, 'for example --set controlPlane.replicas=3');
    const key = s.slice(0, eq);
    const template = known.get(key);
    if (template === undefined)
      throw new UsageError(`--set ${key}: unknown setting`, `settable keys: ${[...known.keys()].join(', ')}`);
    setPath(v, key, coerce(key, s.slice(eq + 1), template, '--set '));
  }
  return check(v as unknown as InstallValues);
}
