/**
 * Socket reads and writes for the HTTP/1.1 fast path without node:stream's per-call machinery.
 *
 * Why: a proxied request costs two reads and two writes. Through node:stream each read allocates
 * a fresh ArrayBuffer (malloc, a backing store for the GC to sweep) and runs Readable.push and an
 * 'data' emit; each write runs Writable.write, a WriteWrap and a deferred callback. On this
 * project's benchmark machine that machinery was about a quarter of a minimal Node proxy's CPU per
 * request (bench/proxy: `direct I/O` in the README). Here a read lands in one shared buffer handed
 * to a callback (Node's documented `onread` option, extended to accepted sockets), and a write
 * goes straight to the socket's handle when nothing else is queued.
 *
 * Invariant for readers: the bytes passed to a direct reader live in ONE buffer shared by every
 * direct socket of the process and are valid only until the reader returns to the event loop
 * (synchronous code and the microtasks it queues). Whatever a reader keeps longer is copied
 * (`kept`, `own`).
 *
 * The internals used (the `onread` symbols of net.Socket, the stream_wrap binding's WriteWrap)
 * exist unchanged in Node 18 to 24; when any is missing, or a socket is not a plain TCP socket
 * (TLS, a pipe), everything falls back to the stream API. MESHCTL_DIRECT_IO=0 turns it off.
 */
import { Socket } from 'node:net';

/**
 * A write request of the stream_wrap binding. The binding calls `oncomplete` when a write it
 * could not finish at once has ended; `buffer` keeps a Buffer's bytes alive until then.
 */
interface WriteReq {
  oncomplete: (this: WriteReq, status: number) => void;
  buffer: Buffer | null;
  socket: Socket | null;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
  writeLatin1String(req: WriteReq, data: string): number;
  useUserBuffer(buf: Uint8Array): void;
}

interface Internals {
  WriteWrap: new () => WriteReq;
  state: Int32Array;
  lastWriteWasAsync: number;
  kBuffer: symbol;
  kBufferCb: symbol;
  /** the handle class of plain TCP sockets */
  TCP: abstract new (...args: never[]) => unknown;
}

function loadInternals(): Internals | undefined {
  if (process.env.MESHCTL_DIRECT_IO === '0') return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const sw = binding('stream_wrap') as {
      WriteWrap?: new () => WriteReq;
      streamBaseState?: Int32Array;
      kLastWriteWasAsync?: number;
    };
    const tcp = binding('tcp_wrap') as { TCP?: Internals['TCP'] };
    const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } });
    const syms = Object.getOwnPropertySymbols(probe);
    const kBuffer = syms.find((s) => s.description === 'kBuffer');
    const kBufferCb = syms.find((s) => s.description === 'kBufferCb');
    probe.destroy();
    if (
      !sw.WriteWrap ||
      !sw.streamBaseState ||
      sw.kLastWriteWasAsync === undefined ||
      !tcp.TCP ||
      !kBuffer ||
      !kBufferCb
    )
      return undefined;
    return {
      WriteWrap: sw.WriteWrap,
      state: sw.streamBaseState,
      lastWriteWasAsync: sw.kLastWriteWasAsync,
      kBuffer,
      kBufferCb,
      TCP: tcp.TCP,
    };
  } catch {
    return undefined;
  }
}

const internals = loadInternals();

/** Whether direct I/O is in use in this process. */
export const DIRECT_IO = internals !== undefined;

/** The one read buffer of every direct socket (see the invariant above). */
const SHARED = internals ? Buffer.allocUnsafe(64 * 1024) : Buffer.alloc(0);

type SocketInternals = Socket & { _handle: StreamHandle | null } & Record<symbol, unknown>;

function tcpHandle(socket: Socket): StreamHandle | undefined {
  const h = (socket as SocketInternals)._handle;
  return h !== null && internals !== undefined && h instanceof internals.TCP ? h : undefined;
}

/** Receives bytes read: `buf[0..n)`, borrowed (see the invariant above). */
export type DirectReader = (buf: Buffer, n: number) => void;

/**
 * Makes `reader` the receiver of everything `socket` reads from now on; false when the socket
 * cannot be read directly (the caller listens to 'data' instead). Bytes already buffered in the
 * socket (put back by protocol detection) are delivered first, synchronously. 'end', 'close' and
 * 'error' are emitted as usual; pause() and resume() work as usual.
 */
export function readDirect(socket: Socket, reader: DirectReader): boolean {
  const h = tcpHandle(socket);
  if (h === undefined) return false;
  const s = socket as SocketInternals;
  const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  s[internals!.kBuffer] = SHARED;
  s[internals!.kBufferCb] = (n: number, buf: Buffer): void => reader(buf, n);
  h.useUserBuffer(SHARED);
  if (buffered !== null && buffered.length > 0) reader(buffered, buffered.length);
  return true;
}

/**
 * Ends direct reading: from now on what the socket reads is pushed into it as a normal readable
 * (copied), for a consumer that listens to 'data' or pipes (node:http after a hand-off).
 */
export function endDirectRead(socket: Socket): void {
  const s = socket as SocketInternals;
  if (internals === undefined || s[internals.kBufferCb] === undefined) return;
  s[internals.kBufferCb] = (n: number, buf: Buffer): boolean => socket.push(Buffer.from(buf.subarray(0, n)));
}

/** Whether `b` is (a view of) the shared read buffer: its bytes are valid only until the reader returns. */
export function borrowed(b: Buffer): boolean {
  return internals !== undefined && b.buffer === SHARED.buffer;
}

/** `b` itself, or a copy when it is borrowed from the shared read buffer: for bytes kept past the read. */
export function kept(b: Buffer): Buffer {
  return borrowed(b) ? Buffer.from(b) : b;
}

/** A copy of `buf[start..end)` that outlives the read it came from. */
export function own(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}

function onWriteComplete(this: WriteReq, status: number): void {
  const socket = this.socket!;
  this.buffer = null;
  this.socket = null;
  if (status < 0 && !socket.destroyed)
    socket.destroy(Object.assign(new Error(`write failed (${status})`), { errno: status, syscall: 'write' }));
}

/**
 * The request object of the next write. A write the kernel took whole never reaches the binding's
 * request tracking, so one object serves every such write; one that went async belongs to that
 * write until it completes, and a new one is made.
 */
let spare: WriteReq | undefined;

function newWriteReq(): WriteReq {
  const req = new internals!.WriteWrap();
  req.oncomplete = onWriteComplete;
  req.buffer = null;
  req.socket = null;
  return req;
}

/** The socket's handle when a write may go straight to it (nothing queued in the stream), else undefined. */
function directHandle(socket: Socket): StreamHandle | undefined {
  const h = tcpHandle(socket);
  if (
    h === undefined ||
    socket.connecting ||
    socket.destroyed ||
    !socket.writable ||
    socket.writableLength > 0 ||
    socket.writableCorked > 0
  )
    return undefined;
  return h;
}

/** Writes through the handle; true when the write completed at once (nothing of `data` is kept). */
function dispatch(h: StreamHandle, socket: Socket, data: Buffer | string): boolean {
  const i = internals!;
  const req = spare ?? newWriteReq();
  const err = typeof data === 'string' ? h.writeLatin1String(req, data) : h.writeBuffer(req, data);
  if (err !== 0) {
    socket.destroy(Object.assign(new Error(`write failed (${err})`), { errno: err, syscall: 'write' }));
    return true;
  }
  if (i.state[i.lastWriteWasAsync] === 0) {
    spare = req;
    return true;
  }
  // The rest is sent by libuv later: this request is that write's now, and a Buffer's bytes must
  // stay alive until it completes (strings are copied by the binding).
  spare = undefined;
  req.socket = socket;
  if (typeof data !== 'string') req.buffer = data;
  return false;
}

/**
 * Writes a whole message part (a head, a complete response) to `socket`: straight to its handle
 * when nothing is queued in the socket's own stream, else through it, so order is always kept.
 * Backpressure is not reported: callers write bounded amounts here and stream bodies with write().
 */
export function writeDirect(socket: Socket, data: Buffer | string): void {
  const h = directHandle(socket);
  if (h !== undefined) dispatch(h, socket, data);
  else if (typeof data === 'string') socket.write(data, 'latin1');
  else socket.write(data);
}

/**
 * Writes `buf[0..len)` of a buffer the caller reuses for every message. True when the caller may
 * reuse it at once; false when the buffer now belongs to a write still in progress (the caller
 * takes a new one). Through the stream (not a plain TCP socket, or writes queued), a copy is written.
 */
export function writeScratch(socket: Socket, buf: Buffer, len: number): boolean {
  const view = buf.subarray(0, len);
  const h = directHandle(socket);
  if (h !== undefined) return dispatch(h, socket, view);
  socket.write(Buffer.from(view));
  return true;
}
