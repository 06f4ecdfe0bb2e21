/**
 * `meshctl proxy run --config FILE`: runs the sidecar proxy from a static config file (the same
 * format the control plane streams). The file is re-applied when it changes or on SIGHUP; an
 * invalid new version is refused with its errors and the running one is kept. SIGTERM/SIGINT
 * drain in-flight requests (up to the config's drainPeriod) and exit 0.
 */
import { readFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BindAction } from './command.js';
import { examples } from './command.js';
import { ConfigInvalidError, InputNotFoundError, UsageError } from '../errors.js';
import { whenAborted, type CliContext } from '../context.js';

interface RunOptions {
  config?: string;
  adminPort?: string;
  telemetryPort?: string;
  logLevel?: string;
  accessLog?: boolean;
  adminTokenFile?: string;
  check?: boolean;
}

/** The smallest useful config, shown by --help. */
export const MINIMAL_CONFIG_EXAMPLE = `apiVersion: proxy.meshctl.dev/v1
version: "1"
listeners:
- name: outbound-http
  port: 15080                # clients send http://reviews:9080/... here
  direction: outbound
  chains:
  - routeConfig: outbound
routes:
- name: outbound
  virtualHosts:
  - name: reviews
    domains: ["reviews", "reviews:9080"]
    routes:
    - route:
      - cluster: reviews
      timeout: 5s
      retries: { attempts: 2, retryOn: "5xx,connect-failure" }
clusters:
- name: reviews
  endpoints:
  - { address: 127.0.0.1, port: 9080 }`;

function parsePort(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${flag} ${v}: not a port`, 'give a number from 0 to 65535');
  return n;
}

/** Reads and parses the config file; errors name the file, line and field. */
async function loadConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputNotFoundError(
      path,
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message,
    );
  }
  const { validateProxyConfigLazily } = await import('../protocol/proxy-config/index.js');
  // A valid JSON config (what the control plane and most tools write) needs no YAML parser: the
  // parser (~13 MB of RSS for the life of the sidecar) is loaded only for YAML, or to point at
  // the line of an error; nor TypeBox (~3 MB), loaded only to name what is wrong.
  if (text.trimStart().startsWith('{')) {
    let object: unknown;
    try {
      object = JSON.parse(text);
    } catch {
      object = undefined;
    }
    const quick = object === undefined ? undefined : await validateProxyConfigLazily(object);
    if (quick?.ok) return quick.config;
  }
  const { parseDocuments } = await import('../config/documents.js');
  const docs = parseDocuments(text, path).filter((d) => d.object !== null);
  if (docs.length !== 1) throw new ConfigInvalidError(path, [`expected exactly one document, found ${docs.length}`]);
  const doc = docs[0]!;
  const v = await validateProxyConfigLazily(doc.object);
  if (!v.ok) {
    throw new ConfigInvalidError(
      path,
      v.errors.map((e) => {
        const fieldPath = e.slice(0, e.indexOf(':'));
        const segments =
          fieldPath === '(root)'
            ? []
            : [...fieldPath.matchAll(/([^.[\]"]+)|\[(\d+)\]|\["([^"]+)"\]/g)].map((m) =>
                m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3])!,
              );
        const pos = doc.positionOf(segments);
        return `${pos.file}:${pos.line}:${pos.column}: ${e}`;
      }),
      'fix the fields named above; `meshctl proxy run --help` shows a minimal config',
    );
  }
  return v.config;
}

/**
 * Where the admin token goes by default: beside the proxy's identity (the key's directory, which
 * only the proxy's user should read), else beside the config file.
 */
export function defaultAdminTokenFile(config: unknown, configFile: string): string {
  const key = (config as { identity?: { privateKey?: string } }).identity?.privateKey;
  return join(key && !key.startsWith('memory:') ? dirname(key) : dirname(configFile), 'admin-token');
}

async function run(ctx: CliContext, opts: RunOptions): Promise<number> {
  if (opts.check && !opts.config)
    throw new UsageError('--check needs --config FILE', 'meshctl proxy run --config proxy.yaml --check');
  if (!opts.config) {
    // An injected pod: everything comes from the injector's environment.
    const { isInjectedPod } = await import('../proxy-runtime/bootstrap/kubernetes.js');
    if (isInjectedPod(ctx.io.env)) {
      const { runKubernetesSidecar } = await import('./proxy-run-kubernetes.js');
      return runKubernetesSidecar(ctx, {
        ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
        ...(opts.accessLog === false ? { accessLog: false } : {}),
        ...(opts.adminPort ? { adminPort: parsePort('--admin-port', opts.adminPort)! } : {}),
        ...(opts.telemetryPort ? { telemetryPort: parsePort('--telemetry-port', opts.telemetryPort)! } : {}),
      });
    }
    throw new UsageError(
      '--config FILE is required (outside a pod injected by meshctl)',
      'run `meshctl proxy run --help` for a minimal config',
    );
  }
  const adminPort = parsePort('--admin-port', opts.adminPort);
  const telemetryPort = parsePort('--telemetry-port', opts.telemetryPort);
  const { isLogLevel, ProxyLog } = await import('../proxy-runtime/ground/log.js');
  if (opts.logLevel !== undefined && !isLogLevel(opts.logLevel))
    throw new UsageError(`--log-level ${opts.logLevel}: unknown level`, 'use off, error, warn, info or debug');
  const file = resolve(ctx.io.cwd, opts.config);
  const config = await loadConfigFile(file);
  if (opts.check) {
    const c = config as { version?: string; listeners: unknown[]; routes?: unknown[]; clusters?: unknown[] };
    ctx.out(
      `${file}: valid proxy config${c.version ? ` (version ${c.version})` : ''}: ${c.listeners.length} listener(s), ` +
        `${c.routes?.length ?? 0} route config(s), ${c.clusters?.length ?? 0} cluster(s)\n`,
    );
    return 0;
  }
  const { Proxy, ProxyConfigRejected } = await import('../proxy-runtime/proxy.js');
  const log = new ProxyLog(
    (opts.logLevel as 'info' | undefined) ?? (ctx.io.env.MESH_PROXY_LOG_LEVEL as 'info' | undefined) ?? 'info',
    (l) => ctx.err(l),
  );
  let stopped!: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  let proxy: import('../proxy-runtime/proxy.js').Proxy;
  // Capture listeners learn where each connection was going from SO_ORIGINAL_DST (native, so loaded only when needed).
  const needsCapture = (config as { listeners: { mode?: string }[] }).listeners.some((l) => l.mode === 'capture');
  const resolveOriginalDst = needsCapture
    ? (await import('../proxy-runtime/listeners/capture/resolver.js')).captureOriginalDestinationResolver((reason) =>
        log.debug('capture: connection refused', { reason }),
      )
    : undefined;
  try {
    proxy = await Proxy.start(config, {
      resolveOriginalDst,
      adminPort,
      telemetryPort,
      log,
      accessLog: opts.accessLog === false ? null : ctx.io.stdout,
      onQuit: () => stopped(),
      guardProcess: true,
      adminTokenFile: opts.adminTokenFile
        ? resolve(ctx.io.cwd, opts.adminTokenFile)
        : defaultAdminTokenFile(config, file),
    });
  } catch (err) {
    if (err instanceof ProxyConfigRejected) throw new ConfigInvalidError(file, err.errors);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES')
      throw new UsageError(
        `cannot bind the admin or telemetry port: ${(err as Error).message}`,
        'free the port or pass --admin-port / --telemetry-port',
      );
    throw err;
  }
  const ports = [...proxy.current().listeners.keys()].map((n) => `${n}=${proxy.listenerPort(n)}`).join(' ');
  log.info('proxy started', {
    version: proxy.version,
    listeners: ports,
    admin: `127.0.0.1:${proxy.adminPort}`,
    telemetry: proxy.telemetryPort,
  });

  let reloadTimer: NodeJS.Timeout | undefined;
  const reload = (): void => {
    void loadConfigFile(file)
      .then((c) => proxy.applyConfig(c))
      .catch((err: Error & { problems?: string[] }) => {
        log.warn('config file rejected, keeping the last good config', { file });
        proxy.noteRejected('(file)', [...(err.problems ?? [err.message])]);
      });
  };
  const watcher = watch(file, () => {
    if (reloadTimer) clearTimeout(reloadTimer);
    reloadTimer = setTimeout(reload, 100);
  });
  const stop = (): void => {
    void proxy.close().then(() => stopped());
  };
  const unlisten = whenAborted(ctx.signal, stop);
  const offHangup = ctx.onHangup(reload);
  try {
    await done;
  } finally {
    watcher.close();
    if (reloadTimer) clearTimeout(reloadTimer);
    unlisten();
    offHangup();
  }
  log.info('proxy stopped');
  return 0;
}

/** Declares `run` under the `proxy` command. */
export function defineProxyRun(parent: Command, bind: BindAction): Command {
  const cmd = parent
    .command('run')
    .description('Run the sidecar proxy from a config file (format proxy.meshctl.dev/v1)')
    .option('-c, --config <file>', 'proxy config (YAML or JSON, format proxy.meshctl.dev/v1)')
    .option('--admin-port <port>', 'admin API port on 127.0.0.1 (default: config admin.port, else 15000)')
    .option('--telemetry-port <port>', 'telemetry port (default: config telemetry.port, else 15020)')
    .option('--log-level <level>', 'off, error, warn, info or debug (changeable at runtime: POST /logging?level=)')
    .option('--no-access-log', 'do not write the JSON access log to stdout')
    .option(
      '--check',
      'validate the config file as the proxy does (schema, names, regexes; errors with file:line) and exit without serving',
    )
    .option(
      '--admin-token-file <path>',
      'where to write the admin token (0600) that POST admin endpoints need (default: beside the identity key, else the config file)',
    )
    .addHelpText(
      'after',
      `\nMinimal config:\n${MINIMAL_CONFIG_EXAMPLE.split('\n')
        .map((l) => `  ${l}`)
        .join('\n')}\n` +
        examples([
          'meshctl proxy run --config proxy.yaml',
          'meshctl proxy run -c proxy.yaml --admin-port 0 --log-level debug',
          'meshctl proxy run -c proxy.yaml --check   # exit 0 when valid, else every problem by file:line',
          'curl -s 127.0.0.1:15000/config_dump',
        ]),
    );
  bind<RunOptions>(cmd, (ctx, _args, opts) => run(ctx, opts));
  return cmd;
}
