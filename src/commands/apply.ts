/** `meshctl apply`: stores mesh config (and Services) on the platform, validated first: all or nothing. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { filenameOption, requireFilenames } from './manifest-inputs.js';

interface ApplyFlags {
  filename?: string[];
  output?: string;
}

/**
 * The warnings and notes of valid objects among `sources`, as analyze words them:
 * `Warning [MESH0002] (VirtualService reviews.default) vs.yaml:12:5: spec.http[0].mirrors: ...`.
 */
export async function applyWarnings(sources: readonly { name: string; text: string }[], defaultNamespace: string): Promise<string[]> {
  const { formatIssue, manifestObjects, parseDocuments, validateResource } = await import('../config/index.js');
  const { validationMessageType } = await import('../analyze/index.js');
  const out: string[] = [];
  for (const s of sources) {
    for (const input of manifestObjects(parseDocuments(s.text, s.name))) {
      const r = validateResource(input, { defaultNamespace });
      if (r.errors.length || !r.kind) continue;
      const id = `${r.identity.kind} ${r.identity.name}${r.identity.namespace ? `.${r.identity.namespace}` : ''}`;
      for (const w of [...r.warnings, ...r.notes]) {
        const type = validationMessageType(w.rule, w.severity);
        out.push(`${type.level} [${type.code}] (${id}) ${formatIssue(w)}`);
      }
    }
  }
  return out;
}

const command: CommandDefinition = {
  name: 'apply',
  summary: 'Apply mesh configuration (Istio, Linkerd, SMI resources and Services) to the platform',
  define(cmd, bind) {
    filenameOption(cmd, 'config')
      .option('-o, --output <format>', 'output format: text or json', 'text')
      .addHelpText(
        'after',
        examples([
          'meshctl apply -f reviews-canary.yaml',
          'meshctl apply -f k8s/ --local',
          'kustomize build overlays/prod | meshctl apply -f -',
          '',
          'Every object is validated before anything is stored: one invalid object (named with file:line and',
          'field) and nothing is applied.',
        ]),
      );
    bind<ApplyFlags>(cmd, async (ctx, _args, flags) => {
      const files = requireFilenames(flags.filename, 'apply');
      const format = parseOutputFormat(flags.output, ['text', 'json'] as const, 'text');
      const { readSources } = await import('../config/sources.js');
      const { renderOutcomes } = await import('./config-output.js');
      const sources = await readSources(files, { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
      // What will be stored but has no effect (MESH0002), is deprecated or pruned: said before storing.
      for (const line of await applyWarnings(sources, ctx.namespace())) ctx.err(`${line}\n`);
      const platform = await ctx.platform();
      const outcomes = await platform.applyConfig(
        sources.map((s) => ({ file: s.name, text: s.text })),
        { defaultNamespace: ctx.namespace() },
      );
      ctx.out(format === 'json' ? JSON.stringify(outcomes, null, 2) + '\n' : renderOutcomes(outcomes));
      const { notEnforcedWarnings } = await import('./apply-warnings.js');
      for (const line of notEnforcedWarnings(sources.map((s) => ({ file: s.name, text: s.text })), ctx.namespace())) ctx.err(`${line}\n`);
      return 0;
    });
  },
};
export default command;
