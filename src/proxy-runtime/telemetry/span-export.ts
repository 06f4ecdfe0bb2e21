/**
 * Span export: a finished request's span is worked out and encoded after the event-loop turn's I/O
 * callbacks into each collector's current batch buffer (span-encoding.ts), Zipkin v2 JSON
 * (`POST /api/v2/spans`) or OTLP/HTTP JSON (`POST /v1/traces`); full batches wait in a bounded
 * queue and are sent one at a time per collector, off the request path. A full queue drops the new
 * span and counts it, so a slow or dead collector never blocks or slows a request; a failed batch is
 * dropped and counted (tracing is best effort, like Envoy's: retrying would grow memory while the
 * collector is down).
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TracingConfig } from '../../protocol/proxy-config/index.js';
import { BatchWriter, otlp, zipkin, type SpanEncoding, type SpanRecord } from './span-encoding.js';

export type { SpanRecord } from './span-encoding.js';

/** Counters the exporter keeps (rendered as the proxy's metrics). */
export interface SpanCounters {
  exported: number;
  dropped: number;
}

const DEFAULT_QUEUE = 4096;
/**
 * A batch buffer: about 1000 spans of Istio's tags (collectors take 10-20 MiB). Spans are written into it as they
 * finish, so a batch costs no string or object on the heap, and one POST carries as many spans as fit: a POST costs
 * about as much CPU as 300 KB more of body (measured over loopback), so fewer, bigger ones are cheaper per span.
 */
const BATCH_BYTES = 1024 * 1024;
const FLUSH_MS = 1000;
/**
 * Finished requests of one event-loop turn wait (at most this many) for their spans to be worked out and encoded
 * together after the turn's I/O callbacks. One at a time between requests, span and encoder ran with cold caches:
 * measured with perf in the proxy under load, about 0.25 µs per span more than in a run.
 */
const PENDING_MAX = 256;
const TIMEOUT_MS = 5000;

/** The URL a collector address names, with the default path of its protocol. */
export function collectorUrl(address: string, defaultPath: string, path?: string): URL {
  const withScheme = /^https?:\/\//.test(address) ? address : `http://${address}`;
  const url = new URL(withScheme);
  if (path !== undefined) url.pathname = path;
  else if (url.pathname === '/' || url.pathname === '') url.pathname = defaultPath;
  return url;
}

/** One collector: a URL, how a batch is encoded for it, and its own queue (a slow one does not starve the other). */
interface Collector {
  url: URL;
  /** one kept-alive connection per collector: a batch does not pay a TCP (and TLS) handshake */
  agent: HttpAgent;
  encoding: SpanEncoding;
  /** the batch spans are written into now (undefined until the first span) */
  current: BatchWriter | undefined;
  /** full batches waiting for the collector */
  sealed: BatchWriter[];
  /** spans in `current` and `sealed` */
  queued: number;
  busy: boolean;
  /** a sent batch's buffer, kept for the next batch */
  spare: Buffer | undefined;
}

/** The collectors of a tracing config (a zipkin and/or an OpenTelemetry one). */
function collectorsOf(cfg: TracingConfig | undefined): Collector[] {
  const out: Collector[] = [];
  const agentFor = (url: URL): HttpAgent =>
    url.protocol === 'https:'
      ? new HttpsAgent({ keepAlive: true, maxSockets: 1 })
      : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const collector = (url: URL, encoding: SpanEncoding): Collector => ({
    url,
    agent: agentFor(url),
    encoding,
    current: undefined,
    sealed: [],
    queued: 0,
    busy: false,
    spare: undefined,
  });
  if (cfg?.zipkin) out.push(collector(collectorUrl(cfg.zipkin.address, '/api/v2/spans'), zipkin));
  if (cfg?.openTelemetry)
    out.push(collector(collectorUrl(cfg.openTelemetry.address, '/v1/traces', cfg.openTelemetry.path), otlp));
  return out;
}

/** Starts a batch in `buf`. */
function openBatch(c: Collector, buf: Buffer): BatchWriter {
  const w = new BatchWriter(buf);
  c.encoding.open(w);
  return w;
}

/** Ends the current batch and queues it for sending. */
function seal(c: Collector): void {
  const w = c.current;
  if (w === undefined || w.count === 0) return;
  c.encoding.close(w);
  c.sealed.push(w);
  c.current = undefined;
}

/**
 * Writes `span` into the collector's current batch; a span that does not fit ends that batch and
 * starts the next (in a bigger buffer if one span alone needs more).
 */
function write(c: Collector, span: SpanRecord): void {
  let w = c.current ?? (c.current = openBatch(c, takeBuffer(c, BATCH_BYTES)));
  const start = w.pos;
  const group = w.group;
  c.encoding.span(w, span);
  // room for the closing brackets too
  if (w.pos + 8 <= w.buf.length) {
    w.count++;
    return;
  }
  w.rewind(start);
  w.group = group;
  let size = BATCH_BYTES;
  if (w.count > 0) seal(c);
  else size = w.buf.length * 4;
  for (;;) {
    w = c.current = openBatch(c, takeBuffer(c, size));
    c.encoding.span(w, span);
    if (w.pos + 8 <= w.buf.length) break;
    size *= 4;
  }
  w.count++;
}

function takeBuffer(c: Collector, size: number): Buffer {
  const spare = c.spare;
  if (spare !== undefined && spare.length === size) {
    c.spare = undefined;
    return spare;
  }
  return Buffer.allocUnsafe(size);
}

/** Works out the span of a finished request handed to `defer` (tracing.ts's spanOf, for an exchange). */
export type SpanOf<T> = (item: T, status: number, service: string, durationMs: number) => SpanRecord;

/** The span queues and their collectors; reconfigured in place when a config changes them. */
export class SpanExporter<T = never> {
  readonly counters: SpanCounters = { exported: 0, dropped: 0 };
  /** requests handed to `defer` and not yet encoded, with their status, service and duration (reused arrays) */
  private readonly pendingItems: (T | undefined)[] = [];
  private readonly pendingStatus: number[] = [];
  private readonly pendingService: string[] = [];
  private readonly pendingDuration: number[] = [];
  private pendingCount = 0;
  private encodeSoon = false;
  private readonly encodeLater = (): void => {
    this.encodeSoon = false;
    this.encodePending();
  };
  private limit = DEFAULT_QUEUE;
  private collectors: Collector[] = [];
  private key = '';
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private flushSoon = false;

  /** `spanOf` works out the spans of the requests handed to `defer`. */
  constructor(private readonly spanOf?: SpanOf<T>) {}

  /** Whether spans are exported anywhere (sampled requests record a span only then). */
  get active(): boolean {
    return this.collectors.length > 0;
  }

  /** Spans waiting for export, over all collectors (a span not yet encoded waits for each of them). */
  get queued(): number {
    let n = this.pendingCount * this.collectors.length;
    for (const c of this.collectors) n += c.queued;
    return n;
  }

  /** Applies a config's tracing section: collectors that did not change keep their queues. */
  configure(cfg: TracingConfig | undefined): void {
    this.limit = cfg?.maxQueuedSpans ?? DEFAULT_QUEUE;
    const key = JSON.stringify([cfg?.zipkin, cfg?.openTelemetry]);
    if (key === this.key) return;
    // the spans of requests served under the old collectors still go to them
    this.encodePending();
    this.key = key;
    for (const c of this.collectors) {
      this.counters.dropped += c.queued;
      c.agent.destroy();
    }
    this.collectors = collectorsOf(cfg);
  }

  /**
   * Takes a finished request whose span is worked out (`spanOf`) and encoded after this event-loop turn's I/O
   * callbacks, with the other requests of the turn. Never blocks; the request must not change after it is handed over.
   */
  defer(item: T, status: number, service: string, durationMs: number): void {
    if (this.closed) return;
    const i = this.pendingCount++;
    this.pendingItems[i] = item;
    this.pendingStatus[i] = status;
    this.pendingService[i] = service;
    this.pendingDuration[i] = durationMs;
    if (i + 1 >= PENDING_MAX) this.encodePending();
    else if (!this.encodeSoon) {
      this.encodeSoon = true;
      setImmediate(this.encodeLater);
    }
  }

  /** Works out and encodes the spans of the requests handed to `defer` (offer's queue limits apply). */
  encodePending(): void {
    const n = this.pendingCount;
    if (n === 0 || this.spanOf === undefined) return;
    this.pendingCount = 0;
    const items = this.pendingItems;
    for (let i = 0; i < n; i++) {
      const item = items[i]!;
      items[i] = undefined; // the request is not kept past its span
      this.offer(this.spanOf(item, this.pendingStatus[i]!, this.pendingService[i]!, this.pendingDuration[i]!));
    }
  }

  /** Encodes a span into each collector's batch, or drops it there (counted) when that queue is full. Never blocks. */
  offer(span: SpanRecord): void {
    if (this.closed) return;
    let ready = false;
    for (const c of this.collectors) {
      if (c.queued >= this.limit) {
        this.counters.dropped++;
        continue;
      }
      write(c, span);
      c.queued++;
      if (c.sealed.length > 0 && !c.busy) ready = true;
    }
    // A full batch is sent after the current I/O callbacks, not inside the request that filled it;
    // the batch being filled goes at the latest FLUSH_MS later.
    if (ready && !this.flushSoon) {
      this.flushSoon = true;
      setImmediate(() => {
        this.flushSoon = false;
        this.sendReady();
      });
    }
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Sends a full batch to each idle collector that has one. */
  private sendReady(): void {
    for (const c of this.collectors) if (!c.busy && c.sealed.length > 0) this.send(c, c.sealed.shift()!);
  }

  /** Ends the batches being filled and sends one to each idle collector; comes back later for what is left. */
  flush(): void {
    this.encodePending();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const c of this.collectors) seal(c);
    this.sendReady();
    if (this.collectors.some((c) => c.queued > 0) && !this.closed)
      this.timer = setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private send(c: Collector, batch: BatchWriter): void {
    c.busy = true;
    c.queued -= batch.count;
    const body = batch.buf.subarray(0, batch.pos);
    let done = false;
    /** the whole body was handed to the OS: its buffer is no longer read */
    let written = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      c.busy = false;
      if (ok) this.counters.exported += batch.count;
      else this.counters.dropped += batch.count;
      // the request has been written and answered (or given up): its buffer can take the next batch
      if (written && batch.buf.length === BATCH_BYTES) c.spare = batch.buf;
      if (c.sealed.length > 0 && !this.closed) this.send(c, c.sealed.shift()!);
    };
    const request = c.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      c.url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
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
    req.on('finish', () => (written = true));
    req.end(body);
  }

  /** Sends one last batch per collector (best effort) and stops. */
  close(): void {
    this.encodePending();
    this.closed = true;
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // the last batches hold their sockets until answered; idle kept-alive ones must not keep the process up
    for (const c of this.collectors)
      for (const list of Object.values(c.agent.freeSockets)) for (const so of list ?? []) so.destroy();
  }
}
