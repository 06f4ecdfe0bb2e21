/**
 * The life of a `meshctl run` workload, in the order that loses no request:
 *   start: register (not serving) -> sidecar ready -> app ready (its port accepts, or --ready-path
 *          answers 2xx/3xx) -> serving (an endpoint from now on);
 *   stop:  not serving -> every proxy that may route to it ACKed that -> in-flight requests drained
 *          -> the app stopped (SIGTERM, SIGKILL after a grace period) -> the sidecar closed -> unregistered.
 * Clients' sidecars still retry a request that found the endpoint gone (Istio's default retry policy).
 */
import { connect } from 'node:net';
import { request } from 'node:http';

/** How the app is judged ready. */
export interface ReadyProbe {
  readonly port: number;
  /** HTTP path answered 200-399 when ready (as a Kubernetes httpGet probe); absent: the port accepts. */
  readonly path?: string;
}

/** One probe attempt: true when the app is ready. */
export function probeOnce(p: ReadyProbe, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    if (p.path === undefined) {
      const s = connect({ host: '127.0.0.1', port: p.port });
      const done = (ok: boolean): void => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(timeoutMs, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
      return;
    }
    const target = { host: '127.0.0.1', port: p.port, path: p.path, method: 'GET', agent: false, timeout: timeoutMs };
    const req = request(target, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Polls the probe until the app is ready (true), `gone()` says the app exited (false) or the
 * deadline passes (false).
 */
export async function waitForApp(p: ReadyProbe, timeoutMs: number, gone: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    if (gone()) return false;
    if (await probeOnce(p)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** Waits until `inFlight()` is 0 or `maxMs` passed; resolves with what was still in flight. */
export async function drainInFlight(inFlight: () => number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  while (inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return inFlight();
}
