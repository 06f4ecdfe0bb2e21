/**
 * VirtualService rules and match blocks that can never be used (istioctl's VirtualServiceUnreachableRule
 * and VirtualServiceIneffectiveMatch): routes are tried in order and the first match wins, so a rule
 * after one without matches, a match block identical to an earlier one, or a match block that every
 * request it matches would already have matched earlier, changes nothing.
 */
import type { Analyzer } from '../context.js';
import { Messages } from '../messages.js';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** JSON with sorted keys, so two matches written in another key order compare equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** A match block without its name (names label logs; they route nothing). */
function matchKey(m: unknown): string {
  if (!isObj(m)) return canonical(m);
  const { name: _name, ...rest } = m;
  return canonical(rest);
}

/** Whether string match `a` accepts every value string match `b` accepts. */
function stringCovers(a: unknown, b: unknown): boolean {
  if (a === undefined) return true;
  if (!isObj(a) || !isObj(b)) return false;
  if (Object.keys(a).length === 0) return true; // `{}`: presence, and b requires the same key
  if (typeof a.exact === 'string') return b.exact === a.exact;
  if (typeof a.prefix === 'string') {
    const v = typeof b.exact === 'string' ? b.exact : typeof b.prefix === 'string' ? b.prefix : undefined;
    return v !== undefined && v.startsWith(a.prefix);
  }
  if (typeof a.regex === 'string') return b.regex === a.regex;
  return false;
}

function mapCovers(a: unknown, b: unknown): boolean {
  if (a === undefined) return true;
  if (!isObj(a) || !isObj(b)) return false;
  return Object.entries(a).every(([k, v]) => k in b && stringCovers(v, b[k]));
}

const KNOWN = new Set([
  'name',
  'uri',
  'scheme',
  'method',
  'authority',
  'headers',
  'port',
  'sourceLabels',
  'gateways',
  'queryParams',
  'ignoreUriCase',
  'withoutHeaders',
  'sourceNamespace',
  'statPrefix',
]);

/**
 * Whether every request match block `b` accepts is accepted by the earlier block `a`. Judged, as
 * istioctl does, only for a later block with a URI prefix; anything unknown counts as not covered.
 */
function covers(a: Json, b: Json): boolean {
  if (!isObj(b.uri) || typeof b.uri.prefix !== 'string') return false;
  if (Object.keys(a).some((k) => !KNOWN.has(k))) return false;
  if ((a.ignoreUriCase ?? false) !== (b.ignoreUriCase ?? false)) return false;
  if (!['uri', 'scheme', 'method', 'authority'].every((k) => stringCovers(a[k], b[k]))) return false;
  if (!mapCovers(a.headers, b.headers) || !mapCovers(a.queryParams, b.queryParams)) return false;
  if (a.port !== undefined && a.port !== b.port) return false;
  if (a.sourceNamespace !== undefined && a.sourceNamespace !== b.sourceNamespace) return false;
  if (isObj(a.sourceLabels)) {
    const bl = isObj(b.sourceLabels) ? b.sourceLabels : {};
    if (!Object.entries(a.sourceLabels).every(([k, v]) => bl[k] === v)) return false;
  }
  if (Array.isArray(a.gateways)) {
    if (!Array.isArray(b.gateways) || !b.gateways.every((g) => (a.gateways as unknown[]).includes(g))) return false;
  }
  if (isObj(a.withoutHeaders)) {
    const bw = isObj(b.withoutHeaders) ? b.withoutHeaders : {};
    if (!Object.entries(a.withoutHeaders).every(([k, v]) => k in bw && canonical(bw[k]) === canonical(v))) return false;
  }
  return true;
}

interface Rule {
  name?: string;
  match?: unknown[];
}

/** Reports the unreachable rules and ineffective match blocks of one list of routes (http, tcp or tls). */
function check(
  rules: readonly Rule[],
  field: 'http' | 'tcp' | 'tls',
  report: (kind: 'rule' | 'match', path: (string | number)[], text: string) => void,
): void {
  const label = (i: number) => (rules[i]?.name ? `${field}[${i}] "${rules[i]!.name}"` : `${field}[${i}]`);
  const seen = new Map<string, number>();
  const earlier: { m: Json; rule: number; index: number }[] = [];
  let catchAll = -1;
  rules.forEach((rule, i) => {
    const matches = rule.match ?? [];
    if (catchAll >= 0) {
      report(
        'rule',
        [field, i],
        `Rule ${label(i)} is never used: rule ${label(catchAll)} before it has no match and takes every request; move it last or give it a match.`,
      );
      return;
    }
    if (matches.length === 0) {
      catchAll = i;
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      const key = matchKey(m);
      const dup = seen.get(key);
      if (dup !== undefined) {
        duplicates++;
        report(
          'match',
          [field, i, 'match', j],
          `Match ${j} of rule ${label(i)} is the same as a match of rule ${label(dup)}, which comes first and takes those requests; remove it.`,
        );
        return;
      }
      seen.set(key, i);
      if (field === 'http' && isObj(m)) {
        const by = earlier.find((e) => covers(e.m, m));
        if (by)
          report(
            'match',
            [field, i, 'match', j],
            `Match ${j} of rule ${label(i)} (prefix ${String((m.uri as Json).prefix)}) takes no request: match ${by.index} of rule ${label(by.rule)} comes first and matches every request it would; put the narrower match first.`,
          );
        earlier.push({ m, rule: i, index: j });
      }
    });
    if (duplicates === matches.length)
      report(
        'rule',
        [field, i],
        `Rule ${label(i)} is never used: every one of its matches is used by an earlier rule; remove it or change its matches.`,
      );
  });
}

/** Unreachable VirtualService rules (MESH0109) and ineffective match blocks (MESH0110). */
export const ruleReachabilityAnalyzer: Analyzer = {
  name: 'virtual-service-rule-reachability',
  run(ctx) {
    for (const vs of ctx.of('VirtualService')) {
      for (const field of ['http', 'tcp', 'tls'] as const) {
        const rules = vs.res.spec[field] as readonly Rule[] | undefined;
        if (!rules?.length) continue;
        check(rules, field, (kind, path, text) =>
          ctx.report(kind === 'rule' ? Messages.UnreachableRule : Messages.IneffectiveMatch, vs.r, text, [
            'spec',
            ...path,
          ]),
        );
      }
    }
  },
};
