/**
 * The original destination of a connection that iptables REDIRECTed to a capture listener:
 * getsockopt(fd, SOL_IP, SO_ORIGINAL_DST) for IPv4 and getsockopt(fd, SOL_IPV6,
 * IP6T_SO_ORIGINAL_DST) for IPv6, called through koffi (a prebuilt FFI: nothing is compiled at
 * install). The binding loads lazily on first use; where it cannot load (not Linux, no koffi
 * prebuild for the platform) the error says so instead of crashing the proxy at start-up.
 */
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { constants as osConstants, endianness } from 'node:os';
import { NativeBindingError } from '../../../errors.js';

/** Where a redirected connection was going. */
export interface OriginalDestination {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** getsockopt failed for this connection (e.g. ENOENT: no NAT entry, the connection was not redirected). */
export class OriginalDestinationError extends Error {
  constructor(
    readonly errno: number,
    readonly code: string,
  ) {
    super(
      `SO_ORIGINAL_DST failed: ${code} (${errno})${code === 'ENOENT' ? ': the connection was not redirected by iptables' : ''}`,
    );
    this.name = 'OriginalDestinationError';
  }
}

// <linux/in.h>, <linux/netfilter_ipv4.h>, <linux/netfilter_ipv6/ip6_tables.h>
const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80;
const IP6T_SO_ORIGINAL_DST = 80;
const AF_INET = 2;
const AF_INET6 = 10;
/** sizeof(struct sockaddr_in6): the larger of the two answers. */
const SOCKADDR_MAX = 28;
const LITTLE_ENDIAN = endianness() === 'LE';

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;
interface Binding {
  getsockopt: GetSockOpt;
  errno: () => number;
}

let binding: Binding | undefined;
let loadError: NativeBindingError | undefined;

/** Loads the binding once; throws NativeBindingError (every time) where it cannot load. */
export function loadOriginalDstBinding(): void {
  if (binding) return;
  if (loadError) throw loadError;
  if (process.platform !== 'linux') {
    loadError = new NativeBindingError(
      `SO_ORIGINAL_DST is Linux-only (this is ${process.platform}/${process.arch})`,
      'run transparent capture on Linux; elsewhere use explicit outbound ports or HTTP_PROXY',
    );
    throw loadError;
  }
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    // The process image already links libc: no library path to guess (glibc or musl).
    const libc = koffi.load(null);
    const fn = libc.func(
      'int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)',
    ) as unknown as GetSockOpt;
    binding = { getsockopt: fn, errno: () => koffi.errno() };
  } catch (err) {
    loadError = new NativeBindingError(
      `cannot load the native binding for SO_ORIGINAL_DST (koffi on ${process.platform}/${process.arch}): ${err instanceof Error ? err.message : String(err)}`,
      'reinstall meshctl with npm so that koffi installs its prebuilt binary for this platform (npm ci, with install scripts allowed)',
    );
    throw loadError;
  }
}

/** Whether SO_ORIGINAL_DST is usable here (loads the binding if needed). */
export function originalDstAvailable(): boolean {
  try {
    loadOriginalDstBinding();
    return true;
  } catch {
    return false;
  }
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

function fdOf(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new OriginalDestinationError(osConstants.errno.EBADF, 'EBADF');
  }
  return fd;
}

/** Parses a struct sockaddr_in / sockaddr_in6 as the kernel wrote it. */
export function parseSockaddr(buf: Buffer): OriginalDestination {
  // sa_family is in host byte order; the port and address are in network order.
  const family = LITTLE_ENDIAN ? buf.readUInt16LE(0) : buf.readUInt16BE(0);
  const port = buf.readUInt16BE(2);
  if (family === AF_INET) {
    return { address: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port, family: 'IPv4' };
  }
  if (family === AF_INET6) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(8 + i * 2).toString(16));
    return { address: compressIpv6(words), port, family: 'IPv6' };
  }
  throw new OriginalDestinationError(osConstants.errno.EAFNOSUPPORT, 'EAFNOSUPPORT');
}

function compressIpv6(words: string[]): string {
  // The longest run of zero words (at least two) becomes "::", as Node prints addresses.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/**
 * The original destination of an accepted socket. IPv4 connections accepted on a dual-stack
 * (`::`) listener arrive as IPv4-mapped addresses and are asked with SOL_IP, as Envoy does.
 * Throws OriginalDestinationError when the kernel has no answer (e.g. the connection came
 * straight to the listener, not through a REDIRECT rule).
 */
export function originalDestination(socket: Socket): OriginalDestination {
  loadOriginalDstBinding();
  const b = binding!;
  const fd = fdOf(socket);
  const local = socket.localAddress ?? '';
  const ipv6 = socket.localFamily === 'IPv6' && !local.toLowerCase().startsWith('::ffff:') && local.includes(':');
  const buf = Buffer.alloc(SOCKADDR_MAX);
  const len = [SOCKADDR_MAX];
  const rc = ipv6
    ? b.getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, buf, len)
    : b.getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, buf, len);
  if (rc !== 0) {
    const errno = b.errno();
    throw new OriginalDestinationError(errno, errnoNames.get(errno) ?? `errno ${errno}`);
  }
  return parseSockaddr(buf);
}
