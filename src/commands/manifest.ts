/** `meshctl manifest generate`: prints exactly what `meshctl install` applies, for review or GitOps. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { collect, filenameOption } from './manifest-inputs.js';
import { defaultProxyImage, meshctlVersion } from '../version.js';
import { UsageError } from '../errors.js';

/** The flags of `meshctl manifest generate`. */
export interface GenerateFlags {
  set?: string[];
  filename?: string[];
  output?: string;
  crdsOnly?: boolean;
  skipCrds?: boolean;
  addons?: boolean;
}

/** Checks the flags before any I/O: the output format and which parts to print. */
export function validate(flags: GenerateFlags): { format: 'yaml' | 'json' } {
  const format = parseOutputFormat(flags.output, ['yaml', 'json'] as const, 'yaml');
  if (flags.crdsOnly && flags.skipCrds) throw new UsageError('--crds-only and --skip-crds cannot be used together');
  if (flags.addons && (flags.crdsOnly || flags.skipCrds))
    throw new UsageError('--addons prints only the add-ons: leave out --crds-only and --skip-crds');
  return { format };
}

const command: CommandDefinition = {
  name: 'manifest',
  summary: 'Print the Kubernetes manifests meshctl install applies',
  define(cmd, bind) {
    const generate = cmd
      .command('generate')
      .description('Print the CRDs and control plane manifests, rendered from values');
    filenameOption(generate, 'values')
      .option(
        '--set <key=value>',
        'override a value (repeatable): controlPlane.replicas=3, webhook.failurePolicy=Ignore, ...',
        collect,
        [],
      )
      .option('-o, --output <format>', 'yaml or json', 'yaml')
      .option('--crds-only', 'only the CustomResourceDefinitions')
      .option('--skip-crds', 'everything but the CustomResourceDefinitions')
      .option(
        '--addons',
        'only the observability add-ons: Prometheus scrape config and the Grafana dashboards ConfigMap',
      )
      .addHelpText(
        'after',
        examples([
          'meshctl manifest generate > mesh.yaml',
          'meshctl manifest generate --set controlPlane.replicas=3 --set webhook.failurePolicy=Ignore',
          'meshctl manifest generate -f values.yaml | kubectl apply --server-side -f -',
          'meshctl manifest generate --addons | kubectl apply -n monitoring -f -',
        ]),
      );
    bind<GenerateFlags>(generate, async (ctx, _args, flags) => {
      const { format } = validate(flags);
      const { readSources } = await import('../config/sources.js');
      const { parseDocuments } = await import('../config/documents.js');
      const { splitMeshConfig } = await import('../install/mesh-config.js');
      const { defaultValues, resolveValues } = await import('../install/values.js');
      const { renderComponents } = await import('../install/manifests.js');
      const { loadCrds } = await import('../install/crds.js');
      const { toJson, toYaml } = await import('../ui/printers.js');
      const files = await readSources(flags.filename ?? [], { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
      const split = splitMeshConfig(
        files.map((f) => ({
          name: f.name,
          docs: parseDocuments(f.text, f.name)
            .filter((d) => d.object !== null)
            .map((d) => d.object),
        })),
        flags.set ?? [],
      );
      for (const k of split.ignored)
        ctx.logger.warn(
          `[MESH0002] meshConfig.${k}: accepted but has no effect in meshctl (it reads tracing and access log settings)`,
        );
      const values = resolveValues(defaultValues(defaultProxyImage()), split.valueFiles, split.valueSets);
      const objects = flags.addons
        ? await (await import('../install/addons.js')).renderAddons(values.namespace)
        : [
            ...(flags.skipCrds ? [] : await loadCrds()),
            ...(flags.crdsOnly ? [] : renderComponents(values, meshctlVersion(), split.meshConfig)),
          ];
      if (format === 'json') ctx.out(toJson({ apiVersion: 'v1', kind: 'List', items: objects }));
      else ctx.out(objects.map((o) => toYaml(o)).join('---\n'));
      return 0;
    });
  },
};
export default command;
