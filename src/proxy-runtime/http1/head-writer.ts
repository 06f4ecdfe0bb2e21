/**
 * Serialising HTTP/1.1 heads for the fast path: one latin1 string per head (written with the
 * first body bytes in one syscall by the callers), status lines precomputed, and every field
 * checked so that no CR, LF or NUL from a header op or an upstream reaches the wire.
 */
import { STATUS_CODES } from 'node:http';
import type { HeaderMap } from '../http/types.js';

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
