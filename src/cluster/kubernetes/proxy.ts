/**
 * Reaching a Service or a pod port through the API server's proxy subresource
 * (`/api/v1/namespaces/NS/services/[https:]NAME:PORT/proxy/...`, same for pods), so proxy-status and
 * proxy-config need neither a port-forward subprocess nor kubectl, and work wherever the API server
 * can reach the pod network. Responses are streamed, not buffered.
 */
import type { IncomingMessage } from 'node:http';
import { KubernetesApiError } from '../../errors.js';
import { readBody, type KubeRest } from './rest.js';

/** What to reach: a Service port or a pod port (number or port name). */
export interface ProxyTarget {
  kind: 'service' | 'pod';
  namespace: string;
  name: string;
  port: number | string;
  /** How the API server talks to the target (default http). */
  scheme?: 'http' | 'https';
}

/** A request sent through the proxy. */
export interface ProxyRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path on the target, starting with `/`, with its query string. */
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** `service mesh-system/meshctl-control-plane:15014` */
export function describeTarget(t: ProxyTarget): string {
  return `${t.kind} ${t.namespace}/${t.name}:${t.port}`;
}

/** The API path of the proxy subresource for a target and a path on it. */
export function proxyPath(t: ProxyTarget, path: string): string {
  if (!path.startsWith('/')) path = `/${path}`;
  const scheme = t.scheme === 'https' ? 'https:' : '';
  const plural = t.kind === 'service' ? 'services' : 'pods';
  return `/api/v1/namespaces/${encodeURIComponent(t.namespace)}/${plural}/${scheme}${encodeURIComponent(t.name)}:${encodeURIComponent(String(t.port))}/proxy${path}`;
}

/** Sends a request through the proxy; the response (any status) streams back. */
export async function proxyOpen(rest: KubeRest, target: ProxyTarget, req: ProxyRequest): Promise<IncomingMessage> {
  const q = req.path.indexOf('?');
  const path = q < 0 ? req.path : req.path.slice(0, q);
  const query = q < 0 ? undefined : Object.fromEntries(new URLSearchParams(req.path.slice(q + 1)));
  return rest.open({
    method: req.method ?? 'GET',
    path: proxyPath(target, path),
    query,
    body: req.body,
    contentType: req.headers?.['content-type'],
    headers: { accept: '*/*', ...req.headers },
    timeoutMs: req.timeoutMs,
    what: `${req.method ?? 'GET'} ${req.path} on ${describeTarget(target)}`,
  });
}

/** Sends a request through the proxy and reads the answer as text; a non-2xx answer throws, naming the target. */
export async function proxyText(
  rest: KubeRest,
  target: ProxyTarget,
  req: ProxyRequest,
): Promise<{ status: number; text: string; headers: IncomingMessage['headers'] }> {
  const res = await proxyOpen(rest, target, req);
  const text = await readBody(res);
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    // Errors of the API server itself (no endpoints, pod not running) come as a Status object.
    let message = text.trim().slice(0, 300) || `HTTP ${status}`;
    let reason = '';
    try {
      const s = JSON.parse(text) as { kind?: string; message?: string; reason?: string };
      if (s.kind === 'Status') {
        message = s.message ?? message;
        reason = s.reason ?? '';
      }
    } catch {
      // a plain-text answer of the target
    }
    throw new KubernetesApiError(
      `${req.method ?? 'GET'} ${req.path} on ${describeTarget(target)} through the API server proxy`,
      status,
      reason,
      message,
      status === 503
        ? `check that ${target.kind} ${target.namespace}/${target.name} has ready endpoints: kubectl -n ${target.namespace} get endpointslices,pods`
        : undefined,
    );
  }
  return { status, text, headers: res.headers };
}
