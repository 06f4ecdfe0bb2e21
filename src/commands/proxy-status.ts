/**
 * `meshctl proxy-status [NAME[.NS]]`: in istioctl's style, one row per connected proxy with the
 * sync state of each config type (from the control plane's /debug/syncz), or, for one proxy, the
 * diff per type between what the control plane would send now and what the proxy runs (its admin
 * API's /config_dump), so "is my change on that proxy yet?" has a one-command answer.
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import type { CliContext } from '../context.js';
import {
  collectProxyStatus,
  formatExpiry,
  parseProxyName,
  proxyDiff,
  rowSynced,
  STATUS_TYPES,
  type ProxyStatusRow,
} from '../cluster/proxy-status.js';

interface ProxyStatusFlags {
  output?: string;
  ignoreStale?: boolean;
}

/** The table and, under it, one line per NACK with its reason. */
export function renderProxyStatus(
  ctx: CliContext,
  rows: readonly ProxyStatusRow[],
  renderTable: (h: readonly string[], r: readonly (readonly string[])[]) => string,
): string {
  const s = ctx.style;
  const paint = (status: string): string =>
    status === 'SYNCED'
      ? s.green(status)
      : status === 'NACKED' || status === 'DIVERGED'
        ? s.red(status)
        : s.yellow(status);
  const now = ctx.now();
  let out = renderTable(
    ['NAME', 'CONTROL PLANE', 'VERSION', ...STATUS_TYPES.map((t) => t.column), 'CERT EXPIRY'],
    rows.map((r) => [
      r.name,
      r.controlPlane,
      r.version,
      paint(r.clusters),
      paint(r.listeners),
      paint(r.routes),
      formatExpiry(r.certExpiry, now),
    ]),
  );
  for (const r of rows)
    for (const n of r.nacks)
      out += `${s.red('NACKED')} ${r.name} ${n.type}: ${n.message} (keeps version ${n.keptVersion})\n`;
  for (const r of rows) {
    if (r.clusters === 'DIVERGED')
      out += `${s.red('DIVERGED')} ${r.name}: runs a config the control plane did not send (changed through its admin API); restart the workload to get the mesh's config back\n`;
  }
  return out;
}

const command: CommandDefinition = {
  name: 'proxy-status',
  summary: 'Show whether each proxy runs the config the control plane would send',
  define(cmd, bind) {
    cmd
      .argument(
        '[name]',
        'a proxy (NAME or NAME.NAMESPACE): print the diff between the control plane config and what it runs',
      )
      .option('-o, --output <format>', 'output format: table or json', 'table')
      .option(
        '--ignore-stale',
        'exit 0 even when a proxy is not SYNCED or a registered workload has no connected proxy',
      )
      .addHelpText(
        'after',
        'Exit code: 1 when a proxy is not SYNCED (STALE, NACKED, NOT SENT), when a registered workload has no connected\n' +
          'proxy, or (with NAME) when the proxy does not run what the control plane would send; --ignore-stale returns 0.\n' +
          examples([
            'meshctl proxy-status',
            'meshctl proxy-status productpage-v1.default',
            'meshctl proxy-status -o json',
            'meshctl proxy-status --ignore-stale',
          ]),
      );
    bind<ProxyStatusFlags>(cmd, async (ctx, args, flags) => {
      const format = parseOutputFormat(flags.output, ['table', 'json'] as const, 'table');
      const target = args[0] !== undefined ? parseProxyName(args[0], ctx.namespace()) : undefined;
      const platform = await ctx.platform();
      const { toJson } = await import('../ui/printers.js');
      if (target) {
        const result = await proxyDiff(platform, target);
        const diffCode = flags.ignoreStale || result.types.every((t) => t.match) ? 0 : 1;
        if (format === 'json') {
          ctx.out(toJson(result));
          return diffCode;
        }
        const s = ctx.style;
        for (const t of result.types) {
          if (t.match) ctx.out(`${s.green(`${t.title} Match`)}\n`);
          else {
            ctx.out(
              `${s.red(`${t.title} Don't Match`)}${t.sentDiffersFromRunning ? ' (the proxy has not applied what was sent: see meshctl proxy-status)' : ''}\n`,
            );
            ctx.out(
              t.diff
                .split('\n')
                .map((l) =>
                  l.startsWith('+') && !l.startsWith('+++')
                    ? s.green(l)
                    : l.startsWith('-') && !l.startsWith('---')
                      ? s.red(l)
                      : l,
                )
                .join('\n'),
            );
          }
        }
        return diffCode;
      }
      const { rows, disconnected, unreachableControlPlanes, unverified } = await collectProxyStatus(platform);
      if (unreachableControlPlanes.length)
        ctx.logger.warn(
          `control plane replica(s) ${unreachableControlPlanes.join(', ')} did not answer: the proxies connected to them are not listed`,
        );
      // Never a silent SYNCED: say when a proxy's own view could not be read (e.g. no pods/exec permission).
      if (unverified.length)
        ctx.logger.warn(
          `could not ask ${unverified.length === 1 ? 'proxy' : `${unverified.length} proxies`} ${unverified.map((u) => u.proxy).join(', ')} which config ${unverified.length === 1 ? 'it runs' : 'they run'} (${unverified[0]!.reason}): a proxy changed through its admin API would not show DIVERGED`,
        );
      const healthy = rows.every(rowSynced) && disconnected.length === 0 && unreachableControlPlanes.length === 0;
      const code = healthy || flags.ignoreStale ? 0 : 1;
      if (format === 'json') {
        ctx.out(toJson({ proxies: rows, disconnectedWorkloads: disconnected.map((w) => `${w.name}.${w.namespace}`) }));
        return code;
      }
      if (!rows.length) ctx.err('No proxies are connected to the control plane.\n');
      else {
        const { renderTable } = await import('../ui/table.js');
        ctx.out(renderProxyStatus(ctx, rows, renderTable));
      }
      if (disconnected.length)
        ctx.err(
          `Registered workloads without a connected proxy: ${disconnected.map((w) => `${w.name}.${w.namespace}`).join(', ')}\n`,
        );
      if (code !== 0)
        ctx.err(`Not every proxy is SYNCED (exit 1; --ignore-stale to exit 0). Why: meshctl check --proxy\n`);
      return code;
    });
  },
};
export default command;
