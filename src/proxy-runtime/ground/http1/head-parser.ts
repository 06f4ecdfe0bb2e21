/**
 * Strict HTTP/1.1 message-head parsing for the fast path (RFC 9112), on raw bytes. Requests are
 * refused (the caller answers with `status` and closes, forwarding nothing) whenever the framing
 * could be read two ways: Content-Length with Transfer-Encoding, differing Content-Lengths, a
 * Transfer-Encoding whose final coding is not chunked, obs-fold, bare CR or LF, whitespace before
 * the colon, invalid names or values, a missing or repeated Host, an oversized head.
 */
import type { HeaderMap } from '../types.js';

/** Heads larger than this are refused with 431 (Envoy's default is 60 KiB). */
export const MAX_HEAD_BYTES = 60 * 1024;
/** More header lines than this are refused with 431 (Envoy: 100). */
export const MAX_HEADER_COUNT = 200;

/** A parsed request or response head. */
export interface MessageHead {
  /** request: the method; response: '' */
  method: string;
  /** request: the request-target as sent; response: '' */
  target: string;
  /** response: the status code; request: 0 */
  status: number;
  /** 0 (HTTP/1.0) or 1 (HTTP/1.1) */
  versionMinor: number;
  /**
   * lowercase names; repeated fields become arrays. Hop-by-hop fields (RFC 9110 7.6.1, and those
   * Connection names) are left out, as are Host and Expect of a request (see `host`): the map is
   * built once and never has a field deleted, which keeps it a fast object for V8.
   */
  headers: HeaderMap;
  /** the Host field of a request */
  host: string | undefined;
  /** -1 when absent */
  contentLength: number;
  /** Transfer-Encoding present (and, for requests, exactly `chunked`) */
  chunked: boolean;
  /** Transfer-Encoding present but its final coding is not chunked (responses: read until close) */
  otherEncoding: boolean;
  /** the connection must close after this message (Connection: close, or HTTP/1.0 without keep-alive) */
  close: boolean;
  /** an Upgrade header field is present */
  upgrade: boolean;
  /** Expect: 100-continue */
  expectContinue: boolean;

  /** offset just after the head's final CRLF */
  end: number;
}

/** Why a head was refused, and the status to answer with. */
export interface HeadError {
  error: 400 | 431 | 501 | 502;
  reason: string;
}

/** A head, an error, or undefined when more bytes are needed. */
export type HeadResult = MessageHead | HeadError | undefined;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const LFLF = Buffer.from('\n\n', 'latin1');

/** tchar bytes (RFC 9110 5.6.2): 1 */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
/** field-value bytes: HTAB, SP, VCHAR, obs-text (no CTLs, no CR/LF, no NUL) */
const VALUE = new Uint8Array(256);
VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1;

/**
 * The usual field names, lowercase, by length: a name on the wire that matches one (ignoring
 * case) costs no string allocation, hashing or lowercasing. All are letters, digits and '-': on
 * tchar bytes, `byte | 0x20` folds exactly those to themselves or their lowercase.
 */
const KNOWN_BY_LENGTH: { b: Uint8Array; n: string }[][] = [];
for (const n of [
  'host',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'date',
  'server',
  'cache-control',
  'cookie',
  'set-cookie',
  'authorization',
  'upgrade',
  'expect',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'traceparent',
  'tracestate',
  'te',
  'trailer',
  'location',
  'vary',
  'etag',
  'last-modified',
  'content-encoding',
  'origin',
  'referer',
  'if-none-match',
  'if-modified-since',
  'accept-ranges',
  'content-range',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'b3',
  'x-envoy-peer-metadata',
  'grpc-status',
  'grpc-message',
  'x-meshctl-orig-proto',
  'x-meshctl-peer-metadata',
  'proxy-connection',
  'pragma',
  'expires',
]) {
  if (!/^[a-z0-9-]+$/.test(n)) throw new Error(`known header name ${n} must be lowercase letters, digits and '-'`);
  (KNOWN_BY_LENGTH[n.length] ??= []).push({ b: Buffer.from(n, 'latin1'), n });
}

/** The lowercase name of the field name at buf[s..e) (tchar only). */
function fieldName(buf: Buffer, s: number, e: number): string {
  const list = KNOWN_BY_LENGTH[e - s];
  if (list !== undefined) {
    for (let j = 0; j < list.length; j++) {
      const { b, n } = list[j]!;
      let k = 0;
      while (k < b.length && (buf[s + k]! | 0x20) === b[k]) k++;
      if (k === b.length) return n;
    }
  }
  return latin1(buf, s, e).toLowerCase();
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'].map((m) => ({
  m,
  b: Buffer.from(m, 'latin1'),
}));

/** The method at buf[s..e) (tchar only; methods are case-sensitive), the usual ones without allocation. */
function methodName(buf: Buffer, s: number, e: number): string {
  for (let j = 0; j < METHODS.length; j++) {
    const { m, b } = METHODS[j]!;
    if (b.length !== e - s) continue;
    let k = 0;
    while (k < b.length && buf[s + k] === b[k]) k++;
    if (k === b.length) return m;
  }
  return latin1(buf, s, e);
}

/** Buffer's latin1 slicing without toString's argument handling (hot: every name and value). */
const latin1 = (buf: Buffer, start: number, end: number): string =>
  (buf as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);

function err(error: HeadError['error'], reason: string): HeadError {
  return { error, reason };
}

/** Whether a parse result is an error. */
export function isHeadError(r: HeadResult): r is HeadError {
  return r !== undefined && (r as HeadError).error !== undefined;
}

/** Finds the end of the head starting at `start`; -1 when not there yet; -2 on a bare-LF head. */
function headEnd(buf: Buffer, start: number): number {
  const i = buf.indexOf(CRLFCRLF, start);
  if (i >= 0) return i + 4;
  if (buf.indexOf(LFLF, start) >= 0) return -2;
  return -1;
}

/** uri-host [":" port]: reg-name, IPv4 or an IP literal in brackets; no list, userinfo, path or query. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]*)(?::\d{0,5})?$/;

/** Whether a Host field value is one uri-host[:port] (RFC 9112 3.2: anything else is a 400). */
export function validHost(v: string): boolean {
  return HOST_VALUE.test(v);
}

function parseContentLength(v: string): number {
  // 1*DIGIT, possibly a list of identical values ("5, 5") as some senders fold duplicates.
  if (v.indexOf(',') >= 0) {
    let result = -1;
    for (const part of v.split(',')) {
      const n = parseContentLength(part.trim());
      if (n < 0 || (result !== -1 && result !== n)) return -2;
      result = n;
    }
    return result;
  }
  if (v.length === 0 || v.length > 15) return -2;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -2;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Above this many bytes, a head is first looked for with indexOf (native) before it is parsed:
 * a large head arriving in small pieces then costs one JS pass, not one per piece.
 */
const QUICK_SCAN_BYTES = 4096;

/** HTTP/1.x at buf[i..i+8): 0 or 1 (the minor version), -1 when not, -2 when more bytes are needed. */
function httpVersion(buf: Buffer, i: number, limit: number): number {
  for (let k = 0; k < 7; k++) {
    if (i + k >= limit) return -2;
    if (buf[i + k] !== HTTP1_PREFIX[k]) return -1;
  }
  if (i + 7 >= limit) return -2;
  const minor = buf[i + 7]! - 48;
  return minor === 0 || minor === 1 ? minor : -1;
}
const HTTP1_PREFIX = Buffer.from('HTTP/1.', 'latin1');

/** Out of bytes at `limit`: wait for more, unless the head already passed the size cap. */
function more(len: number, limit: number, tooLarge: HeadError['error']): HeadResult {
  return len > limit ? err(tooLarge, 'message head too large') : undefined;
}

/**
 * Parses one head at `start` in `buf`, in one pass over its bytes. `request` selects the start
 * line's form; `maxBytes` caps the head size (a longer head without its end is refused with 431);
 * bytes from `bufEnd` on are not looked at. Undefined while the bytes so far could still become a valid head.
 */
export function parseHead(
  buf: Buffer,
  start: number,
  request: boolean,
  maxBytes = MAX_HEAD_BYTES,
  bufEnd = buf.length,
): HeadResult {
  const len = bufEnd;
  const bad = request ? 400 : 502;
  const tooLarge = request ? 431 : 502;
  if (len - start > QUICK_SCAN_BYTES) {
    const e = headEnd(len === buf.length ? buf : buf.subarray(0, len), start);
    if (e === -2) return err(bad, 'bare LF in the message head');
    if (e === -1) return len - start > maxBytes ? err(tooLarge, 'message head too large') : undefined;
    if (e - start > maxBytes) return err(tooLarge, 'message head too large');
  }
  // No acceptable head reaches past `limit`; running into it means "need more" or "too large".
  const limit = Math.min(len, start + maxBytes);

  let i = start;
  // RFC 9112 2.2: a server ignores at least one empty line before the request line (sent after a
  // POST body by some old clients). One CRLF is skipped; more are refused as garbage.
  if (request && buf[i] === 13) {
    if (i + 1 >= len) return undefined;
    if (buf[i + 1] !== 10) return err(400, 'bare CR before the request line');
    i += 2;
    if (i >= len) return undefined;
  }
  let method = '';
  let target = '';
  let status = 0;
  let versionMinor: number;
  if (request) {
    const m0 = i;
    while (i < limit && TCHAR[buf[i]!] === 1) i++;
    if (i >= limit) return more(len, limit, tooLarge);
    if (i === m0 || buf[i] !== 0x20) return err(400, 'invalid method');
    method = methodName(buf, m0, i);
    const t0 = ++i;
    while (i < limit && buf[i]! > 0x20 && buf[i]! < 0x7f) i++;
    if (i >= limit) return more(len, limit, tooLarge);
    if (i === t0 || buf[i] !== 0x20) return err(400, 'invalid request-target');
    target = latin1(buf, t0, i);
    i++;
    const v = httpVersion(buf, i, limit);
    if (v === -2) return more(len, limit, tooLarge);
    if (v === -1) return err(400, 'unsupported HTTP version');
    versionMinor = v;
    i += 8;
  } else {
    const v = httpVersion(buf, i, limit);
    if (v === -2) return more(len, limit, tooLarge);
    if (v === -1) return err(502, 'invalid status line');
    versionMinor = v;
    i += 8;
    if (i >= limit) return more(len, limit, tooLarge);
    if (buf[i] !== 0x20) return err(502, 'invalid status line');
    for (let k = i + 1; k < i + 4; k++) {
      if (k >= limit) return more(len, limit, tooLarge);
      const d = buf[k]! - 48;
      if (d < 0 || d > 9) return err(502, 'invalid status code');
      status = status * 10 + d;
    }
    if (status < 100) return err(502, 'invalid status code');
    i += 4;
    if (i >= limit) return more(len, limit, tooLarge);
    if (buf[i] !== 13) {
      if (buf[i] !== 0x20) return err(502, 'invalid status line');
      i++;
      while (i < limit && VALUE[buf[i]!] === 1) i++;
      if (i >= limit) return more(len, limit, tooLarge);
      if (buf[i] !== 13) return err(502, 'invalid reason phrase');
    }
  }
  // at the start line's CR
  if (i >= limit) return more(len, limit, tooLarge);
  if (buf[i] !== 13) return err(bad, 'bare LF in the start line');
  if (i + 1 >= limit) return more(len, limit, tooLarge);
  if (buf[i + 1] !== 10) return err(bad, 'bare CR in the start line');
  i += 2;
  const headers: HeaderMap = {};
  let count = 0;
  let contentLength = -1;
  let te: string | undefined;
  let connection: string | undefined;
  let hostSeen = false;
  let upgrade = false;
  let expectContinue = false;
  let host: string | undefined;
  let end: number;
  for (;;) {
    if (i >= limit) return more(len, limit, tooLarge);
    const first = buf[i]!;
    if (first === 13) {
      if (i + 1 >= limit) return more(len, limit, tooLarge);
      if (buf[i + 1] !== 10) return err(bad, 'bare CR in the message head');
      end = i + 2;
      break;
    }
    if (first === 10) return err(bad, 'bare LF in the message head');
    if (first === 0x20 || first === 0x09) return err(bad, 'obsolete line folding');
    if (++count > MAX_HEADER_COUNT) return err(tooLarge, 'too many header fields');
    const n0 = i;
    while (i < limit && TCHAR[buf[i]!] === 1) i++;
    if (i >= limit) return more(len, limit, tooLarge);
    if (i === n0 || buf[i] !== 0x3a /* ':' */) return err(bad, 'invalid header field name');
    const name = fieldName(buf, n0, i);
    i++;
    while (i < limit && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    const v0 = i;
    while (i < limit && VALUE[buf[i]!] === 1) i++;
    if (i >= limit) return more(len, limit, tooLarge);
    // CR LF ends the line; a bare LF, bare CR, NUL or other control byte is refused
    if (buf[i] !== 13) return err(bad, `invalid value of header ${name}`);
    if (i + 1 >= limit) return more(len, limit, tooLarge);
    if (buf[i + 1] !== 10) return err(bad, `invalid value of header ${name}`);
    let ve = i;
    while (ve > v0 && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09)) ve--;
    const value = latin1(buf, v0, ve);
    i += 2;
    switch (name) {
      case 'content-length': {
        const n = parseContentLength(value);
        if (n < 0 || (contentLength !== -1 && contentLength !== n))
          return err(bad, 'invalid or conflicting Content-Length');
        if (contentLength !== -1) continue; // identical duplicate: keep one
        contentLength = n;
        // "5, 5" is forwarded as the one value it means (RFC 9110 8.6), never as the list.
        if (value.indexOf(',') >= 0) {
          headers[name] = String(n);
          continue;
        }
        break;
      }
      case 'transfer-encoding':
        te = te === undefined ? value : `${te},${value}`;
        continue;
      case 'connection':
        connection = connection === undefined ? value : `${connection},${value}`;
        continue;
      case 'keep-alive':
      case 'proxy-connection':
      case 'proxy-authenticate':
      case 'proxy-authorization':
      case 'te':
      case 'trailer':
      case 'http2-settings':
        continue;
      case 'host':
        if (hostSeen) return err(bad, 'more than one Host');
        hostSeen = true;
        if (request) {
          // RFC 9112 3.2: one uri-host[:port]; a list or a userinfo/path character is a 400.
          if (!validHost(value)) return err(400, 'invalid Host');
          host = value;
          continue;
        }
        break;
      case 'upgrade':
        upgrade = true;
        continue;
      case 'expect':
        if (value.toLowerCase() === '100-continue') expectContinue = true;
        if (request) continue;
        break;
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [prev, value];
  }
  let chunked = false;
  let otherEncoding = false;
  if (te !== undefined) {
    if (contentLength !== -1) {
      if (request) return err(400, 'both Content-Length and Transfer-Encoding');
      return err(502, 'both Content-Length and Transfer-Encoding');
    }
    if (versionMinor === 0 && request) return err(400, 'Transfer-Encoding in an HTTP/1.0 request');
    const codings = te.split(',');
    const last = codings[codings.length - 1]!.trim().toLowerCase();
    if (last !== 'chunked') {
      if (request) return err(400, 'Transfer-Encoding whose final coding is not chunked');
      otherEncoding = true;
    } else if (codings.length > 1) {
      // "gzip, chunked" would need the other codings forwarded, and "chunked, chunked" is invalid.
      if (request) return err(501, 'Transfer-Encoding codings other than chunked');
      otherEncoding = true;
    } else chunked = true;
  }
  if (request && versionMinor === 1 && !hostSeen) return err(400, 'missing Host');
  let close = versionMinor === 0;
  if (connection !== undefined) {
    const tokens = connection.indexOf(',') < 0 ? [connection] : connection.split(',');
    for (const tok of tokens) {
      const t = tok.trim().toLowerCase();
      if (t === 'close') close = true;
      else if (t === 'keep-alive') {
        if (versionMinor === 0) close = false;
      } else if (t !== 'upgrade' && t !== '' && headers[t] !== undefined) delete headers[t]; // fields Connection names are hop-by-hop (rare)
    }
  }
  return {
    method,
    target,
    status,
    versionMinor,
    headers,
    host,
    contentLength,
    chunked,
    otherEncoding,
    close,
    upgrade,
    expectContinue,
    end,
  };
}
