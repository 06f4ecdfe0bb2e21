/**
 * `meshctl proxy run` without --config inside an injected pod: the sidecar configured from the
 * injector's environment (src/proxy-runtime/bootstrap/kubernetes.ts). Runs until SIGTERM/SIGINT (the
 * pod terminates: it serves until its app has exited and nothing is in flight, at least the
 * terminationDrainDuration, then exits 0) or /quitquitquit (drain, exit 0).
 */
import { whenAborted, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';

/** Runs the Kubernetes sidecar; resolves with the exit code. */
export async function runKubernetesSidecar(
  ctx: CliContext,
  opts: { logLevel?: string; accessLog?: boolean; adminPort?: number; telemetryPort?: number },
): Promise<number> {
  const [{ startKubernetesSidecar }, { isLogLevel, ProxyLog }, { meshctlVersion }] = await Promise.all([
    import('../proxy-runtime/bootstrap/kubernetes.js'),
    import('../proxy-runtime/ground/log.js'),
    import('../version.js'),
  ]);
  const level = opts.logLevel ?? ctx.io.env.MESH_PROXY_LOG_LEVEL ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`log level ${level}: unknown`, 'use off, error, warn, info or debug');
  const log = new ProxyLog(level, (l) => ctx.err(l));
  let quit!: (how: 'signal' | 'quit') => void;
  const done = new Promise<'signal' | 'quit'>((r) => (quit = r));
  const unlisten = whenAborted(ctx.signal, () => quit('signal'));
  try {
    const starting = startKubernetesSidecar({
      env: ctx.io.env,
      log,
      accessLog: opts.accessLog === false ? null : ctx.io.stdout,
      proxyVersion: meshctlVersion(),
      ...(opts.adminPort !== undefined ? { adminPort: opts.adminPort } : {}),
      ...(opts.telemetryPort !== undefined ? { healthPort: opts.telemetryPort } : {}),
      onQuit: () => quit('quit'),
      signal: ctx.signal,
    });
    const sidecar = await Promise.race([starting, done.then(() => undefined)]);
    if (!sidecar) {
      log.info('stopped before the sidecar was up');
      void starting.then(
        (s) => s.close(),
        () => undefined,
      );
      return 0;
    }
    if ((await done) === 'signal') await sidecar.terminate();
    else await sidecar.close();
    log.info('proxy stopped');
    return 0;
  } finally {
    unlisten();
  }
}
