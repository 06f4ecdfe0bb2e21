/**
 * `meshctl upgrade`: moves the installed mesh to this meshctl's version. Applies the same manifests
 * as install (server-side apply; the root CA is kept), waits for the control plane rollout, then
 * lists the injected proxies still running an older version, with the command that restarts each
 * workload. `--dry-run` lists what would change and changes nothing. Running it twice is harmless.
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { collect, filenameOption } from './manifest-inputs.js';
import { UsageError } from '../errors.js';
import { Symbols } from '../ui/style.js';
import { parseDuration } from '../config/duration.js';
import type { PlatformKind } from '../cluster/index.js';
import { operationIo } from './platform-of.js';
import { rootCaSource } from './root-ca.js';

/** The flags of `meshctl upgrade`. */
export interface UpgradeFlags {
  set?: string[];
  filename?: string[];
  dryRun?: boolean;
  yes?: boolean;
  timeout?: string;
  output?: string;
}

/** Checks the arguments and flags before any I/O: no argument, the output format, --timeout, and Kubernetes. */
export function validate(
  args: readonly string[],
  flags: UpgradeFlags,
  platform: PlatformKind,
): { format: 'table' | 'json'; timeoutMs: number } {
  const format = parseOutputFormat(flags.output, ['table', 'json'] as const, 'table');
  if (args.length) throw new UsageError(`unexpected argument ${args[0]}`);
  const timeoutMs = parseDuration(flags.timeout ?? '5m');
  if (timeoutMs === undefined || timeoutMs <= 0)
    throw new UsageError(`--timeout ${flags.timeout}: not a duration`, 'write it like 30s or 5m');
  if (platform !== 'kubernetes') {
    throw new UsageError(
      'meshctl upgrade is for Kubernetes',
      "on the local platform restart the control plane with this meshctl: 'meshctl uninstall --local && meshctl install --local'",
    );
  }
  return { format, timeoutMs };
}

const command: CommandDefinition = {
  name: 'upgrade',
  summary: "Upgrade the mesh on the cluster to this meshctl's version and list proxies to restart",
  define(cmd, bind) {
    filenameOption(cmd, 'values (the same as at install)')
      .option(
        '--set <key=value>',
        'override a value, as at install (repeatable); give the same ones as at install',
        collect,
        [],
      )
      .option(
        '--dry-run',
        'list what would change (checked by the API server with a server-side dry run), change nothing',
      )
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--timeout <duration>', 'how long to wait for the control plane rollout', '5m')
      .option('-o, --output <format>', 'output format: table or json', 'table')
      .addHelpText(
        'after',
        examples([
          'meshctl upgrade --dry-run',
          'meshctl upgrade -y',
          'meshctl upgrade --set controlPlane.replicas=3 -y',
        ]),
      );
    bind<UpgradeFlags>(cmd, async (ctx, args, flags) => {
      const { format, timeoutMs } = validate(args, flags, ctx.platformKind());
      const [
        { readSources },
        { parseYamlValue },
        { defaultValues, resolveValues },
        { defaultProxyImage, meshctlVersion },
      ] = await Promise.all([
        import('../config/sources.js'),
        import('../config/documents.js'),
        import('../install/values.js'),
        import('../version.js'),
      ]);
      const files = await readSources(flags.filename ?? [], { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
      const values = resolveValues(
        defaultValues(defaultProxyImage()),
        files.map((f) => ({ name: f.name, values: parseYamlValue(f.text, f.name) })),
        flags.set ?? [],
      );
      const version = meshctlVersion();
      const platform = await ctx.platform();
      if (!platform.upgrade)
        throw new UsageError(
          'meshctl upgrade is for Kubernetes',
          "on the local platform restart the control plane with this meshctl: 'meshctl uninstall --local && meshctl install --local'",
        );
      const s = ctx.style;
      const { declined, report } = await platform.upgrade(
        {
          values,
          rootCa: await rootCaSource(values.ca),
          version,
          dryRun: Boolean(flags.dryRun),
          yes: Boolean(flags.yes),
          timeoutMs,
        },
        operationIo(ctx, { quiet: format !== 'table' }),
      );
      if (declined) {
        ctx.out(`${declined}\n`);
        return 1;
      }
      if (format === 'json') {
        const { toJson } = await import('../ui/printers.js');
        ctx.out(
          toJson({
            version,
            dryRun: Boolean(flags.dryRun),
            ...(report.planned ? { changes: report.planned } : {}),
            ...(report.install ? { applied: [...report.install.crds, ...report.install.components] } : {}),
            outdatedProxies: report.outdated,
          }),
        );
        return 0;
      }
      if (report.planned) {
        if (!report.planned.length)
          ctx.out(
            `${s.green(Symbols.ok)} Dry run: the mesh already matches meshctl ${version}; upgrade would change nothing\n`,
          );
        else {
          ctx.out(
            `Dry run: upgrading to meshctl ${version} would change ${report.planned.length} object(s) (nothing was changed):\n`,
          );
          for (const c of report.planned) {
            const shown = c.fields.slice(0, 8);
            ctx.out(
              `  ${c.action === 'create' ? 'create' : 'change'} ${c.object}${shown.length ? `: ${shown.join(', ')}${c.fields.length > shown.length ? `, … (${c.fields.length - shown.length} more)` : ''}` : ''}\n`,
            );
          }
        }
      } else {
        ctx.out(`${s.green(Symbols.ok)} Mesh upgraded to meshctl ${version}\n`);
      }
      if (!report.outdated.length) ctx.out(`${s.green(Symbols.ok)} Every injected proxy runs ${version}\n`);
      else {
        const { renderTable } = await import('../ui/table.js');
        ctx.out(
          `\n${s.yellow(Symbols.warn)} ${report.outdated.length} injected proxy(ies) run an older version than ${version}; restart their workloads to get the new proxy:\n`,
        );
        ctx.out(
          renderTable(
            ['NAMESPACE', 'POD', 'PROXY VERSION', 'WORKLOAD'],
            report.outdated.map((o) => [o.namespace, o.pod, o.version, o.workload]),
          ),
        );
        for (const cmdLine of [...new Set(report.outdated.map((o) => o.restart))]) ctx.out(`  ${cmdLine}\n`);
      }
      return 0;
    });
  },
};
export default command;
