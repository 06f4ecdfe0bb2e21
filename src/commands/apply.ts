/**
 * `meshctl apply`: stores mesh config (and Services) on the platform, validated first: all or
 * nothing. Before storing, the files are analyzed together with what the platform already holds
 * (as `meshctl analyze` would): an Error finding about an applied object (an undefined subset: 100%
 * 503) refuses the whole apply unless --force; warnings (fields accepted but not enforced, MESH0002)
 * are printed and the apply goes on. After storing, it waits (`--wait`, 10 s) for the connected
 * proxies to answer the push: a proxy's refusal (NACK) is printed with the object and file:line
 * behind it, and the exit code is 1 (the config is stored; the proxy keeps its last good config).
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { filenameOption, requireFilenames } from './manifest-inputs.js';
import { MeshError, ErrorCode, ExitCode, UsageError } from '../errors.js';
import type { CliContext } from '../context.js';
import type { MeshPlatform } from '../cluster/index.js';
import type { SourceText } from '../config/index.js';

interface ApplyFlags {
  filename?: string[];
  output?: string;
  force?: boolean;
  wait?: string;
}

/** Analyzes `files` over what `platform` holds; returns the findings about the files' objects. */
async function analyzeBeforeApply(ctx: CliContext, platform: MeshPlatform, files: readonly SourceText[]) {
  const analyze = await import('../analyze/index.js');
  let snapshot: import('../analyze/index.js').PlatformSnapshot;
  if (platform.kind === 'kubernetes') {
    const { isKubernetesPlatform } = await import('../cluster/index.js');
    snapshot = isKubernetesPlatform(platform)
      ? await platform.readForAnalysis()
      : { objects: await platform.listConfig(), inventory: {}, origin: platform.describe() };
  } else {
    // The local mesh: its stored config. Its services and workloads come and go with `meshctl run`,
    // so the inventory stays unknown (config applied before the workloads start is not an error).
    snapshot = { objects: await platform.listConfig(), inventory: {}, origin: platform.describe() };
  }
  const input = analyze.buildAnalysisInput({ files, platform: snapshot, defaultNamespace: ctx.namespace() });
  // Invalid input is reported by the platform's validation, with file:line and the fix, as before.
  const invalid =
    input.parseFailures.length > 0 ||
    input.resources.some((r) => r.source === 'file' && r.validation.errors.length > 0);
  if (invalid) return { findings: [], format: () => '' };
  const ours = new Set(
    input.resources
      .filter((r) => r.source === 'file')
      .map(
        (r) => `${r.validation.identity.kind}/${r.validation.identity.namespace ?? ''}/${r.validation.identity.name}`,
      ),
  );
  const findings = analyze
    .runAnalysis(input)
    .filter((f) => f.resource && ours.has(`${f.resource.kind}/${f.resource.namespace ?? ''}/${f.resource.name}`));
  return { findings, format: (f: (typeof findings)[number]) => analyze.formatFinding(f, ctx.errStyle) };
}

const command: CommandDefinition = {
  name: 'apply',
  summary: 'Apply mesh configuration (Istio, Linkerd, SMI resources and Services) to the platform',
  define(cmd, bind) {
    filenameOption(cmd, 'config')
      .option('-o, --output <format>', 'output format: text or json', 'text')
      .option('--force', 'apply even when analysis finds errors (e.g. a route to an undefined subset)')
      .option('--wait <duration>', 'how long to wait for the proxies to accept the new config (0: do not wait)', '10s')
      .addHelpText(
        'after',
        examples([
          'meshctl apply -f reviews-canary.yaml',
          'meshctl apply -f k8s/ --local',
          'kustomize build overlays/prod | meshctl apply -f -',
          '',
          'Every object is validated before anything is stored: one invalid object (named with file:line and',
          'field) and nothing is applied. The files are then analyzed with what the platform holds, as',
          "'meshctl analyze' does: an Error finding refuses the apply (exit 79) unless --force; warnings are printed.",
          'Then it waits for the connected proxies to answer: a refusal is printed with the object and the',
          'file:line it was applied from, and the exit code is 1 (the proxy keeps its last good config).',
        ]),
      );
    bind<ApplyFlags>(cmd, async (ctx, _args, flags) => {
      const files = requireFilenames(flags.filename, 'apply');
      const format = parseOutputFormat(flags.output, ['text', 'json'] as const, 'text');
      const { parseDuration } = await import('../config/duration.js');
      const waitMs = parseDuration(flags.wait ?? '10s');
      if (waitMs === undefined)
        throw new UsageError(`--wait ${flags.wait}: not a duration`, 'give a duration such as 10s or 1m, or 0');
      const { readSources } = await import('../config/sources.js');
      const { renderOutcomes } = await import('./config-output.js');
      const sources = await readSources(files, { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
      const platform = await ctx.platform();
      const { findings, format: show } = await analyzeBeforeApply(ctx, platform, sources);
      const blocking = findings.filter((f) => f.level === 'Error');
      const rest = findings.filter((f) => f.level === 'Warning');
      for (const f of [...blocking, ...rest]) ctx.err(show(f) + '\n');
      if (blocking.length > 0 && !flags.force) {
        throw new MeshError(
          ErrorCode.AnalyzeFindings,
          `analysis found ${blocking.length} error(s) in the config to apply; nothing was applied`,
          {
            exitCode: ExitCode.AnalyzeFindings,
            hint: 'fix the findings above, or apply anyway with --force',
          },
        );
      }
      const { awaitProxyAnswers, configVersion } = await import('../cluster/proxy-answers.js');
      const before = waitMs > 0 ? await configVersion(platform) : undefined;
      const outcomes = await platform.applyConfig(
        sources.map((s) => ({ file: s.name, text: s.text })),
        { defaultNamespace: ctx.namespace() },
      );
      ctx.out(format === 'json' ? JSON.stringify(outcomes, null, 2) + '\n' : renderOutcomes(outcomes));
      if (before === undefined || outcomes.every((o) => o.action === 'unchanged')) return 0;
      const answers = await awaitProxyAnswers(platform, before, waitMs);
      for (const r of answers.refusals)
        ctx.err(`✖ proxy ${r.proxy} refused the ${r.type} (keeps its last good config): ${r.message}\n`);
      if (answers.pending.length > 0)
        ctx.err(
          `‼ not answered within ${flags.wait ?? '10s'}: ${answers.pending.join(', ')} (see 'meshctl proxy-status')\n`,
        );
      if (answers.refusals.length > 0) {
        const n = new Set(answers.refusals.map((r) => r.proxy)).size;
        throw new MeshError(
          ErrorCode.ConfigRefusedByProxy,
          `the config was stored, but ${n === 1 ? 'a proxy refuses' : `${n} proxies refuse`} it`,
          {
            hint: "fix the object named above and apply it again (or delete it); 'meshctl proxy-status' shows each proxy's state",
          },
        );
      }
      return 0;
    });
  },
};
export default command;
