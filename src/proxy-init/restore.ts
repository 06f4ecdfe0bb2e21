/**
 * iptables-restore input for applying, reconciling and removing the capture, and the reading of
 * `iptables-save -t nat` output. Every change is one iptables-restore transaction (`--noflush`,
 * so other rules in the table stay): either all of it lands or none of it does.
 */
import { MESH_CHAIN_PREFIX, ruleLine, type Rule, type RuleSet } from './rules.js';

/** The nat table as iptables-save printed it: chains in order, and each chain's rules. */
export interface NatState {
  chains: string[];
  rules: Map<string, string[]>;
}

/** Parses the `*nat` section of iptables-save output. */
export function parseNatState(saveOutput: string): NatState {
  const state: NatState = { chains: [], rules: new Map() };
  let inNat = false;
  for (const raw of saveOutput.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      inNat = line === '*nat';
      continue;
    }
    if (!inNat || line === '' || line.startsWith('#')) continue;
    if (line === 'COMMIT') {
      inNat = false;
      continue;
    }
    if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0]!;
      state.chains.push(name);
      if (!state.rules.has(name)) state.rules.set(name, []);
      continue;
    }
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (m) {
      const list = state.rules.get(m[1]!) ?? [];
      list.push(m[2]!);
      state.rules.set(m[1]!, list);
    }
  }
  return state;
}

/** What meshctl left in a table: its chains, and the rules of other chains that jump into them. */
export interface Residue {
  chains: string[];
  jumps: Rule[];
}

/** Finds meshctl's chains and the jumps into them, whatever options created them. */
export function findResidue(state: NatState): Residue {
  const chains = state.chains.filter((c) => c.startsWith(MESH_CHAIN_PREFIX));
  const jumps: Rule[] = [];
  for (const [chain, specs] of state.rules) {
    if (chain.startsWith(MESH_CHAIN_PREFIX)) continue;
    for (const spec of specs) if (jumpTarget(spec)?.startsWith(MESH_CHAIN_PREFIX)) jumps.push({ chain, spec });
  }
  return { chains, jumps };
}

function jumpTarget(spec: string): string | undefined {
  const m = /(?:^|\s)(?:-j|--jump|-g|--goto) (\S+)/.exec(spec);
  return m?.[1];
}

/** True when the table holds exactly `set`: same meshctl chains, same rules in the same order. */
export function isInPlace(set: RuleSet, state: NatState): boolean {
  const residue = findResidue(state);
  const want = new Set(set.chains);
  if (residue.chains.length !== want.size || residue.chains.some((c) => !want.has(c))) return false;
  for (const chain of set.chains) {
    const expected = set.rules.filter((r) => r.chain === chain).map((r) => r.spec);
    if (!sameList(expected, state.rules.get(chain) ?? [])) return false;
  }
  const expectedJumps = set.rules.filter((r) => !r.chain.startsWith(MESH_CHAIN_PREFIX)).map(ruleLine);
  return sameList(expectedJumps, residue.jumps.map(ruleLine));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One line of restore input, and the rule it writes (for error messages). */
export interface RestoreLine {
  text: string;
  rule?: Rule;
}

/**
 * The restore input that makes the table hold exactly `set`. Declaring a chain (`:NAME - [0:0]`)
 * creates it or, with --noflush, empties it; old jumps are deleted first, so a rerun with other
 * options replaces the previous capture in the same transaction instead of stacking on it.
 */
export function applyInput(set: RuleSet, residue: Residue): RestoreLine[] {
  const lines: RestoreLine[] = [{ text: `*${set.table}` }];
  for (const chain of set.chains) lines.push({ text: `:${chain} - [0:0]` });
  for (const jump of residue.jumps) lines.push({ text: `-D ${jump.chain} ${jump.spec}` });
  const stale = residue.chains.filter((c) => !set.chains.includes(c));
  for (const chain of stale) lines.push({ text: `-F ${chain}` });
  for (const chain of stale) lines.push({ text: `-X ${chain}` });
  for (const rule of set.rules) lines.push({ text: ruleLine(rule), rule });
  lines.push({ text: 'COMMIT' });
  return lines;
}

/** The restore input that removes exactly what meshctl added: the jumps, then its chains. */
export function cleanupInput(residue: Residue): RestoreLine[] {
  if (residue.chains.length === 0 && residue.jumps.length === 0) return [];
  return [
    { text: '*nat' },
    ...residue.jumps.map((j) => ({ text: `-D ${j.chain} ${j.spec}` })),
    ...residue.chains.map((c) => ({ text: `-F ${c}` })),
    ...residue.chains.map((c) => ({ text: `-X ${c}` })),
    { text: 'COMMIT' },
  ];
}

/** The text fed to iptables-restore. */
export function restoreText(lines: readonly RestoreLine[]): string {
  return lines.map((l) => l.text).join('\n') + '\n';
}
