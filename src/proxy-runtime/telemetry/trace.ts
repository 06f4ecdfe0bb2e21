/**
 * Request id and trace context. `x-request-id` is kept or generated. Each proxy is a hop span:
 * an incoming W3C `traceparent` or B3 context (multi-header or single `b3`) is continued with a
 * new span id whose parent is the caller's span, and written back in BOTH formats so services
 * instrumented with either keep one trace. An incoming sampling decision is honoured (as Envoy);
 * without one, the trace is sampled at the config's percentage (all of them when the proxy has no
 * tracing config: it only propagates then, and the application's own tracer decides).
 */
import { randomBytes } from 'node:crypto';
import type { HeaderMap } from '../ground/types.js';
import type { Exchange, HexId } from '../http/exchange.js';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const HEX32 = /^[0-9a-f]{32}$|^[0-9a-f]{16}$/;
const HEX16 = /^[0-9a-f]{16}$/;

/**
 * Random ids come from one pooled buffer, refilled when spent, and its hex text made once per refill: an id is a slice
 * of that text (V8 shares the characters), not a call into Node's hex encoder per id, which cost about as much as the
 * rest of a request's tracing work (perf, under load).
 *
 * A request's ids are slices of its generation's text (and a sampled request of a tracing proxy keeps its bytes,
 * `idBytes`): while it runs, it keeps the generation alive. A request still running two refills later (a stream: it
 * outlived some 200 requests) is given ids of its own then (`ownIds`), so a proxy holding long-lived streams started
 * at different times holds no generation per stream (it held 60 to 80 KB per stream, measured through a real proxy).
 * Measured under load: 4 KiB and 64 UUIDs cost 0.08 µs per request more than these 8 KiB and 128 (a buffer per
 * refill and per batch), 16 KiB and 256 UUIDs 0.15 µs less.
 */
let pool = Buffer.alloc(0);
let poolHex = '';
/** poolHex's characters as bytes: a new buffer each refill, so the ids an exchange still holds keep theirs */
let poolHexBytes = Buffer.alloc(0);
let offset = 0;
const POOL_BYTES = 8192;
/**
 * The requests whose ids were cut from the current generation and from the one before, while they run (a finished
 * request leaves its list: `releaseIds`); each refill gives those of the one before ids of their own.
 */
let holders: (Exchange | undefined)[] = [];
let previousHolders: (Exchange | undefined)[] = [];
function take(bytes: number): number {
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolHex = pool.toString('hex');
    poolHexBytes = Buffer.from(poolHex, 'latin1');
    offset = 0;
    const outlived = previousHolders;
    previousHolders = holders;
    holders = [];
    for (let i = 0; i < outlived.length; i++) {
      const ex = outlived[i];
      if (ex !== undefined) ownIds(ex);
    }
  }
  const at = offset;
  offset += bytes;
  return at;
}

function randomHex(bytes: number): HexId {
  const at = take(bytes);
  return poolHex.slice(2 * at, 2 * (at + bytes)) as HexId;
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const UUIDS_PER_BATCH = 128;
/**
 * UUIDs are made 128 at a time into one text (one string for 128 ids; each id a slice of it), from these bytes: a new
 * buffer each batch (outside Node's shared pool), so an exchange's `requestIdBytes` keep its id.
 */
let uuidBatch = Buffer.alloc(0);
let uuidText = '';
let uuidNext = UUIDS_PER_BATCH;

/** A random (version 4) UUID, as Envoy generates x-request-id. */
export function requestId(): string {
  if (uuidNext === UUIDS_PER_BATCH) {
    uuidBatch = Buffer.allocUnsafeSlow(36 * UUIDS_PER_BATCH);
    for (let u = 0; u < UUIDS_PER_BATCH; u++) {
      const at = take(16);
      let o = u * 36;
      for (let i = 0; i < 16; i++) {
        let b = pool[at + i]!;
        if (i === 6)
          b = (b & 0x0f) | 0x40; // version 4
        else if (i === 8) b = (b & 0x3f) | 0x80; // RFC 9562 variant
        if (i === 4 || i === 6 || i === 8 || i === 10) uuidBatch[o++] = 0x2d; // '-'
        uuidBatch[o++] = HEX_DIGITS[b >> 4]!;
        uuidBatch[o++] = HEX_DIGITS[b & 15]!;
      }
    }
    uuidText = uuidBatch.toString('latin1');
    uuidNext = 0;
  }
  const k = 36 * uuidNext++;
  return uuidText.slice(k, k + 36);
}

/** Sets the request id and continues (or starts) the trace; fills `ex.requestId` and `ex.traceId`. */
export function prepareTracing(ex: Exchange): void {
  const h = ex.headers;
  const rid = h['x-request-id'];
  /** the UUID batch a generated request id is in (undefined: the request brought its own id) */
  let ridBatch: Buffer | undefined;
  if (typeof rid === 'string' && rid.length > 0 && rid.length <= 128) {
    ex.requestId = rid;
    ex.requestIdIsUuid = false;
  } else {
    ex.requestId = requestId();
    ex.requestIdIsUuid = true;
    ridBatch = uuidBatch;
    ex.requestIdAt = 36 * (uuidNext - 1);
    h['x-request-id'] = ex.requestId;
  }

  // the patterns below admit lowercase hex only: what they match is a HexId
  let traceId: HexId | undefined;
  let parentSpan: HexId | undefined;
  let sampled: string | undefined;
  const tp = typeof h.traceparent === 'string' ? TRACEPARENT.exec(h.traceparent) : null;
  if (tp && tp[2] !== '00000000000000000000000000000000') {
    traceId = tp[2] as HexId;
    parentSpan = tp[3] as HexId;
    sampled = (parseInt(tp[4]!, 16) & 1) === 1 ? '1' : '0';
  } else {
    const b3tid = h['x-b3-traceid'];
    if (typeof b3tid === 'string' && HEX32.test(b3tid)) {
      traceId = b3tid.padStart(32, '0') as HexId;
      const sid = h['x-b3-spanid'];
      parentSpan = typeof sid === 'string' && HEX16.test(sid) ? (sid as HexId) : undefined;
      const s = h['x-b3-sampled'];
      if (s === '0' || s === '1') sampled = s;
      else if (s === 'true' || s === 'false') sampled = s === 'true' ? '1' : '0';
      if (h['x-b3-flags'] === '1') sampled = '1'; // debug
    } else if (typeof h.b3 === 'string') {
      const [tid, sid, s] = h.b3.split('-');
      if (tid && HEX32.test(tid)) {
        traceId = tid.padStart(32, '0') as HexId;
        parentSpan = sid !== undefined && HEX16.test(sid) ? (sid as HexId) : undefined;
        if (s === '0' || s === '1') sampled = s;
        else if (s === 'd') sampled = '1';
      }
    }
  }
  const tracing = ex.runtime.config.telemetry?.tracing;
  if (sampled === undefined) {
    const percent = tracing === undefined ? 100 : (tracing.sampling ?? 1);
    sampled = percent >= 100 || (percent > 0 && Math.random() * 100 < percent) ? '1' : '0';
  }
  // Only a request whose span may be exported keeps its ids' bytes: they hold the pool's generation (and the UUID
  // batch) in memory for as long as the request lasts, which for a long-lived stream is long.
  const keepBytes = sampled === '1' && tracing !== undefined;
  ex.requestIdBytes = keepBytes ? ridBatch : undefined;
  let spanId: HexId;
  if (traceId === undefined) {
    // both ids from one take: their hex digits are 48 bytes in a row of poolHexBytes
    const at = take(24);
    traceId = poolHex.slice(2 * at, 2 * at + 32) as HexId;
    spanId = poolHex.slice(2 * at + 32, 2 * at + 48) as HexId;
    ex.idBytes = keepBytes ? poolHexBytes : undefined;
    ex.idBytesAt = 2 * at;
  } else {
    spanId = randomHex(8);
    ex.idBytes = undefined;
  }
  ex.traceId = traceId;
  ex.spanId = spanId;
  ex.parentSpanId = parentSpan;
  ex.sampled = sampled === '1';
  h.traceparent = `00-${traceId}-${spanId}-0${sampled}`;
  h['x-b3-traceid'] = traceId;
  h['x-b3-spanid'] = spanId;
  if (parentSpan) h['x-b3-parentspanid'] = parentSpan;
  else if (h['x-b3-parentspanid'] !== undefined) h['x-b3-parentspanid'] = undefined; // not delete: keeps the map fast
  h['x-b3-sampled'] = sampled;
  if (h.b3 !== undefined) h.b3 = `${traceId}-${spanId}-${sampled}${parentSpan ? `-${parentSpan}` : ''}`;
  ex.idsHolders = holders;
  ex.idsHolderAt = holders.length;
  holders.push(ex);
}

/** The exchange is over: it no longer holds its generation (see `holders`). */
export function releaseIds(ex: Exchange): void {
  const list = ex.idsHolders;
  if (list !== undefined) {
    list[ex.idsHolderAt] = undefined;
    ex.idsHolders = undefined;
  }
}

/** A copy of `s` that shares no characters with a larger string (a slice keeps its parent alive). */
function own<T extends string>(s: T): T {
  return Buffer.from(s, 'latin1').toString('latin1') as T;
}

/** The header fields `prepareTracing` writes, each a slice of a generation or made of them. */
const ID_FIELDS = ['x-request-id', 'traceparent', 'x-b3-traceid', 'x-b3-spanid', 'b3'] as const;
function ownFields(h: HeaderMap | Record<string, unknown>): void {
  for (const k of ID_FIELDS) {
    const v = h[k];
    if (typeof v === 'string') h[k] = own(v);
  }
}

/**
 * A long-lived exchange's ids, its header fields (and those of the request in flight upstream, which node:http2 keeps
 * for the stream's life) and its ids' bytes become copies of its own: it stops holding its generation of the pool.
 */
function ownIds(ex: Exchange): void {
  ex.idsHolders = undefined;
  if (ex.requestIdIsUuid) ex.requestId = own(ex.requestId);
  ex.traceId = own(ex.traceId);
  ex.spanId = own(ex.spanId);
  ownFields(ex.headers);
  if (ex.inFlight !== undefined) for (const sent of ex.inFlight.sentHeaders()) if (sent !== ex.headers) ownFields(sent);
  if (ex.idBytes !== undefined) {
    const b = Buffer.allocUnsafeSlow(48);
    ex.idBytes.copy(b, 0, ex.idBytesAt, ex.idBytesAt + 48);
    ex.idBytes = b;
    ex.idBytesAt = 0;
  }
  if (ex.requestIdBytes !== undefined) {
    const b = Buffer.allocUnsafeSlow(36);
    ex.requestIdBytes.copy(b, 0, ex.requestIdAt, ex.requestIdAt + 36);
    ex.requestIdBytes = b;
    ex.requestIdAt = 0;
  }
}
