/**
 * Span encodings written straight into a batch buffer: Zipkin v2 JSON and OTLP/HTTP JSON, the same
 * bytes `JSON.stringify` gives for the same span, without building an object, a tags map or a
 * string per span. At 100% sampling a span is encoded for every request, so the constant part of
 * its tags (node, canonical service and revision, namespace, upstream cluster) is encoded once per
 * config and cluster; ids the proxy generated are copied from the bytes they were made from, other
 * trace and span ids (hex, `HexId`) with one native write, and the other variable strings byte by
 * byte while they are plain ASCII
 * (the usual case); anything else (quotes, control characters, non-ASCII) falls back to
 * `JSON.stringify` for that one string.
 */
import type { HexId } from '../http/exchange.js';

/** One finished span: a flat record (the only per-span object), encoded into each collector's batch. */
export interface SpanRecord {
  traceId: HexId;
  spanId: HexId;
  parentId: HexId | undefined;
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
  /** the proxy generated the request id (a UUID): it is copied with no escaping */
  requestIdIsUuid: boolean;
  /**
   * The hex digits of `traceId` then `spanId` (48 bytes from `idBytesAt`) when the proxy generated both, and of a
   * generated `requestId` (36 bytes from `requestIdAt`): the encoder copies these bytes, which is cheaper than
   * writing the strings (slices of one text, which a native write first flattens). Undefined: written from the strings.
   */
  idBytes?: Buffer | undefined;
  idBytesAt?: number;
  requestIdBytes?: Buffer | undefined;
  requestIdAt?: number;
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
  /** Zipkin: `,"tags":{` then the node's tags (node_id .. component) */
  readonly zipkinNode: Buffer;
  /** Zipkin: `,` then the cluster's tags (upstream_cluster, upstream_cluster.name, downstream_cluster) */
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
    zipkinNode: Buffer.from(`,"tags":{${z(nodeTags)}`),
    zipkinCluster: Buffer.from(`,${z(clusterTags)}`),
    otlpNode: Buffer.from(o(nodeTags)),
    otlpCluster: Buffer.from(',' + o(clusterTags)),
  };
}

type Latin1Write = (this: Buffer, s: string, offset: number) => number;
/**
 * Buffer's own latin1 writer when the runtime has it (every Node.js since 0.x, undocumented): `buf.write(s, at,
 * 'latin1')` does the same after working out its arguments and encoding, which costs as much again for a 32-digit id.
 */
const nativeLatin1 = (Buffer.prototype as unknown as { latin1Write?: Latin1Write }).latin1Write;
const latin1Write: (buf: Buffer, s: string, at: number) => void =
  typeof nativeLatin1 === 'function'
    ? (buf, s, at) => nativeLatin1.call(buf, s, at)
    : (buf, s, at) => buf.write(s, at, 'latin1');

/** "00" to "99": a number's digits are written two at a time. */
const PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');

/**
 * A run of encoded bytes and the span values it was encoded from, kept in its own small buffer. A proxy talks to a
 * few services, so most spans share their service, URL, status, peer and user agent with the span before: such a
 * span copies the run's bytes (one native copy) instead of encoding them byte by byte again. The same bytes, at a
 * fraction of the cost. Values are compared with `===` (strings by content).
 */
export class Run {
  /** the run's bytes; undefined until written, or when the last values' bytes did not fit their batch */
  bytes: Buffer | undefined = undefined;
  /** grown when a longer run is kept; `bytes` is a view of it */
  private store: Buffer = Buffer.alloc(0);
  k0: unknown = undefined;
  k1: unknown = undefined;
  k2: unknown = undefined;
  k3: unknown = undefined;
  k4: unknown = undefined;
  k5: unknown = undefined;
  k6: unknown = undefined;
  k7: unknown = undefined;
  k8: unknown = undefined;
  k9: unknown = undefined;
  k10: unknown = undefined;
  k11: unknown = undefined;
  k12: unknown = undefined;
  k13: unknown = undefined;

  /** Keeps a copy of `buf[from, to)` as the run's bytes. */
  keep(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.store.length < n) this.store = Buffer.allocUnsafeSlow(Math.max(n, 2 * this.store.length, 256));
    buf.copy(this.store, 0, from, to);
    this.bytes = this.store.subarray(0, n);
  }
}

/**
 * A batch being written: a buffer and a write position. Writes past the end are not made but still
 * advance `pos`, so an encoder finds out afterwards that a span did not fit (`overflowed`) and the
 * batch writes it again into a bigger buffer: no span is ever cut.
 */
export class BatchWriter {
  pos = 0;
  /** spans in this batch */
  count = 0;
  /** OTLP: the service of the resource group being written */
  group: string | undefined;

  constructor(readonly buf: Buffer) {}

  /** Whether the last writes went past the end of the buffer. */
  get overflowed(): boolean {
    return this.pos > this.buf.length;
  }

  /** Moves the write position back (a span that did not fit is taken out). */
  rewind(pos: number): void {
    this.pos = pos;
  }

  /** Remembers the bytes written since `from` as `run` (or forgets the run's bytes if they went past the end). */
  keep(run: Run, from: number): void {
    if (this.pos <= this.buf.length) run.keep(this.buf, from, this.pos);
    else run.bytes = undefined;
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

  /** ASCII known to need no escaping (hex ids, the proxy's own UUIDs): one native copy instead of a loop. */
  plain(s: string): void {
    const p = this.pos;
    if (p + s.length <= this.buf.length) latin1Write(this.buf, s, p);
    this.pos = p + s.length;
  }

  /** `n` bytes of `src` from `from`, at the write position. */
  copy(src: Buffer, from: number, n: number): void {
    this.copyAt(src, from, n, this.pos);
    this.pos += n;
  }

  /**
   * `n` bytes of `src` from `from`, at an earlier position `at` (a place a template left for them), without moving
   * `pos`. A loop: for the 16 to 48 bytes of an id it costs less than a native copy's call.
   */
  copyAt(src: Buffer, from: number, n: number, at: number): void {
    const b = this.buf;
    if (at + n > b.length) return;
    for (let i = 0; i < n; i++) b[at + i] = src[from + i]!;
  }

  /** `plain` at an earlier position (a place a template left for it), without moving `pos`. */
  plainAt(s: string, at: number): void {
    if (at + s.length <= this.buf.length) latin1Write(this.buf, s, at);
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

  /** A JSON string with its quotes; `plain`: known to need no escaping (`plain` instead of `chars`). */
  str(s: string, plain = false): void {
    this.buf[this.pos++] = 0x22;
    if (plain) this.plain(s);
    else this.chars(s);
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

  /** The decimal digits of 0 <= n < 10^8, left-padded with zeros to `width`, two at a time. */
  private digits(n: number, width: number): void {
    let len =
      n < 10_000
        ? n < 100
          ? n < 10
            ? 1
            : 2
          : n < 1000
            ? 3
            : 4
        : n < 1_000_000
          ? n < 100_000
            ? 5
            : 6
          : n < 10_000_000
            ? 7
            : 8;
    if (len < width) len = width;
    const b = this.buf;
    const start = this.pos;
    let p = start + len;
    this.pos = p;
    let x = n | 0;
    while (x >= 100) {
      const q = (x / 100) | 0;
      const d = (x - q * 100) << 1;
      b[--p] = PAIRS[d + 1]!;
      b[--p] = PAIRS[d]!;
      x = q;
    }
    if (x >= 10) {
      b[--p] = PAIRS[(x << 1) + 1]!;
      b[--p] = PAIRS[x << 1]!;
    } else b[--p] = 0x30 + x;
    while (p > start) b[--p] = 0x30;
  }

  /** A number's text as String(n) gives it (inside a string tag). */
  numText(n: number): void {
    if (Number.isSafeInteger(n) && n >= 0) this.num(n);
    else this.chars(String(n));
  }
}

/** The Zipkin encoder's longer literals, copied as bytes (one copy instead of a loop per character). */
const L = {
  first: Buffer.from('{"traceId":"'),
  next: Buffer.from(',{"traceId":"'),
  id: Buffer.from('","id":"'),
  /** the usual ids' place (32 and 16 hex digits) with the keys around them: one copy, then the ids written in */
  idsFirst: Buffer.from(`{"traceId":"${' '.repeat(32)}","id":"${' '.repeat(16)}","timestamp":`),
  idsNext: Buffer.from(`,{"traceId":"${' '.repeat(32)}","id":"${' '.repeat(16)}","timestamp":`),
  parentId: Buffer.from(',"parentId":"'),
  timestamp: Buffer.from('","timestamp":'),
  duration: Buffer.from(',"duration":'),
  client: Buffer.from(',"kind":"CLIENT","name":"'),
  server: Buffer.from(',"kind":"SERVER","name":"'),
  name: Buffer.from('/*"'),
  remote4: Buffer.from(',"remoteEndpoint":{"ipv4":'),
  remote6: Buffer.from(',"remoteEndpoint":{"ipv6":'),
  method: Buffer.from(',"http.method":"'),
  protocol: Buffer.from('","http.protocol":"'),
  status: Buffer.from('","http.status_code":"'),
  flags: Buffer.from('","response_flags":"'),
  peer: Buffer.from(',"peer.address":'),
  userAgent: Buffer.from(',"user_agent":'),
  url: Buffer.from(',"http.url":"'),
  requestSize: Buffer.from('","request_size":"'),
  responseSize: Buffer.from('","response_size":"'),
  requestId: Buffer.from('","guid:x-request-id":'),
  requestIdQuoted: Buffer.from('","guid:x-request-id":"'),
};

/** Where the ids go in `L.idsFirst` and `L.idsNext`, counted back from the template's end. */
const TRACE_ID_BACK = 32 + 8 + 16 + 14;
const SPAN_ID_BACK = 16 + 14;

/** The Zipkin encoder's runs: the remote endpoint; kind and name to the URL's authority (all but the per-request tags). */
const Z = { remote: new Run(), main: new Run() };

/**
 * Zipkin v2: `[span,span,...]`. A span's per-request values come first and last (ids, timestamps, then the path,
 * sizes and request id); everything between is one run copied from an earlier span with the same values. Object keys
 * are unordered in JSON, so collectors read the same span as in JSON.stringify's order.
 */
export const zipkin = {
  open(w: BatchWriter): void {
    w.lit('[');
  },
  close(w: BatchWriter): void {
    w.lit(']');
  },
  /** Writes one span (after a comma unless it is the batch's first). */
  span(w: BatchWriter, s: SpanRecord): void {
    const ids = s.idBytes;
    if (ids !== undefined) {
      w.bytes(w.count > 0 ? L.idsNext : L.idsFirst);
      const at = s.idBytesAt ?? 0;
      w.copyAt(ids, at, 32, w.pos - TRACE_ID_BACK);
      w.copyAt(ids, at + 32, 16, w.pos - SPAN_ID_BACK);
    } else if (s.traceId.length === 32 && s.spanId.length === 16) {
      w.bytes(w.count > 0 ? L.idsNext : L.idsFirst);
      w.plainAt(s.traceId, w.pos - TRACE_ID_BACK);
      w.plainAt(s.spanId, w.pos - SPAN_ID_BACK);
    } else {
      w.bytes(w.count > 0 ? L.next : L.first);
      w.plain(s.traceId);
      w.bytes(L.id);
      w.plain(s.spanId);
      w.bytes(L.timestamp);
    }
    w.num(s.startUs);
    w.bytes(L.duration);
    w.num(Math.max(1, s.durationUs));
    if (s.parentId) {
      w.bytes(L.parentId);
      w.plain(s.parentId);
      w.lit('"');
    }
    if (s.remoteAddress !== undefined) {
      const r = Z.remote;
      if (r.bytes !== undefined && r.k0 === s.remoteAddress && r.k1 === s.remotePort) w.bytes(r.bytes);
      else {
        const from = w.pos;
        const mapped = s.remoteAddress.startsWith('::ffff:');
        w.bytes(s.remoteAddress.includes(':') && !mapped ? L.remote6 : L.remote4);
        w.str(mapped ? s.remoteAddress.slice(7) : s.remoteAddress);
        w.lit(',"port":');
        w.num(s.remotePort);
        w.lit('}');
        w.keep(r, from);
        r.k0 = s.remoteAddress;
        r.k1 = s.remotePort;
      }
    }
    if (s.tags !== undefined) {
      zipkinName(w, s);
      w.bytes(s.constants.zipkinLocal);
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
    const r = Z.main;
    const c = s.constants;
    if (
      r.bytes !== undefined &&
      r.k0 === c &&
      r.k1 === s.kind &&
      r.k2 === s.service &&
      r.k3 === s.port &&
      r.k4 === s.authority &&
      r.k5 === s.method &&
      r.k6 === s.status &&
      r.k7 === s.flags &&
      r.k8 === s.peerAddress &&
      r.k9 === s.userAgent &&
      r.k10 === s.scheme &&
      r.k11 === s.protocol &&
      r.k12 === s.custom &&
      r.k13 === s.error
    )
      w.bytes(r.bytes);
    else {
      const from = w.pos;
      zipkinName(w, s);
      w.bytes(c.zipkinLocal);
      w.bytes(c.zipkinNode);
      w.bytes(L.method);
      w.chars(s.method);
      w.bytes(L.protocol);
      w.chars(s.protocol);
      w.bytes(L.status);
      w.numText(s.status);
      w.bytes(L.flags);
      w.chars(s.flags);
      w.lit('"');
      w.bytes(c.zipkinCluster);
      w.bytes(L.peer);
      w.str(s.peerAddress);
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
      if (s.error) w.lit(',"error":"true"');
      w.bytes(L.url);
      w.chars(s.scheme);
      w.lit('://');
      w.chars(s.authority);
      w.keep(r, from);
      r.k0 = c;
      r.k1 = s.kind;
      r.k2 = s.service;
      r.k3 = s.port;
      r.k4 = s.authority;
      r.k5 = s.method;
      r.k6 = s.status;
      r.k7 = s.flags;
      r.k8 = s.peerAddress;
      r.k9 = s.userAgent;
      r.k10 = s.scheme;
      r.k11 = s.protocol;
      r.k12 = s.custom;
      r.k13 = s.error;
    }
    w.chars(s.path);
    w.bytes(L.requestSize);
    w.numText(s.requestSize);
    w.bytes(L.responseSize);
    w.numText(s.responseSize);
    const rid = s.requestIdBytes;
    if (rid !== undefined) {
      w.bytes(L.requestIdQuoted);
      w.copy(rid, s.requestIdAt ?? 0, 36);
      w.lit('"}}');
      return;
    }
    w.bytes(L.requestId);
    w.str(s.requestId, s.requestIdIsUuid);
    w.lit('}}');
  },
};

/** Zipkin: the span's kind and name (`<service>:<port>/*`). */
function zipkinName(w: BatchWriter, s: SpanRecord): void {
  w.bytes(s.kind === 'CLIENT' ? L.client : L.server);
  w.chars(s.service);
  w.lit(':');
  w.chars(s.port);
  w.bytes(L.name);
}

function attr(w: BatchWriter, key: string, value: string, comma: boolean, plainValue = false): void {
  w.lit(comma ? ',{"key":' : '{"key":');
  w.str(key);
  w.lit(',"value":{"stringValue":');
  w.str(value, plainValue);
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
    w.lit('{"traceId":"');
    const ids = s.idBytes;
    if (ids !== undefined) {
      const at = s.idBytesAt ?? 0;
      w.copy(ids, at, 32);
      w.lit('","spanId":"');
      w.copy(ids, at + 32, 16);
    } else {
      w.plain(s.traceId);
      w.lit('","spanId":"');
      w.plain(s.spanId);
    }
    if (s.parentId) {
      w.lit('","parentSpanId":"');
      w.plain(s.parentId);
    }
    w.lit('","name":"');
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
      attr(w, 'guid:x-request-id', s.requestId, true, s.requestIdIsUuid);
      attr(w, 'user_agent', s.userAgent, true);
      const custom = s.custom;
      if (custom !== undefined) for (let i = 0; i < custom.length; i += 2) attr(w, custom[i]!, custom[i + 1]!, true);
    }
    w.lit(s.error ? '],"status":{"code":2}}' : '],"status":{}}');
  },
};

/** An encoding of span batches. */
export type SpanEncoding = typeof zipkin;
