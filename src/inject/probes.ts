/**
 * Rewriting app probes through the proxy. Under STRICT mTLS the kubelet's plaintext probes would be
 * refused by the inbound capture, so (as Istio does) HTTP, TCP and gRPC probes are pointed at the
 * proxy's telemetry port (`/app-health/<container>/<probe>`), and the proxy runs the original probe
 * against the app over loopback. Uninject puts the original handler back in the same place.
 */
import { ProxyPorts } from '../protocol/well-known.js';
import { isObject, type JsonObject } from './workloads.js';

const PROBE_KINDS = [
  ['livenessProbe', 'livez'],
  ['readinessProbe', 'readyz'],
  ['startupProbe', 'startupz'],
] as const;
const REWRITABLE = ['httpGet', 'tcpSocket', 'grpc'] as const;

/** Result of rewriting one pod's probes. */
export interface ProbeRewrite {
  /** For the proxy: health path -> original handler with its port resolved to a number. */
  probers: Record<string, unknown>;
  /** For uninject: `<container>/<probeKind>` -> the original handler object, as written. */
  originals: Record<string, JsonObject>;
}

/** Replaces `oldKey` by `newKey` at the same position, so key order survives the round trip. */
export function replaceKeyInPlace(obj: JsonObject, oldKey: string, newKey: string, value: unknown): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === oldKey) out[newKey] = value;
    else out[k] = v;
  }
  return out;
}

function resolvePort(port: unknown, container: JsonObject): unknown {
  if (typeof port !== 'string' || /^\d+$/.test(port)) return typeof port === 'string' ? Number(port) : port;
  const ports = Array.isArray(container.ports) ? container.ports : [];
  const named = ports.find((p) => isObject(p) && p.name === port) as JsonObject | undefined;
  return named?.containerPort ?? port;
}

/** Rewrites the probes of app containers in place (the containers array is modified). */
export function rewriteProbes(containers: JsonObject[]): ProbeRewrite {
  const probers: Record<string, unknown> = {};
  const originals: Record<string, JsonObject> = {};
  containers.forEach((c, i) => {
    const name = String(c.name);
    let container = c;
    for (const [kind, suffix] of PROBE_KINDS) {
      const probe = container[kind];
      if (!isObject(probe)) continue;
      const handlerKey = REWRITABLE.find((h) => isObject(probe[h]));
      if (!handlerKey) continue;
      const handler = probe[handlerKey] as JsonObject;
      const path = `/app-health/${name}/${suffix}`;
      const resolved: JsonObject = { ...handler, port: resolvePort(handler.port, container) };
      probers[path] = { [handlerKey]: resolved, timeoutSeconds: probe.timeoutSeconds ?? 1 };
      originals[`${name}/${kind}`] = { [handlerKey]: handler };
      const rewritten = replaceKeyInPlace(probe, handlerKey, 'httpGet', {
        path,
        port: ProxyPorts.telemetry,
        scheme: 'HTTP',
      });
      container = { ...container, [kind]: rewritten };
    }
    containers[i] = container;
  });
  return { probers, originals };
}

/** Puts the original probe handlers back (the inverse of rewriteProbes). */
export function restoreProbes(containers: JsonObject[], originals: Readonly<Record<string, JsonObject>>): void {
  containers.forEach((c, i) => {
    let container = c;
    for (const [kind] of PROBE_KINDS) {
      const original = originals[`${String(c.name)}/${kind}`];
      const probe = container[kind];
      if (!original || !isObject(probe)) continue;
      const [[key, value]] = Object.entries(original) as [[string, unknown]];
      container = { ...container, [kind]: replaceKeyInPlace(probe, 'httpGet', key, value) };
    }
    containers[i] = container;
  });
}
