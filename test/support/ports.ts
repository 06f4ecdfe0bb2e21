/**
 * Ports for configs that must name their port before anything binds it (a gateway's listeners, an app the
 * sidecar's config points at, a process started later).
 *
 * Why not "listen on 0, close, return the port": port 0 is drawn from the kernel's ephemeral range, the same range
 * every outgoing connection of every parallel test takes its local port from. Between the pick and the real bind,
 * another test's connection can take the port and the bind fails (EADDRINUSE: a gateway NACKs its listener and a
 * test times out waiting for the ACK; seen in CI). So ports come from below the ephemeral range, which outgoing
 * connections never use, split into one slice per vitest worker (VITEST_POOL_ID) so parallel files do not draw the
 * same one, handed out in turn within the slice, and each checked free by binding it before it is returned.
 */
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';

/** The first port above the bench's fixed ports (bench/proxy uses 18081-18099). */
const FIRST = 20_000;
/** Ports per vitest worker. */
const SLICE = 1_500;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > FIRST ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const LIMIT = ephemeralLow();
const SLICES = Math.max(1, Math.floor((LIMIT - FIRST) / SLICE));
const pool = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 1);
const sliceStart = FIRST + ((((pool - 1) % SLICES) + SLICES) % SLICES) * SLICE;
// Start at a point that differs per process, so a file run twice in a row (a retry) does not reuse the last ports.
let next = (process.pid * 7) % SLICE;

/**
 * Whether the port is free on every IPv4 address: checked on the wildcard address, which a socket holding the port on
 * any one address (a test cluster's 198.18.x.x, 127.0.0.N) blocks. A proxy's telemetry server and a gateway bind the
 * wildcard; a check on 127.0.0.1 alone passed such a port, and its bind then failed (EADDRINUSE 0.0.0.0:20464 in CI).
 */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** A loopback port free right now and outside the ephemeral range (see the file comment for why). */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < SLICE; tried++) {
    const port = sliceStart + (next++ % SLICE);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${sliceStart}-${sliceStart + SLICE - 1}`);
}

/** `count` distinct free loopback ports (see freePort). */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}
