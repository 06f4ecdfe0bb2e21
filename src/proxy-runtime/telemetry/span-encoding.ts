/**
 * Span encodings written straight into a batch buffer: Zipkin v2 JSON and OTLP/HTTP JSON, the same
 * bytes `JSON.stringify` gives for the same span, without building an object, a tags map or a
 * string per span. At 100% sampling a span is encoded for every request, so the constant part of
 * its tags (node, canonical service and revision, namespace, upstream cluster) is encoded once per
 * config and cluster, and the variable strings are copied byte by byte while they are plain ASCII
 * (the usual case); anything else (quotes, control characters, non-ASCII) falls back to
 * `JSON.stringify` for that one string.
 */

/** One finished span: a flat record (the only per-span object), encoded at once into each collector's batch. */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  kind: 'CLIENT' | 'SERVER';
  /** the span name is `<service>:<port>/*` */
  service: string;
  port: string;
  /** start, microseconds since the epoch */
  startUs: number;
  durationUs: number;
  error: boolean;
  /** the parts of its tags fixed for a config and upstream cluster */
  constants: SpanConstants;
  /** `http.url` is `<scheme>://<authority><path>` */
  scheme: string;
  authority: string;
  path: string;
  method: string;
  protocol: string;
  status: number;
  requestSize: number;
  responseSize: number;
  /** `-` when none */
  flags: string;
  peerAddress: string;
  requestId: string;
  userAgent: string;
  /** custom tags: name, value, name, value... (undefined: none) */
  custom: string[] | undefined;
  /** the remote endpoint (undefined: none known) */
  remoteAddress: string | undefined;
  remotePort: number;
  /**
   * set instead of the fast layout when a custom tag overrides a standard one or has an integer-like name (which
   * `JSON.stringify` orders first): the whole tags map in JSON.stringify order, `error` not included
   */
  tags?: Record<string, string>;
}

/** What every span of one config (node) and upstream cluster shares, encoded once in both formats. */
export interface SpanConstants {
  /** `<canonical service>.<namespace>`, Istio's Zipkin service name */
  readonly serviceName: string;
  readonly nodeTags: readonly (readonly [string, string])[];
  readonly clusterTags: readonly (readonly [string, string])[];
  /** Zipkin: `,"localEndpoint":{"serviceName":".."}` */
  readonly zipkinLocal: Buffer;
  /** Zipkin: `,"tags":{` then the node's tags (node_id .. component), then `,"http.url":"` */
  readonly zipkinNode: Buffer;
  /** Zipkin: `"` then the cluster's tags (upstream_cluster, upstream_cluster.name, downstream_cluster), then `,"peer.address":` */
  readonly zipkinCluster: Buffer;
  /** the same as OTLP attributes (`{"key":..,"value":{"stringValue":..}}`), the cluster part with a leading comma */
  readonly otlpNode: Buffer;
  readonly otlpCluster: Buffer;
}

/** The node's tags, in the order Istio's (and this proxy's earlier) spans list them. */
export function spanConstants(
  serviceName: string,
  nodeTags: readonly (readonly [string, string])[],
  clusterTags: readonly (readonly [string, string])[],
): SpanConstants {
  const z = (tags: readonly (readonly [string, string])[]) =>
    tags.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
  const o = (tags: readonly (readonly [string, string])[]) =>
    tags.map(([k, v]) => `{"key":${JSON.stringify(k)},"value":{"stringValue":${JSON.stringify(v)}}}`).join(',');
  return {
    serviceName,
    nodeTags,
    clusterTags,
    zipkinLocal: Buffer.from(`,"localEndpoint":{"serviceName":${JSON.stringify(serviceName)}}`),
    zipkinNode: Buffer.from(`,"tags":{${z(nodeTags)},"http.url":"`),
    zipkinCluster: Buffer.from(`",${z(clusterTags)},"peer.address":`),
    otlpNode: Buffer.from(o(nodeTags)),
    otlpCluster: Buffer.from(',' + o(clusterTags)),
  };
}

/**
 * A run of encoded bytes in a batch and the span values it was encoded from. Spans in one batch mostly share
 * their service, URL, status, peer and user agent (a proxy talks to a few services), so the next span with the
 * same values copies the run's bytes within the buffer instead of encoding them byte by byte again: the same
 * bytes, at a fraction of the cost. Values are compared with `===` (strings by content).
 */
export class Run {
  w: BatchWriter | undefined = undefined;
  epoch = 0;
  start = 0;
  end = 0;
  k0: unknown = undefined;
  k1: unknown = undefined;
  k2: unknown = undefined;
  k3: unknown = undefined;
  k4: unknown = undefined;
  k5: unknown = undefined;
  k6: unknown = undefined;
  k7: unknown = undefined;
  k8: unknown = undefined;
}

/**
 * A batch being written: a buffer and a write position. Writes past the end are not made but still
 * advance `pos`, so an encoder finds out afterwards that a span did not fit (`overflowed`) and the
 * batch writes it again into a bigger buffer: no span is ever cut.
 */
export class BatchWriter {
  pos = 0;
  /** bumped when `pos` goes back (`rewind`): runs kept before no longer hold their bytes */
  epoch = 0;
  /** spans in this batch */
  count = 0;
  /** OTLP: the service of the resource group being written */
  group: string | undefined;

  constructor(readonly buf: Buffer) {}

  /** Whether the last writes went past the end of the buffer. */
  get overflowed(): boolean {
    return this.pos > this.buf.length;
  }

  /** Moves the write position back (a span that did not fit is taken out): runs kept after it are forgotten. */
  rewind(pos: number): void {
    this.pos = pos;
    this.epoch++;
  }

  /** Whether `run` holds bytes written earlier into this batch (and not rewound over since). */
  holds(run: Run): boolean {
    return run.w === this && run.epoch === this.epoch;
  }

  /** Copies a run kept earlier in this batch (a native copy within the buffer instead of encoding again). */
  again(run: Run): void {
    const n = run.end - run.start;
    if (this.pos + n <= this.buf.length) this.buf.copyWithin(this.pos, run.start, run.end);
    this.pos += n;
  }

  /** Remembers the bytes written since `from` as `run` (forgotten if they went past the end). */
  keep(run: Run, from: number): void {
    if (this.pos <= this.buf.length) {
      run.w = this;
      run.epoch = this.epoch;
      run.start = from;
      run.end = this.pos;
    } else run.w = undefined;
  }

  /** ASCII text known to need no escaping (the encoders' own punctuation and keys). */
  lit(s: string): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  bytes(src: Buffer): void {
    if (this.pos + src.length <= this.buf.length) this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** A JSON string's characters without the quotes: ASCII copied as is, anything else escaped as JSON.stringify does. */
  chars(s: string): void {
    const b = this.buf;
    const start = this.pos;
    let p = start;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.pos = start;
        this.escaped(s);
        return;
      }
      b[p++] = c;
    }
    this.pos = p;
  }

  private escaped(s: string): void {
    const json = JSON.stringify(s);
    const n = Buffer.byteLength(json) - 2;
    if (this.pos + n <= this.buf.length) this.buf.write(json.slice(1, -1), this.pos, n, 'utf8');
    this.pos += n;
  }

  /** A JSON string with its quotes. */
  str(s: string): void {
    this.buf[this.pos++] = 0x22;
    this.chars(s);
    this.buf[this.pos++] = 0x22;
  }

  /** A number as JSON.stringify writes it (digits for the safe integers spans hold). */
  num(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      this.lit(JSON.stringify(n));
      return;
    }
    if (n < 100_000_000) {
      this.digits(n, 0);
      return;
    }
    // microsecond timestamps have 16 digits: two runs of int32 arithmetic instead of float division per digit
    const high = Math.floor(n / 100_000_000);
    this.digits(high, 0);
    this.digits(n - high * 100_000_000, 8);
  }

  /** The decimal digits of 0 <= n < 10^8, left-padded with zeros to `width`. */
  private digits(n: number, width: number): void {
    let len = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) len++;
    if (len < width) len = width;
    const b = this.buf;
    let p = this.pos + len;
    this.pos = p;
    let x = n | 0;
    for (let i = 0; i < len; i++) {
      b[--p] = 0x30 + (x % 10);
      x = (x / 10) | 0;
    }
  }

  /** A number's text as String(n) gives it (inside a string tag). */
  numText(n: number): void {
    if (Number.isSafeInteger(n) && n >= 0) this.num(n);
    else this.chars(String(n));
  }
}

/** The Zipkin encoder's longer literals, copied as bytes (one copy instead of a loop per character). */
const L = {
  client: Buffer.from(',"kind":"CLIENT","name":"'),
  server: Buffer.from(',"kind":"SERVER","name":"'),
  requestId: Buffer.from(',"guid:x-request-id":'),
  userAgent: Buffer.from(',"user_agent":'),
  timestamp: Buffer.from('/*","timestamp":'),
  duration: Buffer.from(',"duration":'),
  remote4: Buffer.from(',"remoteEndpoint":{"ipv4":'),
  remote6: Buffer.from(',"remoteEndpoint":{"ipv6":'),
  method: Buffer.from('","http.method":"'),
  protocol: Buffer.from('","http.protocol":"'),
  status: Buffer.from('","http.status_code":"'),
  requestSize: Buffer.from('","request_size":"'),
  responseSize: Buffer.from('","response_size":"'),
  flags: Buffer.from('","response_flags":"'),
};

/** The Zipkin encoder's runs: kind and name; endpoints to status; flags to request id; user agent to the end. */
const Z = { name: new Run(), head: new Run(), peer: new Run(), tail: new Run() };

/** Zipkin v2: `[span,span,...]`. */
export const zipkin = {
  open(w: BatchWriter): void {
    w.lit('[');
  },
  close(w: BatchWriter): void {
    w.lit(']');
  },
  /** Writes one span (after a comma unless it is the batch's first). */
  span(w: BatchWriter, s: SpanRecord): void {
    if (w.count > 0) w.lit(',');
    w.lit('{"traceId":');
    w.str(s.traceId);
    w.lit(',"id":');
    w.str(s.spanId);
    if (s.parentId) {
      w.lit(',"parentId":');
      w.str(s.parentId);
    }
    let r = Z.name;
    if (w.holds(r) && r.k0 === s.kind && r.k1 === s.service && r.k2 === s.port) w.again(r);
    else {
      const from = w.pos;
      w.bytes(s.kind === 'CLIENT' ? L.client : L.server);
      w.chars(s.service);
      w.lit(':');
      w.chars(s.port);
      w.bytes(L.timestamp);
      w.keep(r, from);
      r.k0 = s.kind;
      r.k1 = s.service;
      r.k2 = s.port;
    }
    w.num(s.startUs);
    w.bytes(L.duration);
    w.num(Math.max(1, s.durationUs));
    if (s.tags !== undefined) {
      zipkinEndpoints(w, s);
      w.lit(',"tags":{');
      let first = true;
      for (const k in s.tags) {
        if (!first) w.lit(',');
        first = false;
        w.str(k);
        w.lit(':');
        w.str(s.error && k === 'error' ? 'true' : s.tags[k]!);
      }
      if (s.error && !('error' in s.tags)) w.lit(first ? '"error":"true"' : ',"error":"true"');
      w.lit('}}');
      return;
    }
    r = Z.head;
    const c = s.constants;
    if (
      w.holds(r) &&
      r.k0 === c &&
      r.k1 === s.remoteAddress &&
      r.k2 === s.remotePort &&
      r.k3 === s.scheme &&
      r.k4 === s.authority &&
      r.k5 === s.path &&
      r.k6 === s.method &&
      r.k7 === s.protocol &&
      r.k8 === s.status
    )
      w.again(r);
    else {
      const from = w.pos;
      zipkinEndpoints(w, s);
      w.bytes(c.zipkinNode);
      w.chars(s.scheme);
      w.lit('://');
      w.chars(s.authority);
      w.chars(s.path);
      w.bytes(L.method);
      w.chars(s.method);
      w.bytes(L.protocol);
      w.chars(s.protocol);
      w.bytes(L.status);
      w.numText(s.status);
      w.bytes(L.requestSize);
      w.keep(r, from);
      r.k0 = c;
      r.k1 = s.remoteAddress;
      r.k2 = s.remotePort;
      r.k3 = s.scheme;
      r.k4 = s.authority;
      r.k5 = s.path;
      r.k6 = s.method;
      r.k7 = s.protocol;
      r.k8 = s.status;
    }
    w.numText(s.requestSize);
    w.bytes(L.responseSize);
    w.numText(s.responseSize);
    r = Z.peer;
    if (w.holds(r) && r.k0 === s.flags && r.k1 === c && r.k2 === s.peerAddress) w.again(r);
    else {
      const from = w.pos;
      w.bytes(L.flags);
      w.chars(s.flags);
      w.bytes(c.zipkinCluster);
      w.str(s.peerAddress);
      w.bytes(L.requestId);
      w.keep(r, from);
      r.k0 = s.flags;
      r.k1 = c;
      r.k2 = s.peerAddress;
    }
    w.str(s.requestId);
    r = Z.tail;
    if (w.holds(r) && r.k0 === s.userAgent && r.k1 === s.custom && r.k2 === s.error) w.again(r);
    else {
      const from = w.pos;
      w.bytes(L.userAgent);
      w.str(s.userAgent);
      const custom = s.custom;
      if (custom !== undefined)
        for (let i = 0; i < custom.length; i += 2) {
          w.lit(',');
          w.str(custom[i]!);
          w.lit(':');
          w.str(custom[i + 1]!);
        }
      w.lit(s.error ? ',"error":"true"}}' : '}}');
      w.keep(r, from);
      r.k0 = s.userAgent;
      r.k1 = s.custom;
      r.k2 = s.error;
    }
  },
};

/** Zipkin: the local endpoint (constant) and the remote one. */
function zipkinEndpoints(w: BatchWriter, s: SpanRecord): void {
  w.bytes(s.constants.zipkinLocal);
  if (s.remoteAddress !== undefined) {
    const mapped = s.remoteAddress.startsWith('::ffff:');
    w.bytes(s.remoteAddress.includes(':') && !mapped ? L.remote6 : L.remote4);
    w.str(mapped ? s.remoteAddress.slice(7) : s.remoteAddress);
    w.lit(',"port":');
    w.num(s.remotePort);
    w.lit('}');
  }
}

function attr(w: BatchWriter, key: string, value: string, comma: boolean): void {
  w.lit(comma ? ',{"key":' : '{"key":');
  w.str(key);
  w.lit(',"value":{"stringValue":');
  w.str(value);
  w.lit('}}');
}

/** The end of an OTLP resource group (its spans list, its scope, its resource). */
const OTLP_GROUP_END = ']}]}';

/**
 * OTLP/HTTP JSON (`ExportTraceServiceRequest`): spans grouped by resource (the service name), one
 * group per run of spans of one service (a batch holds one unless a config change renamed the workload).
 */
export const otlp = {
  open(w: BatchWriter): void {
    w.lit('{"resourceSpans":[');
    w.group = undefined;
  },
  close(w: BatchWriter): void {
    w.lit(OTLP_GROUP_END + ']}');
  },
  span(w: BatchWriter, s: SpanRecord): void {
    const service = s.constants.serviceName;
    if (w.group !== service) {
      if (w.group !== undefined) w.lit(OTLP_GROUP_END + ',');
      w.lit('{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":');
      w.str(service);
      w.lit('}}]},"scopeSpans":[{"scope":{"name":"meshctl-proxy"},"spans":[');
      w.group = service;
    } else w.lit(',');
    w.lit('{"traceId":');
    w.str(s.traceId);
    w.lit(',"spanId":');
    w.str(s.spanId);
    if (s.parentId) {
      w.lit(',"parentSpanId":');
      w.str(s.parentId);
    }
    w.lit(',"name":"');
    w.chars(s.service);
    w.lit(':');
    w.chars(s.port);
    w.lit(s.kind === 'SERVER' ? '/*","kind":2,"startTimeUnixNano":"' : '/*","kind":3,"startTimeUnixNano":"');
    w.numText(s.startUs);
    w.lit('000","endTimeUnixNano":"');
    w.numText(s.startUs + Math.max(1, s.durationUs));
    w.lit('000","attributes":[');
    if (s.tags !== undefined) {
      let first = true;
      for (const k in s.tags) {
        attr(w, k, s.tags[k]!, !first);
        first = false;
      }
    } else {
      w.bytes(s.constants.otlpNode);
      w.lit(',{"key":"http.url","value":{"stringValue":"');
      w.chars(s.scheme);
      w.lit('://');
      w.chars(s.authority);
      w.chars(s.path);
      w.lit('"}}');
      attr(w, 'http.method', s.method, true);
      attr(w, 'http.protocol', s.protocol, true);
      w.lit(',{"key":"http.status_code","value":{"stringValue":"');
      w.numText(s.status);
      w.lit('"}},{"key":"request_size","value":{"stringValue":"');
      w.numText(s.requestSize);
      w.lit('"}},{"key":"response_size","value":{"stringValue":"');
      w.numText(s.responseSize);
      w.lit('"}}');
      attr(w, 'response_flags', s.flags, true);
      w.bytes(s.constants.otlpCluster);
      attr(w, 'peer.address', s.peerAddress, true);
      attr(w, 'guid:x-request-id', s.requestId, true);
      attr(w, 'user_agent', s.userAgent, true);
      const custom = s.custom;
      if (custom !== undefined) for (let i = 0; i < custom.length; i += 2) attr(w, custom[i]!, custom[i + 1]!, true);
    }
    w.lit(s.error ? '],"status":{"code":2}}' : '],"status":{}}');
  },
};

/** An encoding of span batches. */
export type SpanEncoding = typeof zipkin;
