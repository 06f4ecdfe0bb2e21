/**
 * ajv's errors -> issues people can act on: the field path with list indexes, what was expected in
 * words (`must be an integer >= 0 (got "ten")`), the closest known field for a typo, and where
 * people writing the other mesh's habits went wrong.
 */
import type { ErrorObject } from 'ajv';
import type { RawIssue } from './issues.js';
import { MeshKeyword } from './schema.js';

/** Fields people write by analogy with the other mesh, and where that setting really lives. */
export const KNOWN_MISTAKES: Readonly<Record<string, string>> = {
  'ServiceProfile.retries':
    'Linkerd retries a route when it has isRetryable: true, within spec.retryBudget (retryRatio, minRetriesPerSecond, ttl); move the budget there',
  'ServiceProfile.retryBudget': 'the retry budget belongs to spec.retryBudget, not to a route',
  'VirtualService.weight': 'weight belongs to each entry of route[], next to destination',
  'DestinationRule.subset': 'subsets are listed under spec.subsets, each with a name and labels',
};

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function describeType(schema: Record<string, unknown>): string {
  const min = schema.minimum as number | undefined;
  const max = schema.maximum as number | undefined;
  const noun = schema.type === 'integer' ? 'an integer' : schema.type === 'number' ? 'a number' : String(schema.type);
  const defaultBounds =
    (min === -2147483648 && max === 2147483647) || (min === 0 && max === 4294967295 && schema.type === 'integer');
  if (schema.type === 'integer' || schema.type === 'number') {
    if (defaultBounds) return min === 0 ? `${noun} >= 0` : noun;
    if (min !== undefined && max !== undefined && max < 2147483647) return `${noun} ${min}..${max}`;
    if (min !== undefined) return `${noun} >= ${min}`;
    if (max !== undefined) return `${noun} <= ${max}`;
    return noun;
  }
  switch (schema.type) {
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping (key: value)';
    default:
      return noun;
  }
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(
        dp[j]! + 1,
        dp[j - 1]! + 1,
        prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** The closest of `candidates` to `word`, when close enough to be a likely typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestScore) [best, bestScore] = [c, d];
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Turns a JSON pointer into a field path, with numbers where the data holds arrays. */
function pointerToPath(pointer: string, root: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  let node: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = isRecord(node) ? node[seg] : undefined;
    }
  }
  return out;
}

/** The schema node holding the failed keyword (what ajv's `verbose` would give, without its compile cost). */
function schemaAt(schemaPath: string, rootSchema: unknown): Record<string, unknown> {
  let node: unknown = rootSchema;
  for (const raw of schemaPath.replace(/^#/, '').split('/').slice(1, -1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = Array.isArray(node) ? node[Number(seg)] : isRecord(node) ? node[seg] : undefined;
  }
  return isRecord(node) ? node : {};
}

function dataAt(path: readonly (string | number)[], root: unknown): unknown {
  let node: unknown = root;
  for (const seg of path)
    node = Array.isArray(node) ? node[seg as number] : isRecord(node) ? node[seg as string] : undefined;
  return node;
}

/** One ajv error as an issue (undefined when another error of the same field says it better). */
export function translate(err: ErrorObject, root: unknown, rootSchema: unknown): RawIssue | undefined {
  const base = pointerToPath(err.instancePath, root);
  const parent = schemaAt(err.schemaPath, rootSchema);
  const data = dataAt(base, root);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return {
        path: [...base, p.missingProperty as string],
        message: 'required field is missing; add it',
        rule: 'schema',
      };
    case 'additionalProperties': {
      const field = p.additionalProperty as string;
      const known = Object.keys((parent.properties as Record<string, unknown> | undefined) ?? {});
      const guess = suggest(field, known);
      const hint = guess
        ? `did you mean "${guess}"?`
        : known.length
          ? `remove it (known fields: ${known.join(', ')})`
          : 'remove it';
      return { path: [...base, field], message: `unknown field "${field}"; ${hint}`, rule: 'unknown-field' };
    }
    case 'type':
    case 'minimum':
    case 'maximum':
      return { path: base, message: `must be ${describeType(parent)} (got ${show(data)})`, rule: 'schema' };
    case 'enum': {
      const values = (parent.enum as string[] | undefined) ?? [];
      const ci = typeof data === 'string' ? values.find((v) => v.toLowerCase() === data.toLowerCase()) : undefined;
      const guess = ci ?? (typeof data === 'string' ? suggest(data, values) : undefined);
      return {
        path: base,
        message: `must be one of ${values.join(', ')} (got ${show(data)})${guess ? `; did you mean ${guess}?` : ''}`,
        rule: 'schema',
      };
    }
    case 'anyOf':
      if (parent['x-kubernetes-int-or-string'])
        return { path: base, message: `must be an integer or a string (got ${show(data)})`, rule: 'schema' };
      return { path: base, message: err.message ?? 'invalid value', rule: 'schema' };
    case 'minItems':
      return { path: base, message: `must have at least ${String(p.limit)} item(s); add one`, rule: 'schema' };
    case 'minLength':
      return { path: base, message: 'must not be empty', rule: 'schema' };
    case 'pattern':
      return { path: base, message: `must match ${String(p.pattern)} (got ${show(data)})`, rule: 'schema' };
    case MeshKeyword.duration:
      return { path: base, message: err.message ?? 'invalid duration', rule: 'duration' };
    case MeshKeyword.regex:
      return { path: base, message: err.message ?? 'invalid regex', rule: 'regex' };
    case MeshKeyword.percent:
      return { path: base, message: err.message ?? 'invalid percentage', rule: 'percent' };
    case MeshKeyword.exclusive:
      return { path: base, message: err.message ?? 'fields are exclusive', rule: 'schema' };
    default:
      return { path: base, message: err.message ?? 'invalid value', rule: 'schema' };
  }
}
