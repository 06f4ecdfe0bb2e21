/**
 * Protocol detection on the first bytes of a connection: the HTTP/2 connection preface (h2c),
 * an HTTP/1.x request line, a TLS ClientHello, or anything else (opaque TCP). A connection that
 * sends nothing within the timeout is a server-speaks-first protocol (MySQL, SMTP): TCP. Ports
 * known to be server-speaks-first should be configured `protocol: tcp` to skip the wait.
 * The bytes read are put back (unshift), so the chosen handler sees the stream from its start.
 */
import type { Socket } from 'node:net';

/** What the first bytes say. */
export type DetectedProtocol = 'http1' | 'h2c' | 'tls' | 'tcp';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const MAX_METHOD = 8;

/** Classifies a prefix; undefined when more bytes are needed. */
export function classify(buf: Buffer): DetectedProtocol | undefined {
  // Empty lines before a request line are HTTP (RFC 9112 2.2; backends skip them): classified by
  // what follows, so "\r\nGET /admin" cannot pass as opaque TCP to an app that reads it as HTTP.
  let lead = 0;
  while (lead < buf.length && (buf[lead] === 13 || buf[lead] === 10)) lead++;
  if (lead > 0) {
    if (lead === buf.length) return lead > 64 ? 'tcp' : undefined;
    const rest = classify(buf.subarray(lead));
    return rest === 'http1' || rest === undefined ? rest : 'tcp';
  }
  if (buf.length === 0) return undefined;
  if (buf[0] === 0x16) {
    if (buf.length < 2) return undefined;
    return buf[1] === 0x03 ? 'tls' : 'tcp';
  }
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? 'h2c' : undefined;
  const sp = buf.indexOf(0x20);
  if (sp < 0) {
    if (buf.length > MAX_METHOD) return 'tcp';
    const s = buf.toString('latin1');
    return METHODS.some((m) => m.startsWith(s)) ? undefined : 'tcp';
  }
  return METHODS.includes(buf.toString('latin1', 0, sp)) ? 'http1' : 'tcp';
}

/** Reads until the protocol is known (or the timeout passes), puts the bytes back, reports it. */
export function detectProtocol(socket: Socket, timeoutMs: number, done: (p: DetectedProtocol) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (p: DetectedProtocol): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.pause();
    if (buf.length > 0) socket.unshift(buf);
    done(p);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const p = classify(buf);
    if (p) finish(p);
  };
  const onEnd = (): void => finish('tcp');
  const timer = setTimeout(() => finish('tcp'), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
}
