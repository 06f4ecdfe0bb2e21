/**
 * `meshctl proxy init`: writes the iptables rules that send a pod's TCP traffic through its
 * sidecar (the job of istio-init). Registered as a sub-command by `src/commands/proxy.ts`
 * through {@link defineProxyInit}. Runs as root (or with NET_ADMIN and NET_RAW) in the pod's
 * network namespace, or from outside with `--netns NAME`.
 */
import type { Command } from 'commander';
import type { BindAction } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { InputNotFoundError, UsageError } from '../errors.js';
import type { CliContext } from '../context.js';
import type { RawCaptureSettings } from '../proxy-init/options.js';

/** Flags of `meshctl proxy init`, as commander parses them (strings: validated in one place). */
interface ProxyInitFlags extends RawCaptureSettings {
  annotationsFile?: string;
  netns?: string;
  dryRun?: boolean;
  cleanup?: boolean;
  output?: string;
}

const SETTING_FLAGS: [keyof RawCaptureSettings, string, string][] = [
  [
    'proxyUid',
    '--proxy-uid <uid>',
    'UID of the proxy, whose traffic is never captured (default 1337; comma list allowed)',
  ],
  [
    'proxyGid',
    '--proxy-gid <gid>',
    'GID of the proxy, whose traffic is never captured (default 1337; comma list allowed)',
  ],
  [
    'inboundCapturePort',
    '--inbound-capture-port <port>',
    "port of the proxy's inbound capture listener (default 15006)",
  ],
  [
    'outboundCapturePort',
    '--outbound-capture-port <port>',
    "port of the proxy's outbound capture listener (default 15001)",
  ],
  [
    'includeInboundPorts',
    '--include-inbound-ports <ports>',
    'inbound ports to capture: "*" (default) or a comma list; "" captures no inbound traffic',
  ],
  [
    'excludeInboundPorts',
    '--exclude-inbound-ports <ports>',
    "inbound ports never captured (the proxy's 15000 and 15020 always are)",
  ],
  [
    'includeOutboundPorts',
    '--include-outbound-ports <ports>',
    'outbound ports always captured, whatever the destination',
  ],
  ['excludeOutboundPorts', '--exclude-outbound-ports <ports>', 'outbound ports never captured'],
  [
    'includeOutboundIpRanges',
    '--include-outbound-ip-ranges <cidrs>',
    'outbound destinations captured: "*" (default) or CIDRs; "" captures none',
  ],
  [
    'excludeOutboundIpRanges',
    '--exclude-outbound-ip-ranges <cidrs>',
    'outbound destinations never captured (CIDRs, IPv4 and IPv6)',
  ],
  ['excludeInterfaces', '--exclude-interfaces <names>', 'interfaces whose traffic is never captured'],
  [
    'ipv6',
    '--ipv6 <mode>',
    'write ip6tables rules too: auto (default: when the namespace has a global IPv6 address), true or false',
  ],
  [
    'iptablesMode',
    '--iptables-mode <mode>',
    'iptables backend: auto (default: as the namespace already uses), nft or legacy',
  ],
];

/** Declares `init` under the `proxy` command. */
export function defineProxyInit(parent: Command, bind: BindAction): Command {
  const cmd = parent
    .command('init')
    .summary("Capture the pod's TCP traffic with iptables (the init container)")
    .description(
      "Writes nat-table chains (MESH_INBOUND, MESH_REDIRECT, MESH_IN_REDIRECT, MESH_OUTPUT) that send the pod's TCP\n" +
        "traffic to the sidecar: inbound to 15006, outbound to 15001, except the proxy's own traffic (UID/GID 1337),\n" +
        'loopback, and the exclusions. Idempotent: a second run changes nothing. Flags override annotations.',
    );
  for (const [, flag, help] of SETTING_FLAGS) cmd.option(flag, help);
  cmd
    .option(
      '--annotations-file <path>',
      'pod annotations as the downward API writes them (traffic.meshctl.dev/*, traffic.sidecar.istio.io/*)',
    )
    .option('--netns <name>', 'apply in this named network namespace (ip netns) instead of the current one')
    .option('--dry-run', 'print the iptables-restore input and change nothing')
    .option('--cleanup', 'remove the chains and jumps meshctl added, and nothing else')
    .option('-o, --output <format>', 'output format: text or json')
    .addHelpText(
      'after',
      examples([
        'meshctl proxy init --proxy-uid 1337 --proxy-gid 1337 --inbound-capture-port 15006 --outbound-capture-port 15001 \\',
        '    --exclude-inbound-ports 15020,15021,15090 --exclude-outbound-ip-ranges 169.254.169.254/32',
        'meshctl proxy init --annotations-file /etc/podinfo/annotations',
        'meshctl proxy init --dry-run --exclude-outbound-ports 5432',
        'meshctl proxy init --netns mypod --cleanup',
      ]),
    );
  bind<ProxyInitFlags>(cmd, (ctx, _args, opts) => runProxyInit(ctx, opts));
  return cmd;
}

async function runProxyInit(ctx: CliContext, flags: ProxyInitFlags): Promise<number> {
  // validate(): everything that can be checked without touching iptables.
  const format = parseOutputFormat(flags.output, ['text', 'json'] as const, 'text');
  if (flags.dryRun && flags.cleanup) throw new UsageError('--dry-run and --cleanup cannot be used together');
  if (flags.netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(flags.netns)) {
    throw new UsageError(
      `--netns ${flags.netns}: not a network namespace name`,
      "give a name listed by 'ip netns list'",
    );
  }
  const { resolveCaptureOptions, flagName } = await import('../proxy-init/options.js');
  const raw: RawCaptureSettings = {};
  const origin: Partial<Record<keyof RawCaptureSettings, string>> = {};
  if (flags.annotationsFile) {
    const { settingsFromAnnotations, parseDownwardApiAnnotations } = await import('../proxy-init/annotations.js');
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(flags.annotationsFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new InputNotFoundError(flags.annotationsFile!, err.code === 'ENOENT' ? 'no such file' : err.message);
    });
    const fromAnnotations = settingsFromAnnotations(
      parseDownwardApiAnnotations(text, flags.annotationsFile),
      flags.annotationsFile,
    );
    Object.assign(raw, fromAnnotations.settings);
    Object.assign(origin, fromAnnotations.origin);
    for (const w of fromAnnotations.warnings) ctx.logger.warn(w);
  }
  for (const [key] of SETTING_FLAGS) {
    if (flags[key] !== undefined) {
      raw[key] = flags[key];
      delete origin[key];
    }
  }
  const options = resolveCaptureOptions(raw, (key) => origin[key] ?? flagName(key));

  const apply = await import('../proxy-init/apply.js');
  if (flags.dryRun) {
    const { applyInput, restoreText } = await import('../proxy-init/restore.js');
    const families = options.ipv6 === false ? (['ipv4'] as const) : (['ipv4', 'ipv6'] as const);
    const sets = apply.plannedRuleSets(options, families);
    if (format === 'json') {
      const { toJson } = await import('../ui/printers.js');
      ctx.out(
        toJson({
          options,
          ruleSets: sets.map((s) => ({
            family: s.family,
            table: s.table,
            chains: s.chains,
            rules: s.rules.map((r) => `-A ${r.chain} ${r.spec}`),
          })),
        }),
      );
      return 0;
    }
    for (const set of sets) {
      const note =
        set.family === 'ipv6' && options.ipv6 === 'auto'
          ? ' (written only when the namespace has a global IPv6 address)'
          : '';
      ctx.out(`# ${set.family === 'ipv4' ? 'IPv4: iptables' : 'IPv6: ip6tables'}-restore --noflush${note}\n`);
      ctx.out(restoreText(applyInput(set, { chains: [], jumps: [] })));
    }
    return 0;
  }

  const { execaRunner } = await import('../proxy-init/iptables.js');
  const runner = execaRunner(flags.netns);
  const outcomes = flags.cleanup
    ? await cleanupFamilies(apply, runner, options)
    : await apply.applyCapture(options, runner, await apply.familiesFor(options, runner));
  if (format === 'json') {
    const { toJson } = await import('../ui/printers.js');
    ctx.out(toJson({ netns: flags.netns ?? null, outcomes }));
    return 0;
  }
  for (const o of outcomes) {
    const fam = o.family === 'ipv4' ? 'IPv4' : 'IPv6';
    const what = {
      applied: `capture applied: ${o.rules} rules`,
      replaced: `capture replaced (the previous rules differed): ${o.rules} rules`,
      unchanged: `capture already in place: ${o.rules} rules, nothing changed`,
      removed: 'capture removed',
      absent: 'no capture rules to remove',
    }[o.action];
    ctx.out(`${fam}: ${what} (${o.binary})\n`);
  }
  return 0;
}

/** Cleanup looks at IPv6 too unless told not to; a namespace without ip6tables has nothing to remove there. */
async function cleanupFamilies(
  apply: typeof import('../proxy-init/apply.js'),
  runner: import('../proxy-init/iptables.js').CommandRunner,
  options: import('../proxy-init/options.js').CaptureOptions,
) {
  const outcomes = await apply.cleanupCapture(runner, ['ipv4'], options.iptablesMode);
  if (options.ipv6 === false) return outcomes;
  try {
    outcomes.push(...(await apply.cleanupCapture(runner, ['ipv6'], options.iptablesMode)));
  } catch (err) {
    if (options.ipv6 === true || !(err instanceof apply.BackendUnavailableError)) throw err;
  }
  return outcomes;
}
