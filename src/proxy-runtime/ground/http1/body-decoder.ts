/**
 * Streaming message-body framing for the fast path: Content-Length, chunked (RFC 9112 7.1, strict:
 * hex sizes only, CRLF everywhere, trailers parsed and validated) and read-until-close. Bodies are
 * never buffered: each call hands on slices of the bytes just read (no copy) and reports where the
 * body ended, so bytes after it (a pipelined request, nothing for a response) stay with the caller.
 */
import type { HeaderMap } from '../types.js';
import { parseHead, isHeadError } from './head-parser.js';

/** Receives decoded body bytes (slices of the input: use before the next read). */
export type BodySink = (chunk: Buffer) => void;

/** What one `feed` returns besides an end offset. */
export const Feed = {
  /** all input consumed, the body goes on */
  More: -1,
  /** the framing is invalid: the message is broken */
  Invalid: -2,
} as const;

const MAX_TRAILER_BYTES = 16 * 1024;
const MAX_CHUNK_SIZE_DIGITS = 13; // < 2^52

const S = { Size: 0, Ext: 1, SizeLf: 2, Data: 3, DataCr: 4, DataLf: 5, Trailer: 6, Done: 7 } as const;
type State = (typeof S)[keyof typeof S];

/** A body decoder: `feed` returns the offset where the body ended, or Feed.More / Feed.Invalid. */
export interface BodyDecoder {
  feed(buf: Buffer, start: number, sink: BodySink): number;
  /** The connection closed: true when that ends the body properly (read-until-close). */
  closeEnds(): boolean;
  /** trailers of a chunked body, once it ended */
  trailers: HeaderMap | undefined;
}

/** A body of exactly `length` bytes. */
export class LengthDecoder implements BodyDecoder {
  trailers: HeaderMap | undefined = undefined;
  constructor(private left: number) {}

  feed(buf: Buffer, start: number, sink: BodySink): number {
    const avail = buf.length - start;
    if (avail < this.left) {
      if (avail > 0) sink(start === 0 ? buf : buf.subarray(start));
      this.left -= avail;
      return Feed.More;
    }
    const end = start + this.left;
    if (this.left > 0) sink(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    this.left = 0;
    return end;
  }

  closeEnds(): boolean {
    return false;
  }
}

/** A body delimited by the connection's end (responses without length or chunking). */
export class UntilCloseDecoder implements BodyDecoder {
  trailers: HeaderMap | undefined = undefined;
  feed(buf: Buffer, start: number, sink: BodySink): number {
    if (start < buf.length) sink(start === 0 ? buf : buf.subarray(start));
    return Feed.More;
  }

  closeEnds(): boolean {
    return true;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** A chunked body. */
export class ChunkedDecoder implements BodyDecoder {
  trailers: HeaderMap | undefined = undefined;
  private state: State = S.Size;
  private size = 0;
  private digits = 0;
  private trailerBuf: Buffer | undefined;

  feed(buf: Buffer, start: number, sink: BodySink): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case S.Size: {
          const c = buf[i]!;
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.digits > MAX_CHUNK_SIZE_DIGITS) return Feed.Invalid;
            this.size = this.size * 16 + h;
            i++;
          } else if (this.digits === 0) return Feed.Invalid;
          else if (c === 0x0d) {
            this.state = S.SizeLf;
            i++;
          } else if (c === 0x3b /* ';' */ || c === 0x20 || c === 0x09) {
            this.state = S.Ext;
            i++;
          } else return Feed.Invalid;
          break;
        }
        case S.Ext: {
          // chunk extensions are ignored (and not forwarded), but must not hide a bare LF or CTL
          const c = buf[i]!;
          if (c === 0x0d) this.state = S.SizeLf;
          else if (c < 0x20 ? c !== 0x09 : c === 0x7f) return Feed.Invalid;
          i++;
          break;
        }
        case S.SizeLf:
          if (buf[i] !== 0x0a) return Feed.Invalid;
          i++;
          this.digits = 0;
          if (this.size === 0) {
            this.state = S.Trailer;
            this.trailerBuf = undefined;
          } else this.state = S.Data;
          break;
        case S.Data: {
          const take = Math.min(this.size, n - i);
          sink(buf.subarray(i, i + take));
          i += take;
          this.size -= take;
          if (this.size === 0) this.state = S.DataCr;
          break;
        }
        case S.DataCr:
          if (buf[i] !== 0x0d) return Feed.Invalid;
          this.state = S.DataLf;
          i++;
          break;
        case S.DataLf:
          if (buf[i] !== 0x0a) return Feed.Invalid;
          this.state = S.Size;
          i++;
          break;
        case S.Trailer:
          return this.trailerSection(buf, i);
        case S.Done:
          return i;
      }
    }
    return Feed.More;
  }

  /** The trailer section: header lines up to an empty line, parsed with the head parser's rules. */
  private trailerSection(buf: Buffer, i: number): number {
    const prior = this.trailerBuf?.length ?? 0;
    const acc = this.trailerBuf ? Buffer.concat([this.trailerBuf, buf.subarray(i)]) : buf.subarray(i);
    // Common case: no trailers at all, just the final CRLF.
    if (acc.length >= 2 && acc[0] === 0x0d && acc[1] === 0x0a) {
      this.state = S.Done;
      return i + 2 - prior;
    }
    if (acc.length < 2 && acc[0] !== 0x0a) {
      this.trailerBuf = Buffer.from(acc);
      return Feed.More;
    }
    if (acc[0] === 0x0a) return Feed.Invalid;
    // Parse as a head: a dummy start line, then the trailer fields.
    const withLine = Buffer.concat([Buffer.from('HTTP/1.1 200 T\r\n', 'latin1'), acc]);
    const r = parseHead(withLine, 0, false, MAX_TRAILER_BYTES);
    if (r === undefined) {
      this.trailerBuf = Buffer.from(acc);
      return Feed.More;
    }
    if (isHeadError(r)) return Feed.Invalid;
    const consumed = r.end - 16; // bytes of `acc` the trailer section used
    this.trailers = r.headers;
    this.state = S.Done;
    return i + consumed - prior;
  }

  closeEnds(): boolean {
    return false;
  }
}

/** Writes body chunks in chunked framing. */
export function chunkHeader(length: number): string {
  return `${length.toString(16)}\r\n`;
}
