/**
 * `meshctl proxy wait-ready`: blocks until the local proxy reports ready. The classic-sidecar
 * injection runs it as the proxy container's postStart hook, which holds the app containers until
 * the proxy can carry their traffic (what Istio's holdApplicationUntilProxyStarts does).
 */
import type { Command } from 'commander';
import type { BindAction } from './command.js';
import { examples } from './command.js';
import { TimeoutError, UsageError } from '../errors.js';
import { ProxyPorts } from '../protocol/well-known.js';
import { parseDuration } from '../config/duration.js';

/** Checks the flags before any I/O: two durations and an http(s) URL. */
export function validate(flags: WaitReadyFlags): { timeoutMs: number; intervalMs: number; url: string } {
  const timeout = parseDuration(flags.timeout);
  const interval = parseDuration(flags.interval);
  if (timeout === undefined)
    throw new UsageError(`--timeout ${flags.timeout}: not a duration`, 'use a duration such as 60s or 2m');
  if (interval === undefined || interval <= 0)
    throw new UsageError(`--interval ${flags.interval}: not a positive duration`);
  if (!/^https?:\/\//.test(flags.url)) throw new UsageError(`--url ${flags.url}: expected an http:// URL`);
  return { timeoutMs: timeout, intervalMs: interval, url: flags.url };
}

/** The flags of `meshctl proxy wait-ready`. */
export interface WaitReadyFlags {
  timeout: string;
  url: string;
  interval: string;
}

/** Declares `wait-ready` under the `proxy` command. */
export function defineProxyWaitReady(parent: Command, bind: BindAction): Command {
  const cmd = parent
    .command('wait-ready')
    .description("Wait until the local proxy is ready (its telemetry port's /healthz/ready answers 200)")
    .option('--timeout <duration>', 'give up after this long', '120s')
    .option('--interval <duration>', 'time between checks', '200ms')
    .option('--url <url>', 'readiness URL', `http://127.0.0.1:${ProxyPorts.telemetry}/healthz/ready`)
    .addHelpText('after', examples(['meshctl proxy wait-ready --timeout 60s']));
  bind<WaitReadyFlags>(cmd, async (ctx, _args, flags) => {
    const { timeoutMs: timeout, intervalMs: interval } = validate(flags);
    const deadline = Date.now() + timeout;
    let last = 'no answer yet';
    for (;;) {
      try {
        const res = await fetch(flags.url, {
          signal: AbortSignal.timeout(Math.max(100, Math.min(interval * 5, 2000))),
        });
        await res.body?.cancel();
        if (res.status === 200) {
          ctx.err(`proxy is ready (${flags.url})\n`);
          return 0;
        }
        last = `answered ${res.status}`;
      } catch (err) {
        last = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new TimeoutError(
          `waiting for the proxy to be ready: ${flags.url} ${last}`,
          "check the proxy's logs: kubectl logs POD -c mesh-proxy",
        );
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  });
  return cmd;
}
