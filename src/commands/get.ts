/** `meshctl get`: lists mesh config stored on the platform, as a table or as YAML/JSON. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { UsageError } from '../errors.js';

/** The flags of `meshctl get`. */
export interface GetFlags {
  output?: string;
  allNamespaces?: boolean;
}

/** Checks the arguments and flags before any I/O: a kind, at most one name, and the output format. */
export function validate(
  args: readonly string[],
  flags: GetFlags,
): { format: 'table' | 'yaml' | 'json'; kind: string; name: string | undefined } {
  const format = parseOutputFormat(flags.output, ['table', 'yaml', 'json'] as const, 'table');
  const [kind, name] = args;
  if (!kind) throw new UsageError('get needs a kind', 'for example: meshctl get virtualservices');
  return { format, kind, name };
}

const command: CommandDefinition = {
  name: 'get',
  summary: 'List mesh configuration on the platform',
  define(cmd, bind) {
    cmd
      .argument(
        '<kind>',
        'kind to list (virtualservice, vs, destinationrule, dr, serviceprofile, sp, trafficsplit, service, ...)',
      )
      .argument('[name]', 'only this object')
      .option('-o, --output <format>', 'output format: table, yaml or json', 'table')
      .option('-A, --all-namespaces', 'list across all namespaces')
      .addHelpText(
        'after',
        examples(['meshctl get vs', 'meshctl get dr reviews -o yaml', 'meshctl get trafficsplits -A']),
      );
    bind<GetFlags>(cmd, async (ctx, args, flags) => {
      const { format, kind: kindArg, name } = validate(args, flags);
      const { resolveKind } = await import('./config-kinds.js');
      const kind = resolveKind(kindArg);
      const platform = await ctx.platform();
      const namespace = flags.allNamespaces ? undefined : ctx.namespace();
      const objects = (await platform.listConfig({ kind: kind.kind, namespace }))
        .filter((o) =>
          kind.group === '' ? !String(o.apiVersion).includes('/') : String(o.apiVersion).startsWith(`${kind.group}/`),
        )
        .filter((o) => name === undefined || o.metadata.name === name);
      if (name !== undefined && objects.length === 0) {
        const { NotFoundError } = await import('../errors.js');
        throw new NotFoundError(
          `${kind.kind} "${name}" in namespace ${namespace ?? '(any)'}`,
          `list them with 'meshctl get ${kindArg}${flags.allNamespaces ? ' -A' : ''}'`,
        );
      }
      const { toJson, toYaml } = await import('../ui/printers.js');
      if (format === 'json') {
        ctx.out(toJson(name !== undefined ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }));
      } else if (format === 'yaml') {
        ctx.out(name !== undefined ? toYaml(objects[0]) : objects.map((o) => toYaml(o)).join('---\n'));
      } else if (objects.length === 0) {
        ctx.err(`No ${kind.kind} found${namespace ? ` in namespace ${namespace}` : ''}.\n`);
      } else {
        const { renderTable } = await import('../ui/table.js');
        const rows = objects.map((o) => [
          ...(flags.allNamespaces ? [o.metadata.namespace ?? ''] : []),
          o.metadata.name,
          String(o.apiVersion),
        ]);
        ctx.out(renderTable([...(flags.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'APIVERSION'], rows));
      }
      return 0;
    });
  },
};
export default command;
