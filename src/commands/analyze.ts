/**
 * `meshctl analyze`: checks mesh configuration for mistakes before it reaches a cluster. Reads
 * `-f` files, directories, stdin or https URLs. ajv and the schemas load inside the handler, so
 * other commands do not pay for them at start-up.
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { collect, filenameOption } from './manifest-inputs.js';
import { AnalyzeFindingsError, MeshError, UsageError } from '../errors.js';

interface AnalyzeFlags {
  filename?: string[];
  output?: string;
  failureThreshold?: string;
  outputThreshold?: string;
  suppress?: string[];
  list?: boolean;
  allNamespaces?: boolean;
  clusterDomain?: string;
  offline?: boolean;
}

type LevelName = 'Error' | 'Warning' | 'Info';
const RANK: Record<LevelName, number> = { Info: 0, Warning: 1, Error: 2 };

function level(flag: string, value: string | undefined, fallback: LevelName): LevelName {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  const found = (['Error', 'Warning', 'Info'] as const).find((l) => l.toLowerCase() === v);
  if (!found) throw new UsageError(`${flag} ${value}: not a level`, 'use Error, Warning or Info');
  return found;
}

function parseSuppression(text: string): { code: string; resource: string } {
  const m = /^([A-Za-z0-9*]+)=(.+)$/.exec(text.trim());
  if (!m || !(m[2] === '*' || /^[A-Za-z*]+\/.+$/.test(m[2]!))) {
    throw new UsageError(
      `--suppress ${text}: expected CODE=Kind/name.namespace`,
      'for example --suppress MESH0101=VirtualService/reviews.default (globs: MESH0303=AuthorizationPolicy/*)',
    );
  }
  return { code: m[1]!, resource: m[2]! };
}

const command: CommandDefinition = {
  name: 'analyze',
  summary: 'Check mesh configuration (Istio, Linkerd, SMI) for mistakes before applying it',
  define(cmd, bind) {
    filenameOption(cmd, 'configuration')
      .option('-o, --output <format>', 'output format: table or json', 'table')
      .option(
        '--failure-threshold <level>',
        'exit 79 when a finding is at or above this level: Error, Warning or Info',
        'Error',
      )
      .option('--output-threshold <level>', 'print findings at or above this level', 'Info')
      .option('--suppress <CODE=Kind/name.namespace>', 'hide a finding (repeatable; * globs)', collect, [])
      .option(
        '-A, --all-namespaces',
        'report findings of every namespace (the default for -f input alone); -n NS reports one namespace (on a cluster: default, unless -A)',
      )
      .option('--offline', 'Kubernetes: analyze only the -f input, do not read the cluster')
      .option('--cluster-domain <domain>', 'the cluster DNS domain', 'cluster.local')
      .option('--list', 'print the catalogue of message codes and exit')
      .addHelpText(
        'after',
        examples([
          '# Check a directory of manifests (with the Services and Deployments, host and subset checks get sharper)',
          'meshctl analyze -f k8s/',
          '',
          '# From a pipeline, as JSON, failing on warnings too',
          'kustomize build overlays/prod | meshctl analyze -f - -o json --failure-threshold Warning',
          '',
          '# Hide one known finding',
          'meshctl analyze -f k8s/ --suppress MESH0303=AuthorizationPolicy/deny-all.prod',
          '',
          'meshctl analyze --list        # every code, its level and meaning',
          'Exit codes: 0 no finding at or above --failure-threshold, 79 findings, 64 usage, 1 unreadable input.',
        ]),
      );
    bind<AnalyzeFlags>(cmd, async (ctx, args, flags) => {
      // validate: flags only, no I/O
      const format = parseOutputFormat(flags.output, ['table', 'json'] as const, 'table');
      const failAt = level('--failure-threshold', flags.failureThreshold, 'Error');
      const printFrom = level('--output-threshold', flags.outputThreshold, 'Info');
      const suppress = (flags.suppress ?? []).map(parseSuppression);
      if (args.length > 0) throw new UsageError(`unexpected argument ${args[0]}`, 'pass files with -f');
      if (flags.allNamespaces && ctx.globals.namespace) throw new UsageError('-A and -n cannot be used together');
      const analyze = await import('../analyze/index.js');
      if (flags.list) {
        const rows = analyze.catalogueRows(analyze.catalogue());
        if (format === 'json') ctx.out(JSON.stringify(analyze.catalogue(), null, 2) + '\n');
        else {
          const { renderTable } = await import('../ui/table.js');
          ctx.out(renderTable(['CODE', 'LEVEL', 'NAME', 'DESCRIPTION'], rows));
        }
        return 0;
      }
      const fromCluster = !flags.offline && ctx.platformKind() === 'kubernetes';
      if (!flags.filename?.length && !fromCluster) {
        throw new UsageError(
          'nothing to analyze: pass -f with files, directories, - (stdin) or https URLs',
          flags.offline
            ? 'with --offline only -f input is analyzed'
            : 'for example: meshctl analyze -f k8s/ (without -f, analyze reads the config applied to a Kubernetes cluster: select one with --kubernetes or --kubeconfig)',
        );
      }
      const { readSources } = await import('../config/sources.js');
      const files = await readSources(flags.filename ?? [], { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
      let platform: import('../analyze/index.js').PlatformSnapshot | undefined;
      if (fromCluster) {
        const { isKubernetesPlatform } = await import('../cluster/index.js');
        try {
          const connected = await ctx.platform();
          if (isKubernetesPlatform(connected)) platform = await connected.readForAnalysis();
        } catch (err) {
          // Files can be analyzed without a cluster: say so, rather than leave the user with only the cluster's problem.
          if (!(err instanceof MeshError) || files.length === 0) throw err;
          throw new MeshError(err.code, err.message, {
            exitCode: err.exitCode,
            hint: `${err.hint ? `${err.hint}; ` : ''}or analyze the files alone: add --offline`,
            cause: err,
          });
        }
      }
      const input = analyze.buildAnalysisInput({
        files,
        ...(platform ? { platform } : {}),
        defaultNamespace: ctx.namespace(),
        clusterDomain: flags.clusterDomain ?? 'cluster.local',
      });
      // As istioctl: a cluster is analyzed for one namespace (-n, else default) unless -A; files alone for all of theirs.
      const namespace = flags.allNamespaces ? undefined : (ctx.globals.namespace ?? (platform ? 'default' : undefined));
      const findings = analyze.runAnalysis(input, { suppress, ...(namespace ? { namespace } : {}) });
      const shown = findings.filter((f) => RANK[f.level] >= RANK[printFrom]);
      if (format === 'json') ctx.out(JSON.stringify(shown.map(analyze.findingJson), null, 2) + '\n');
      else if (shown.length === 0) ctx.out(`${ctx.style.green('✔')} No validation issues found\n`);
      else ctx.out(shown.map((f) => analyze.formatFinding(f, ctx.style)).join('\n') + '\n');
      const failing = findings.filter((f) => RANK[f.level] >= RANK[failAt]).length;
      if (failing > 0) throw new AnalyzeFindingsError(failing);
      return 0;
    });
  },
};
export default command;
