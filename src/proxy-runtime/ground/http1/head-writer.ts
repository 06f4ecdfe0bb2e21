/**
 * Serialising HTTP/1.1 heads for the fast path: assembled in one reusable buffer (WireHead) for
 * heads sent whole, or as one latin1 string (fieldLines) for heads that wait for a streamed body;
 * status lines precomputed; every field checked so that no CR, LF or NUL from a header op or an
 * upstream reaches the wire.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderMap } from '../types.js';
import { TCHAR } from './head-parser.js';
import { writeScratch } from './direct-io.js';

const STATUS_LINES: string[] = [];
for (const code of Object.keys(STATUS_CODES)) STATUS_LINES[Number(code)] = `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\n`;

/** The status line of a response (with CRLF). */
export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `HTTP/1.1 ${status} Unknown\r\n`;
}

const UNSAFE = /[\r\n\0]/;
const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** names already checked (bounded: names come from config and upstreams, a small set in practice) */
const checkedNames = new Set<string>();

function validName(name: string): boolean {
  if (checkedNames.has(name)) return true;
  if (!NAME.test(name)) return false;
  if (checkedNames.size < 4096) checkedNames.add(name);
  return true;
}

/**
 * Appends `name: value` lines for every field of `h` to `out`; undefined when a name or value
 * could not be sent safely (the caller then treats the message as broken).
 */
export function fieldLines(h: HeaderMap, out: string): string | undefined {
  for (const name in h) {
    const v = h[name];
    if (v === undefined) continue;
    if (!validName(name)) return undefined;
    if (typeof v === 'string') {
      if (UNSAFE.test(v)) return undefined;
      out += name + ': ' + v + '\r\n';
    } else {
      for (const one of v) {
        const s = String(one);
        if (UNSAFE.test(s)) return undefined;
        out += name + ': ' + s + '\r\n';
      }
    }
  }
  return out;
}

/** An error reply the fast path writes itself, before any exchange exists (refused heads). */
export function plainReply(status: number, message: string): string {
  return `${statusLine(status)}content-type: text/plain\r\ncontent-length: ${Buffer.byteLength(message)}\r\nconnection: close\r\n\r\n${message}`;
}

/**
 * Assembles an outgoing head (and a small body behind it) straight into one reusable buffer and
 * sends it with one write: no string per field, no concatenation, no flattening copy. Names are
 * checked against tchar and values for CR, LF, NUL and characters beyond latin1 while they are
 * copied. One per process (`wire`): a head is assembled and sent without yielding in between.
 */
export class WireHead {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private len = 0;

  /** Starts a new head. */
  start(): this {
    this.len = 0;
    return this;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  /** Appends text that is safe by construction (literals, status lines, tokens already checked). */
  raw(s: string): this {
    this.room(s.length);
    const b = this.buf;
    let o = this.len;
    for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
    this.len = o;
    return this;
  }

  /** Appends a field value or request-target; false when it holds CR, LF, NUL (or SP, when `noSpace`) or a character beyond latin1. */
  value(s: string, noSpace = false): boolean {
    this.room(s.length);
    const b = this.buf;
    let o = this.len;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 13 || c === 10 || c === 0 || c > 255 || (noSpace && c === 32)) return false;
      b[o++] = c;
    }
    this.len = o;
    return true;
  }

  private name(s: string): boolean {
    if (s.length === 0) return false;
    this.room(s.length + 2);
    const b = this.buf;
    let o = this.len;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255 || TCHAR[c] !== 1) return false;
      b[o++] = c;
    }
    b[o++] = 0x3a; // ':'
    b[o++] = 0x20;
    this.len = o;
    return true;
  }

  /** Appends `name: value` CRLF for every field of `h`; false when one cannot be sent safely. */
  fields(h: HeaderMap): boolean {
    for (const name in h) {
      const v = h[name];
      if (v === undefined) continue;
      if (typeof v === 'string') {
        if (!this.name(name) || !this.value(v)) return false;
        this.raw('\r\n');
      } else {
        for (const one of v) {
          if (!this.name(name) || !this.value(String(one))) return false;
          this.raw('\r\n');
        }
      }
    }
    return true;
  }

  /** Appends bytes (a body that came whole). */
  bytes(src: Buffer): this {
    this.room(src.length);
    src.copy(this.buf, this.len);
    this.len += src.length;
    return this;
  }

  /** Writes what was assembled to `socket` in one write. */
  send(socket: Socket): void {
    // A write still in progress keeps the buffer: assemble the next head in a new one.
    if (!writeScratch(socket, this.buf, this.len)) this.buf = Buffer.allocUnsafe(16 * 1024);
    this.len = 0;
  }
}

/** The process's head assembler (see WireHead). */
export const wire = new WireHead();
