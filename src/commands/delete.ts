/** `meshctl delete`: removes mesh config from the platform, by file (`-f`) or by kind and name. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { filenameOption } from './manifest-inputs.js';
import { UsageError } from '../errors.js';
import type { ConfigObjectKey } from '../cluster/index.js';

/** The flags of `meshctl delete`. */
export interface DeleteFlags {
  filename?: string[];
  output?: string;
  ignoreNotFound?: boolean;
}

/** What `meshctl delete` removes: the objects of files, or a kind and names. */
export type DeleteTarget = { readonly files: string[] } | { readonly kind: string; readonly names: string[] };

/** Checks the arguments and flags before any I/O: either -f or a kind with names, and the output format. */
export function validate(
  args: readonly string[],
  flags: DeleteFlags,
): { format: 'text' | 'json'; target: DeleteTarget } {
  const format = parseOutputFormat(flags.output, ['text', 'json'] as const, 'text');
  const files = flags.filename ?? [];
  const [kind, ...names] = args;
  if (files.length > 0 && kind) throw new UsageError('give either -f or a kind and names, not both');
  if (files.length > 0) return { format, target: { files: [...files] } };
  if (!kind || names.length === 0) {
    throw new UsageError(
      'delete needs -f, or a kind and at least one name',
      'for example: meshctl delete -f vs.yaml, or meshctl delete virtualservice reviews',
    );
  }
  return { format, target: { kind, names } };
}

const command: CommandDefinition = {
  name: 'delete',
  summary: 'Delete mesh configuration from the platform',
  define(cmd, bind) {
    filenameOption(cmd, 'config')
      .argument('[kind]', 'kind of the object (virtualservice, vs, destinationrule, dr, service, ...)')
      .argument('[names...]', 'names of the objects')
      .option('-o, --output <format>', 'output format: text or json', 'text')
      .option('--ignore-not-found', 'succeed when an object does not exist')
      .addHelpText('after', examples(['meshctl delete -f reviews-canary.yaml', 'meshctl delete vs reviews -n shop']));
    bind<DeleteFlags>(cmd, async (ctx, args, flags) => {
      const { format, target } = validate(args, flags);
      const { renderOutcomes } = await import('./config-output.js');
      const { resolveKind } = await import('./config-kinds.js');
      let keys: ConfigObjectKey[];
      if ('files' in target) {
        const { readSources } = await import('../config/sources.js');
        const { manifestObjects, parseDocuments, splitApiVersion } = await import('../config/index.js');
        const sources = await readSources(target.files, { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
        keys = sources.flatMap((s) =>
          manifestObjects(parseDocuments(s.text, s.name)).map(({ object }) => {
            const meta = (object.metadata ?? {}) as { name?: string; namespace?: string };
            return {
              group: splitApiVersion(String(object.apiVersion ?? '')).group,
              kind: String(object.kind ?? ''),
              namespace: meta.namespace ?? ctx.namespace(),
              name: String(meta.name ?? ''),
            };
          }),
        );
      } else {
        const kind = resolveKind(target.kind);
        keys = target.names.map((name) => ({ group: kind.group, kind: kind.kind, namespace: ctx.namespace(), name }));
      }
      const platform = await ctx.platform();
      const outcomes = await platform.deleteConfig(keys);
      ctx.out(format === 'json' ? JSON.stringify(outcomes, null, 2) + '\n' : renderOutcomes(outcomes));
      const missing = outcomes.filter((o) => o.action === 'not found');
      if (missing.length > 0 && !flags.ignoreNotFound) {
        ctx.err(
          `Error: ${missing.length} object(s) not found\n  hint: check the names with 'meshctl get', or pass --ignore-not-found\n`,
        );
        return 1;
      }
      return 0;
    });
  },
};
export default command;
