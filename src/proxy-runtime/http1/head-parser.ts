/**
 * Strict HTTP/1.1 message-head parsing for the fast path (RFC 9112), on raw bytes. Requests are
 * refused (the caller answers with `status` and closes, forwarding nothing) whenever the framing
 * could be read two ways: Content-Length with Transfer-Encoding, differing Content-Lengths, a
 * Transfer-Encoding whose final coding is not chunked, obs-fold, bare CR or LF, whitespace before
 * the colon, invalid names or values, a missing or repeated Host, an oversized head.
 */
import type { HeaderMap } from '../http/types.js';

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

/** tchar (RFC 9110 5.6.2) */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
/** field-value bytes: HTAB, SP, VCHAR, obs-text (no CTLs, no CR/LF, no NUL) */
const VALUE = new Uint8Array(256);
VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1;

/** Lowercased names of the usual fields, so a known name costs no toLowerCase. */
const KNOWN = new Map<string, string>();
for (const n of [
  'Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Content-Type', 'Content-Length', 'Transfer-Encoding',
  'Connection', 'Keep-Alive', 'Date', 'Server', 'Cache-Control', 'Cookie', 'Set-Cookie', 'Authorization', 'Upgrade', 'Expect',
  'X-Request-Id', 'X-Forwarded-For', 'X-Forwarded-Proto', 'Traceparent', 'Tracestate', 'Te', 'Trailer', 'Location', 'Vary', 'Etag',
  'Last-Modified', 'Content-Encoding', 'Origin', 'Referer', 'If-None-Match', 'If-Modified-Since', 'Accept-Ranges', 'Content-Range',
]) {
  KNOWN.set(n, n.toLowerCase());
  KNOWN.set(n.toLowerCase(), n.toLowerCase());
}

/** Buffer's latin1 slicing without toString's argument handling (hot: every name and value). */
const latin1 = (buf: Buffer, start: number, end: number): string => (buf as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);

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

function parseContentLength(v: string): number {
  // 1*DIGIT, possibly a list of identical values ("5, 5") as some senders fold duplicates.
  let result = -1;
  for (const part of v.split(',')) {
    const p = part.trim();
    if (p.length === 0 || p.length > 15) return -2;
    let n = 0;
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return -2;
      n = n * 10 + c;
    }
    if (result !== -1 && result !== n) return -2;
    result = n;
  }
  return result;
}

/**
 * Parses one head at `start` in `buf`. `request` selects the start line's form; `maxBytes` caps
 * the head size (a longer head without its end is refused with 431).
 */
export function parseHead(buf: Buffer, start: number, request: boolean, maxBytes = MAX_HEAD_BYTES): HeadResult {
  const end = headEnd(buf, start);
  if (end === -2) return err(400, 'bare LF in the message head');
  if (end === -1) return buf.length - start > maxBytes ? err(request ? 431 : 502, 'message head too large') : undefined;
  if (end - start > maxBytes) return err(request ? 431 : 502, 'message head too large');
  const bad = request ? 400 : 502;
  // Start line.
  let nl = buf.indexOf(10, start);
  if (buf[nl - 1] !== 13) return err(bad, 'bare LF in the start line');
  const lineEnd = nl - 1;
  let method = '';
  let target = '';
  let status = 0;
  let versionMinor: number;
  if (request) {
    let i = start;
    while (i < lineEnd && TCHAR[buf[i]!] === 1) i++;
    if (i === start || buf[i] !== 0x20) return err(400, 'invalid method');
    method = latin1(buf, start, i);
    const t0 = ++i;
    while (i < lineEnd && buf[i]! > 0x20 && buf[i]! < 0x7f) i++;
    if (i === t0 || buf[i] !== 0x20) return err(400, 'invalid request-target');
    target = latin1(buf, t0, i);
    i++;
    if (lineEnd - i !== 8 || latin1(buf, i, i + 7) !== 'HTTP/1.') return err(400, 'unsupported HTTP version');
    const minor = buf[i + 7]! - 48;
    if (minor !== 0 && minor !== 1) return err(400, 'unsupported HTTP version');
    versionMinor = minor;
  } else {
    if (lineEnd - start < 12 || latin1(buf, start, start + 7) !== 'HTTP/1.' || buf[start + 8] !== 0x20) return err(502, 'invalid status line');
    const minor = buf[start + 7]! - 48;
    if (minor !== 0 && minor !== 1) return err(502, 'invalid status line');
    versionMinor = minor;
    for (let k = start + 9; k < start + 12; k++) {
      const d = buf[k]! - 48;
      if (d < 0 || d > 9) return err(502, 'invalid status code');
      status = status * 10 + d;
    }
    if (status < 100) return err(502, 'invalid status code');
    if (lineEnd > start + 12 && buf[start + 12] !== 0x20) return err(502, 'invalid status line');
    for (let k = start + 12; k < lineEnd; k++) if (VALUE[buf[k]!] !== 1) return err(502, 'invalid reason phrase');
  }
  const headers: HeaderMap = {};
  let count = 0;
  let contentLength = -1;
  let te: string | undefined;
  let connection: string | undefined;
  let hostSeen = false;
  let upgrade = false;
  let expectContinue = false;
  let host: string | undefined;
  let pos = nl + 1;
  while (pos < end - 2) {
    nl = buf.indexOf(10, pos);
    if (buf[nl - 1] !== 13) return err(bad, 'bare LF in a header line');
    const le = nl - 1;
    const first = buf[pos]!;
    if (first === 0x20 || first === 0x09) return err(bad, 'obsolete line folding');
    if (++count > MAX_HEADER_COUNT) return err(request ? 431 : 502, 'too many header fields');
    let i = pos;
    while (i < le && TCHAR[buf[i]!] === 1) i++;
    if (i === pos || buf[i] !== 0x3a /* ':' */) return err(bad, 'invalid header field name');
    const rawName = latin1(buf, pos, i);
    const name = KNOWN.get(rawName) ?? rawName.toLowerCase();
    i++;
    while (i < le && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    let ve = le;
    while (ve > i && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09)) ve--;
    for (let k = i; k < ve; k++) if (VALUE[buf[k]!] !== 1) return err(bad, `invalid value of header ${name}`);
    const value = latin1(buf, i, ve);
    pos = nl + 1;
    switch (name) {
      case 'content-length': {
        const n = parseContentLength(value);
        if (n < 0 || (contentLength !== -1 && contentLength !== n)) return err(bad, 'invalid or conflicting Content-Length');
        if (contentLength !== -1) continue; // identical duplicate: keep one
        contentLength = n;
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
    for (const tok of connection.split(',')) {
      const t = tok.trim().toLowerCase();
      if (t === 'close') close = true;
      else if (t === 'keep-alive') {
        if (versionMinor === 0) close = false;
      } else if (t !== 'upgrade' && t !== '' && headers[t] !== undefined) delete headers[t]; // fields Connection names are hop-by-hop (rare)
    }
  }
  return { method, target, status, versionMinor, headers, host, contentLength, chunked, otherEncoding, close, upgrade, expectContinue, end };
}
