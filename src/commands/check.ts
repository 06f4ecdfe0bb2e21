/**
 * `meshctl check`: verifies the mesh (or, with --pre, that it can be installed), category by category,
 * on the selected platform: src/checks/local/ or src/checks/kubernetes/ declare the checks, one runner
 * runs them, the renderers print them (streamed as a table, or at the end as json/short).
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { ErrorCode, MeshError, UsageError } from '../errors.js';
import { parseDuration } from '../config/duration.js';

/** The flags of `meshctl check`. */
export interface CheckFlags {
  pre?: boolean;
  proxy?: boolean;
  output?: string;
  wait: string;
}

/** Checks the flags before any I/O: the output format, --wait, and --pre without --proxy. */
export function validate(flags: CheckFlags): { format: 'table' | 'json' | 'short'; waitMs: number } {
  const format = parseOutputFormat(flags.output, ['table', 'json', 'short'] as const, 'table');
  const waitMs = parseDuration(flags.wait);
  if (waitMs === undefined)
    throw new UsageError(`--wait ${flags.wait}: not a duration`, 'use a duration such as 30s or 5m');
  if (flags.pre && flags.proxy)
    throw new UsageError(
      '--pre and --proxy cannot be used together',
      '--pre checks a machine before install; --proxy checks running proxies',
    );
  return { format, waitMs };
}

const command: CommandDefinition = {
  name: 'check',
  summary: 'Check that the mesh is healthy (or, with --pre, that it can be installed)',
  define(cmd, bind) {
    cmd
      .option('--pre', 'check the prerequisites of install instead of an installed mesh')
      .option(
        '--proxy',
        'also check the data plane: every proxy connected, synced, with a valid certificate (Kubernetes: -n NS for one namespace)',
      )
      .option('-o, --output <format>', 'output format: table, json or short', 'table')
      .option('--wait <duration>', 'retry failing checks that may still settle for up to this long', '0s')
      .addHelpText(
        'after',
        examples([
          'meshctl check --pre',
          'meshctl check --proxy',
          'meshctl check --proxy -n bookinfo',
          'meshctl check -o json --wait 1m',
        ]),
      );
    bind<CheckFlags>(cmd, async (ctx, _args, flags) => {
      const { format, waitMs } = validate(flags);
      const { runChecks } = await import('../checks/runner.js');
      const render = await import('../checks/render.js');
      const { meshctlVersion } = await import('../version.js');
      let run: (opts: Parameters<typeof runChecks>[2]) => ReturnType<typeof runChecks>;
      if (ctx.platformKind() === 'kubernetes') {
        const [{ kubernetesChecks }, { isKubernetesPlatform }, { MESH_NAMESPACE }] = await Promise.all([
          import('../checks/kubernetes/index.js'),
          import('../cluster/index.js'),
          import('../protocol/well-known.js'),
        ]);
        const platform = await ctx.platform();
        if (!isKubernetesPlatform(platform))
          throw new MeshError(ErrorCode.Internal, `check on Kubernetes got the ${platform.kind} platform`);
        let manifests:
          ReturnType<import('../checks/kubernetes/index.js').KubernetesCheckContext['manifests']> | undefined;
        const checkCtx: import('../checks/kubernetes/index.js').KubernetesCheckContext = {
          cluster: platform.cluster,
          platform,
          meshNamespace: MESH_NAMESPACE,
          cliVersion: meshctlVersion(),
          now: ctx.now,
          ...(ctx.globals.namespace ? { proxyNamespace: ctx.globals.namespace } : {}),
          manifests: () =>
            (manifests ??= (async () => {
              const [{ loadCrds }, { renderComponents }, { defaultValues }, { defaultProxyImage }] = await Promise.all([
                import('../install/crds.js'),
                import('../install/manifests.js'),
                import('../install/values.js'),
                import('../version.js'),
              ]);
              return {
                crds: await loadCrds(),
                components: renderComponents(defaultValues(defaultProxyImage()), meshctlVersion()),
              };
            })()),
        };
        const categories = kubernetesChecks({ pre: flags.pre === true, proxy: flags.proxy === true });
        run = (opts) => runChecks(categories, checkCtx, opts);
      } else {
        const { localChecks, localPreChecks } = await import('../checks/local/categories.js');
        const { isLocalPlatform, platformFor } = await import('../cluster/index.js');
        const platform = await platformFor('local', { home: ctx.meshHome() });
        if (!isLocalPlatform(platform))
          throw new MeshError(ErrorCode.Internal, `local check got the ${platform.kind} platform`);
        const categories = flags.pre ? localPreChecks() : localChecks({ proxies: flags.proxy === true });
        run = (opts) =>
          runChecks(
            categories,
            {
              platform,
              home: ctx.meshHome(),
              cliVersion: meshctlVersion(),
              now: ctx.now,
              nodeVersion: process.versions.node,
            },
            opts,
          );
      }
      let current: string | undefined;
      const report = await run({
        waitMs,
        onResult: (r) => {
          if (format !== 'table') return;
          if (r.category !== current) {
            ctx.out((current === undefined ? '' : '\n') + render.renderCategoryHeader(r.category));
            current = r.category;
          }
          ctx.out(render.renderResult(r, ctx.style));
        },
        onRetry: (_c, d, m) => ctx.logger.debug(`retrying "${d}": ${m}`),
      });
      if (format === 'table') ctx.out('\n' + render.renderVerdict(report, ctx.style));
      else if (format === 'short') ctx.out(render.renderShort(report, ctx.style));
      else ctx.out(render.renderJson(report));
      return report.success ? 0 : 1;
    });
  },
};
export default command;
