/**
 * Applying and removing the capture in a network namespace: read the nat table, decide (nothing
 * to do / apply / replace an older capture), and write it in one iptables-restore transaction.
 * A failure names the rule iptables refused and iptables' own message.
 */
import { CaptureError } from '../errors.js';
import { detectBackend, NoIptablesBackend, writeArgs, type CommandRunner, type IptablesBackend } from './iptables.js';
import type { CaptureOptions, IpFamily } from './options.js';
import {
  applyInput,
  cleanupInput,
  findResidue,
  isInPlace,
  parseNatState,
  restoreText,
  type RestoreLine,
} from './restore.js';
import { buildRules, type RuleSet } from './rules.js';

/** What happened to one family's table. */
export interface FamilyOutcome {
  family: IpFamily;
  backend: IptablesBackend['mode'];
  binary: string;
  /** applied: written fresh; replaced: an older, different capture was swapped out; unchanged: already exactly in place; removed / absent: for cleanup. */
  action: 'applied' | 'replaced' | 'unchanged' | 'removed' | 'absent';
  rules: number;
}

/** No iptables binary works for a family here (not installed, or no kernel support). */
export class BackendUnavailableError extends CaptureError {}

const FAMILY_LABEL: Record<IpFamily, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** Whether the namespace has a global IPv6 address (from /proc/net/if_inet6: scope 00 is global). */
export async function hasGlobalIpv6(runner: CommandRunner): Promise<boolean> {
  const r = await runner.run('cat', ['/proc/net/if_inet6']);
  if (r.exitCode !== 0) return false;
  return r.stdout.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f.length >= 6 && f[3] === '00' && f[5] !== 'lo';
  });
}

/** The families to write rules for: IPv4 always; IPv6 when asked, or (auto) when the pod has it. */
export async function familiesFor(o: CaptureOptions, runner: CommandRunner): Promise<IpFamily[]> {
  const v6 = o.ipv6 === 'auto' ? await hasGlobalIpv6(runner) : o.ipv6;
  return v6 ? ['ipv4', 'ipv6'] : ['ipv4'];
}

async function backendFor(
  runner: CommandRunner,
  family: IpFamily,
  mode: CaptureOptions['iptablesMode'],
): Promise<IptablesBackend> {
  try {
    return await detectBackend(runner, family, mode);
  } catch (err) {
    if (err instanceof NoIptablesBackend) {
      throw new BackendUnavailableError(
        `cannot capture ${FAMILY_LABEL[family]} traffic: ${err.tried.join('; ')}`,
        family === 'ipv6'
          ? 'install ip6tables (and the nat table in the kernel), or pass --ipv6 false for an IPv4-only pod'
          : 'install iptables in the image running meshctl proxy init, and give it NET_ADMIN and NET_RAW',
      );
    }
    throw err;
  }
}

async function readNat(runner: CommandRunner, b: IptablesBackend) {
  const r = await runner.run(b.save, ['-t', 'nat']);
  if (r.exitCode !== 0) {
    throw new CaptureError(
      `${b.save} -t nat failed: ${r.stderr.trim() || `exit ${String(r.exitCode)}`}`,
      'meshctl proxy init needs the NET_ADMIN capability',
    );
  }
  return parseNatState(r.stdout);
}

/** Runs one restore transaction; on failure, finds the line iptables names and throws with it. */
async function restore(runner: CommandRunner, b: IptablesBackend, lines: readonly RestoreLine[]): Promise<void> {
  const r = await runner.run(b.restore, writeArgs(b), restoreText(lines));
  if (r.exitCode === 0) return;
  const message = iptablesMessage(r.stderr) || `exit ${String(r.exitCode)}`;
  const failing = failingLine(lines, r.stderr, message);
  const culprit = failing
    ? `the rule "${failing.text}"`
    : `the rules (${restoreText(lines).trim().split('\n').length} lines; see them with --dry-run)`;
  throw new CaptureError(
    `${b.restore} (${FAMILY_LABEL[b.family]}) refused ${culprit}: ${message}`,
    'nothing was changed (the rules are applied in one transaction); check the flags and annotations that produced this rule, or run with --dry-run to see all rules',
  );
}

/** iptables' message without its program-and-version prefix, line reference and help footer. */
function iptablesMessage(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) =>
      l
        .trim()
        .replace(/^ip6?tables(-nft|-legacy)?-restore( v[\d.]+)?( \([^)]*\))?:\s*/, '')
        .replace(/^line \d+:\s*/, ''),
    )
    .filter(
      (l) =>
        l !== '' &&
        !/^Try `/.test(l) &&
        !/^Error occurred at line/.test(l) &&
        !/^# Warning/.test(l) &&
        !/^line \d+ failed$/.test(l),
    )
    .join('; ');
}

/**
 * The line iptables-restore blames. Errors found while committing point at the COMMIT line; then
 * the rule is the one naming what the message quotes (a chain or target), or the only rule of
 * the chain the message names.
 */
function failingLine(lines: readonly RestoreLine[], stderr: string, message: string): RestoreLine | undefined {
  const m = /Error occurred at line: (\d+)|line (\d+) failed|^line (\d+):/m.exec(
    stderr.replace(/^ip6?tables\S*-restore[^:]*:\s*/gm, ''),
  );
  const n = m ? Number(m[1] ?? m[2] ?? m[3]) : 0;
  const named = lines[n - 1];
  if (named && named.text !== 'COMMIT' && !named.text.startsWith('*')) return named;
  const quoted = /[`'"]([^`'"]+)['"]/.exec(message)?.[1];
  if (quoted) return lines.find((l) => l.rule && l.text.split(' ').includes(quoted));
  const chain = /rule in chain (\S+)/.exec(message)?.[1];
  const inChain = lines.filter((l) => l.rule?.chain === chain);
  return inChain.length === 1 ? inChain[0] : undefined;
}

/** The rule sets the options produce for the given families (what --dry-run prints). */
export function plannedRuleSets(o: CaptureOptions, families: readonly IpFamily[]): RuleSet[] {
  return families.map((f) => buildRules(o, f));
}

/** Applies the capture: idempotent (an identical capture is left alone), atomic per family. */
export async function applyCapture(
  o: CaptureOptions,
  runner: CommandRunner,
  families: readonly IpFamily[],
): Promise<FamilyOutcome[]> {
  const outcomes: FamilyOutcome[] = [];
  for (const set of plannedRuleSets(o, families)) {
    const b = await backendFor(runner, set.family, o.iptablesMode);
    const state = await readNat(runner, b);
    const base = { family: set.family, backend: b.mode, binary: b.binary, rules: set.rules.length };
    if (isInPlace(set, state)) {
      outcomes.push({ ...base, action: 'unchanged' });
      continue;
    }
    const residue = findResidue(state);
    await restore(runner, b, applyInput(set, residue));
    const after = await readNat(runner, b);
    if (!isInPlace(set, after)) {
      throw new CaptureError(
        `${b.restore} (${FAMILY_LABEL[set.family]}) accepted the rules but ${b.save} shows a different nat table`,
        `compare 'meshctl proxy init --dry-run' with '${b.save} -t nat'; another program may be changing the table`,
      );
    }
    outcomes.push({ ...base, action: residue.chains.length > 0 || residue.jumps.length > 0 ? 'replaced' : 'applied' });
  }
  return outcomes;
}

/** Removes meshctl's chains and the jumps into them (and nothing else) for each family. */
export async function cleanupCapture(
  runner: CommandRunner,
  families: readonly IpFamily[],
  mode: CaptureOptions['iptablesMode'],
): Promise<FamilyOutcome[]> {
  const outcomes: FamilyOutcome[] = [];
  for (const family of families) {
    const b = await backendFor(runner, family, mode);
    const residue = findResidue(await readNat(runner, b));
    const lines = cleanupInput(residue);
    if (lines.length > 0) await restore(runner, b, lines);
    outcomes.push({
      family,
      backend: b.mode,
      binary: b.binary,
      action: lines.length > 0 ? 'removed' : 'absent',
      rules: residue.jumps.length,
    });
  }
  return outcomes;
}
