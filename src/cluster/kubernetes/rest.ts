/**
 * The HTTP layer to the API server. Authentication and TLS come from client-node's KubeConfig
 * (certificates, tokens, exec plugins, in-cluster tokens that rotate); bodies stay plain JSON.
 * client-node's generated object serializer is avoided on purpose: it re-shapes what it sends through
 * its typed models and drops fields of CRD schemas (x-kubernetes-* keys), which would make install
 * apply something else than `manifest generate` prints.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubernetesApiError, PlatformUnavailableError } from '../../errors.js';
import type { LoadedKubeconfig } from './kubeconfig.js';

/** One request to the API server. */
export interface KubeRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path: `/api/v1/namespaces/x/pods`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON-serialised unless a string or Buffer. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** What the request is about, for error messages: `deployment mesh-system/meshctl-control-plane`. */
  what?: string;
  /** Gives up after this long without an answer (default 30s). */
  timeoutMs?: number;
}

/** The Status object the API server answers errors with. */
interface KubeStatus {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
}

function hintFor(status: number, reason: string, contextName: string): string | undefined {
  if (status === 401)
    return `the credentials of context "${contextName}" are not accepted; refresh them (log in again) or pick another --context`;
  if (status === 403)
    return 'your user lacks the permission for this; check with kubectl auth can-i, or ask a cluster admin';
  if (status === 409 && reason === 'Conflict')
    return 'another field manager owns these fields (or the object changed meanwhile); retry, or apply with conflicts forced if meshctl should own them';
  if (status === 422) return "the object does not pass the API server's validation; fix the fields named above";
  if (status === 404) return undefined;
  if (status >= 500) return 'the API server had a problem; retry, and check its health (kubectl get --raw=/readyz)';
  return undefined;
}

/** Talks JSON to one API server, as one kubeconfig context. */
export class KubeRest {
  constructor(readonly config: LoadedKubeconfig) {}

  /** The context name, for messages. */
  get contextName(): string {
    return this.config.contextName;
  }

  /** Sends a request and returns the raw response stream (any status). The caller consumes or destroys it. */
  async open(req: KubeRequest): Promise<IncomingMessage> {
    const url = new URL(this.config.server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: RequestOptions & Record<string, unknown> = {
      method: req.method ?? 'GET',
      headers: { accept: 'application/json', ...req.headers },
    };
    await this.config.kc.applyToHTTPSOptions(opts);
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.isBuffer(req.body)
        ? req.body
        : Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
      (opts.headers as Record<string, string>)['content-type'] = req.contentType ?? 'application/json';
      (opts.headers as Record<string, string>)['content-length'] = String(payload.length);
    }
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    if (url.protocol === 'http:') delete opts.agent;
    const timeoutMs = req.timeoutMs ?? 30_000;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const r = send(url, opts, resolve);
      r.setTimeout(timeoutMs, () =>
        r.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
      r.on('error', (err: NodeJS.ErrnoException) => {
        reject(
          new PlatformUnavailableError(
            `cannot reach the Kubernetes API server ${this.config.server} (context "${this.config.contextName}"): ${err.code ?? err.message}`,
            `check that the cluster is running and the context is right: kubectl --context ${this.config.contextName} cluster-info`,
          ),
        );
      });
      r.end(payload);
    });
  }

  /** Sends a request and parses the JSON answer; a non-2xx answer throws KubernetesApiError. */
  async json<T>(req: KubeRequest): Promise<T> {
    const res = await this.open(req);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : {}) as T;
    throw this.errorFrom(req, status, text);
  }

  /** As json(), but a 404 answer is `undefined`. */
  async jsonOrUndefined<T>(req: KubeRequest): Promise<T | undefined> {
    try {
      return await this.json<T>(req);
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Builds the error for a failed answer, from the Status object when there is one. */
  errorFrom(req: KubeRequest, status: number, text: string): KubernetesApiError {
    let parsed: KubeStatus | undefined;
    try {
      parsed = JSON.parse(text) as KubeStatus;
    } catch {
      parsed = undefined;
    }
    const reason = parsed?.reason ?? '';
    const message = parsed?.message ?? (text.trim().slice(0, 300) || `HTTP ${status}`);
    return new KubernetesApiError(
      req.what ?? `${req.method ?? 'GET'} ${req.path}`,
      status,
      reason,
      message,
      hintFor(status, reason, this.config.contextName),
    );
  }

  /** Reads a failed streaming answer (a watch) and builds its error, so callers need not read bodies themselves. */
  async errorFromResponse(req: KubeRequest, res: IncomingMessage): Promise<KubernetesApiError> {
    return this.errorFrom(req, res.statusCode ?? 0, await readBody(res));
  }
}

/** Reads a whole (small) response body as text. */
export async function readBody(res: IncomingMessage, limit = 64 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new Error(`response larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
