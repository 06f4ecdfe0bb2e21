/**
 * `meshctl proxy-config log NAME[.NS] [--level LEVEL]`, as `istioctl proxy-config log`: shows a
 * sidecar's log level, or changes it through the admin API's `POST /logging`, authenticated with
 * that proxy's admin token (read by the platform backend, never printed).
 */
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { parseProxyName } from '../cluster/proxy-status.js';
import { LOG_LEVELS, type LogLevel } from '../proxy-runtime/ground/log.js';

/** What `proxy-config log` was asked, after validate(). */
export interface ProxyLogRequest {
  readonly target: { name: string; namespace: string; id: string };
  /** Absent: only show the current level. */
  readonly level?: LogLevel;
  readonly format: 'table' | 'json';
}

/** Envoy's level names Istio users type, mapped where the meaning is the same. */
const ENVOY_ALIASES: Readonly<Record<string, LogLevel>> = { warning: 'warn' };

/** Checks the arguments before any I/O: the proxy name and the level (one level: meshctl proxies have one logger). */
export function validate(
  name: string,
  level: string | undefined,
  format: 'table' | 'json',
  defaultNamespace: string,
): ProxyLogRequest {
  const target = parseProxyName(name, defaultNamespace);
  if (level === undefined) return { target, format };
  if (level.includes(':') || level.includes(',')) {
    throw new UsageError(
      `--level ${level}: meshctl proxies have one logger, not Envoy's per-component loggers`,
      `give one level: ${LOG_LEVELS.join(', ')} (e.g. --level debug)`,
    );
  }
  const l = ENVOY_ALIASES[level] ?? level;
  if (!(LOG_LEVELS as readonly string[]).includes(l)) {
    throw new UsageError(`--level ${level}: not a log level`, `use one of: ${LOG_LEVELS.join(', ')}`);
  }
  return { target, level: l as LogLevel, format };
}

/** Reads (and with a level, sets) the proxy's log level; prints the result. */
export async function run(ctx: CliContext, req: ProxyLogRequest): Promise<number> {
  const platform = await ctx.platform();
  const before = await platform.proxyAdminGet<{ level: string }>(req.target, '/logging');
  const after = req.level
    ? await platform.proxyAdminPost<{ level: string }>(req.target, `/logging?level=${encodeURIComponent(req.level)}`)
    : before;
  if (req.format === 'json') {
    const { toJson } = await import('../ui/printers.js');
    ctx.out(toJson({ proxy: req.target.id, level: after.level, ...(req.level ? { previous: before.level } : {}) }));
    return 0;
  }
  const { renderTable } = await import('../ui/table.js');
  ctx.out(renderTable(['PROXY', 'LEVEL'], [[req.target.id, after.level]]));
  if (req.level) ctx.err(`${ctx.errStyle.dim('note:')} ${req.target.id} log level ${before.level} -> ${after.level}\n`);
  return 0;
}
