/**
 * Span export: finished spans go into a bounded queue and are sent in batches, Zipkin v2 JSON
 * (`POST /api/v2/spans`) or OTLP/HTTP JSON (`POST /v1/traces`). Recording a span is an array push;
 * a full queue drops the new span and counts it, so a slow or dead collector never blocks or slows
 * a request. One batch is in flight per collector at a time; a failed batch is dropped and counted
 * (tracing is best effort, like Envoy's: retrying would grow memory while the collector is down).
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TracingConfig } from '../../protocol/proxy-config/index.js';

/** One finished span, as every encoding needs it. */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  kind: 'CLIENT' | 'SERVER';
  name: string;
  /** start, microseconds since the epoch */
  startUs: number;
  durationUs: number;
  /** `<canonical service>.<namespace>`, Istio's Zipkin service name */
  serviceName: string;
  error: boolean;
  tags: Record<string, string>;
  remote: { address: string; port: number } | undefined;
}

/** Counters the exporter keeps (rendered as the proxy's metrics). */
export interface SpanCounters {
  exported: number;
  dropped: number;
}

const DEFAULT_QUEUE = 4096;
const BATCH = 128;
const FLUSH_MS = 1000;
const TIMEOUT_MS = 5000;

/** The URL a collector address names, with the default path of its protocol. */
export function collectorUrl(address: string, defaultPath: string, path?: string): URL {
  const withScheme = /^https?:\/\//.test(address) ? address : `http://${address}`;
  const url = new URL(withScheme);
  if (path !== undefined) url.pathname = path;
  else if (url.pathname === '/' || url.pathname === '') url.pathname = defaultPath;
  return url;
}

/** Zipkin v2 JSON of a batch (one JSON.stringify: cheaper than assembling the text in JavaScript, measured). */
export function zipkinJson(spans: readonly SpanRecord[]): string {
  return JSON.stringify(
    spans.map((s) => ({
      traceId: s.traceId,
      id: s.spanId,
      parentId: s.parentId || undefined,
      kind: s.kind,
      name: s.name,
      timestamp: s.startUs,
      duration: Math.max(1, s.durationUs),
      localEndpoint: { serviceName: s.serviceName },
      remoteEndpoint: s.remote ? endpoint(s.remote) : undefined,
      tags: s.error ? { ...s.tags, error: 'true' } : s.tags,
    })),
  );
}

function endpoint(r: { address: string; port: number }): Record<string, string | number> {
  const v6 = r.address.includes(':');
  const address = r.address.startsWith('::ffff:') ? r.address.slice(7) : r.address;
  return { [v6 && !r.address.startsWith('::ffff:') ? 'ipv6' : 'ipv4']: address, port: r.port };
}

/** OTLP/HTTP JSON (`ExportTraceServiceRequest`) of a batch, one resource per service name. */
export function otlpJson(spans: readonly SpanRecord[]): string {
  const byService = new Map<string, SpanRecord[]>();
  for (const s of spans) {
    const list = byService.get(s.serviceName);
    if (list) list.push(s);
    else byService.set(s.serviceName, [s]);
  }
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  return JSON.stringify({
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [str('service.name', service)] },
      scopeSpans: [
        {
          scope: { name: 'meshctl-proxy' },
          spans: list.map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentId ? { parentSpanId: s.parentId } : {}),
            name: s.name,
            kind: s.kind === 'SERVER' ? 2 : 3,
            startTimeUnixNano: `${s.startUs}000`,
            endTimeUnixNano: `${s.startUs + Math.max(1, s.durationUs)}000`,
            attributes: Object.entries(s.tags).map(([k, v]) => str(k, v)),
            status: s.error ? { code: 2 } : {},
          })),
        },
      ],
    })),
  });
}

/** One collector: a URL, how a batch is encoded for it, and its own queue (a slow one does not starve the other). */
interface Collector {
  url: URL;
  /** one kept-alive connection per collector: a batch does not pay a TCP (and TLS) handshake */
  agent: HttpAgent;
  encode: (spans: readonly SpanRecord[]) => string;
  queue: SpanRecord[];
  busy: boolean;
}

/** The collectors of a tracing config (a zipkin and/or an OpenTelemetry one). */
function collectorsOf(cfg: TracingConfig | undefined): Collector[] {
  const out: Collector[] = [];
  const agentFor = (url: URL): HttpAgent =>
    url.protocol === 'https:'
      ? new HttpsAgent({ keepAlive: true, maxSockets: 1 })
      : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  if (cfg?.zipkin) {
    const url = collectorUrl(cfg.zipkin.address, '/api/v2/spans');
    out.push({ url, agent: agentFor(url), encode: zipkinJson, queue: [], busy: false });
  }
  if (cfg?.openTelemetry) {
    const url = collectorUrl(cfg.openTelemetry.address, '/v1/traces', cfg.openTelemetry.path);
    out.push({ url, agent: agentFor(url), encode: otlpJson, queue: [], busy: false });
  }
  return out;
}

/** The span queues and their collectors; reconfigured in place when a config changes them. */
export class SpanExporter {
  readonly counters: SpanCounters = { exported: 0, dropped: 0 };
  private limit = DEFAULT_QUEUE;
  private collectors: Collector[] = [];
  private key = '';
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private flushSoon = false;

  /** Whether spans are exported anywhere (sampled requests record a span only then). */
  get active(): boolean {
    return this.collectors.length > 0;
  }

  /** Spans waiting for export, over all collectors. */
  get queued(): number {
    return this.collectors.reduce((n, c) => n + c.queue.length, 0);
  }

  /** Applies a config's tracing section: collectors that did not change keep their queues. */
  configure(cfg: TracingConfig | undefined): void {
    this.limit = cfg?.maxQueuedSpans ?? DEFAULT_QUEUE;
    const key = JSON.stringify([cfg?.zipkin, cfg?.openTelemetry]);
    if (key === this.key) return;
    this.key = key;
    for (const c of this.collectors) {
      this.counters.dropped += c.queue.length;
      c.agent.destroy();
    }
    this.collectors = collectorsOf(cfg);
  }

  /** Queues a span for each collector, or drops it there (counted) when that queue is full. Never blocks. */
  offer(span: SpanRecord): void {
    if (this.closed) return;
    let full = false;
    for (const c of this.collectors) {
      if (c.queue.length >= this.limit) {
        this.counters.dropped++;
        continue;
      }
      c.queue.push(span);
      if (c.queue.length >= BATCH && !c.busy) full = true;
    }
    // A full batch is encoded and sent after the current I/O callbacks, not inside the request that filled it.
    if (full && !this.flushSoon) {
      this.flushSoon = true;
      setImmediate(() => {
        this.flushSoon = false;
        this.flush();
      });
    } else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Sends one batch to each idle collector that has spans; comes back later for what is left. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const c of this.collectors) if (!c.busy && c.queue.length > 0) this.send(c, c.queue.splice(0, BATCH));
    if (this.collectors.some((c) => c.queue.length > 0) && !this.closed)
      this.timer = setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private send(c: Collector, batch: readonly SpanRecord[]): void {
    c.busy = true;
    let body: string;
    try {
      body = c.encode(batch);
    } catch {
      c.busy = false;
      this.counters.dropped += batch.length;
      return;
    }
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      c.busy = false;
      if (ok) this.counters.exported += batch.length;
      else this.counters.dropped += batch.length;
      if (c.queue.length >= BATCH && !this.closed) this.send(c, c.queue.splice(0, BATCH));
    };
    const request = c.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      c.url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: TIMEOUT_MS,
        agent: c.agent,
      },
      (res) => {
        res.resume();
        res.on('end', () => finish((res.statusCode ?? 500) < 300));
        res.on('error', () => finish(false));
      },
    );
    req.on('timeout', () => req.destroy(new Error('collector timed out')));
    req.on('error', () => finish(false));
    req.end(body);
  }

  /** Sends one last batch per collector (best effort) and stops. */
  close(): void {
    this.closed = true;
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // the last batches hold their sockets until answered; idle kept-alive ones must not keep the process up
    for (const c of this.collectors)
      for (const list of Object.values(c.agent.freeSockets)) for (const so of list ?? []) so.destroy();
  }
}
