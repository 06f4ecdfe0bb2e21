/**
 * The compiled validator of each kind's schema (ajv), with the mesh's keywords: durations, RE2
 * regexes, percentages, mutually exclusive fields. Compiled once per kind, lazily or all at start.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseDuration } from './duration.js';
import type { KindDefinition } from './kind.js';
import { regexProblem } from './regex.js';
import { MESH_KINDS } from './registry.js';
import { ANNOTATION_KEYWORDS, MeshKeyword, ResourceSchema } from './schema.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

let ajv: Ajv | undefined;
const validators = new Map<KindDefinition, ValidateFunction>();

type KeywordFn = ((schema: unknown, data: unknown) => boolean) & { errors?: Partial<ErrorObject>[] };

function keywordError(fn: KeywordFn, keyword: string, message: string): false {
  fn.errors = [{ keyword, message, params: {} }];
  return false;
}

function makeAjv(): Ajv {
  const a = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, allowUnionTypes: true });
  for (const keyword of ANNOTATION_KEYWORDS) a.addKeyword({ keyword });
  // int32 is a CRD annotation (kubectl explain shows it); the bounds are checked by minimum/maximum.
  a.addFormat('int32', { type: 'number', validate: () => true });
  const duration: KeywordFn = function durationCheck(mode, data) {
    const ms = parseDuration(data as string);
    if (ms === undefined)
      return keywordError(
        durationCheck,
        MeshKeyword.duration,
        `must be a duration such as 1.5s, 500ms or 1m (got ${JSON.stringify(data)})`,
      );
    if (mode === 'positive' && ms < 1)
      return keywordError(durationCheck, MeshKeyword.duration, `must be at least 1ms (got ${JSON.stringify(data)})`);
    return true;
  };
  a.addKeyword({
    keyword: MeshKeyword.duration,
    type: 'string',
    schemaType: 'string',
    errors: true,
    validate: duration,
  });
  const regex: KeywordFn = function regexCheck(_s, data) {
    const problem = regexProblem(data as string);
    return problem
      ? keywordError(
          regexCheck,
          MeshKeyword.regex,
          `not a valid RE2 regular expression: ${problem}; RE2 has no backreferences or lookaround`,
        )
      : true;
  };
  a.addKeyword({ keyword: MeshKeyword.regex, type: 'string', schemaType: 'boolean', errors: true, validate: regex });
  const percent: KeywordFn = function percentCheck(_s, data) {
    const n = data as number;
    return n < 0 || n > 100
      ? keywordError(percentCheck, MeshKeyword.percent, `must be a percentage 0..100 (got ${n})`)
      : true;
  };
  a.addKeyword({
    keyword: MeshKeyword.percent,
    type: 'number',
    schemaType: 'boolean',
    errors: true,
    validate: percent,
  });
  const exclusive: KeywordFn = function exclusiveCheck(groups, data) {
    const obj = data as Record<string, unknown>;
    for (const group of groups as string[][]) {
      const set = group.filter((k) => obj[k] !== undefined);
      if (set.length > 1)
        return keywordError(
          exclusiveCheck,
          MeshKeyword.exclusive,
          `${set.join(' and ')} cannot be used together; keep only one of ${group.join(', ')}`,
        );
    }
    return true;
  };
  a.addKeyword({
    keyword: MeshKeyword.exclusive,
    type: 'object',
    schemaType: 'array',
    errors: true,
    validate: exclusive,
  });
  return a;
}

function mentionsIdOrRef(n: unknown): boolean {
  if (Array.isArray(n)) return n.some(mentionsIdOrRef);
  if (!isRecord(n)) return false;
  return '$id' in n || '$ref' in n || Object.values(n).some(mentionsIdOrRef);
}

/**
 * The kind schemas repeat sub-schemas (Destination, StringMatch, TrafficPolicy parts; TypeBox copies
 * them where they are used). Inlined, ajv generates code for every copy: VirtualService and
 * DestinationRule took ~0.4 s each to compile. Identical object schemas become `$defs` that ajv
 * compiles once.
 */
export function shareRepeatedSubschemas(schema: unknown): Record<string, unknown> {
  const keys = new Map<object, string>();
  const counts = new Map<string, number>();
  const keyOf = (n: unknown): string => {
    if (Array.isArray(n)) return `[${n.map(keyOf).join(',')}]`;
    if (!isRecord(n)) return JSON.stringify(n) ?? 'undefined';
    let k = keys.get(n);
    if (k === undefined) {
      k = `{${Object.entries(n)
        .map(([p, v]) => `${JSON.stringify(p)}:${keyOf(v)}`)
        .join(',')}}`;
      keys.set(n, k);
      if (n.type === 'object' && isRecord(n.properties)) counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return k;
  };
  keyOf(schema);
  const defs: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const rebuild = (n: unknown, root = false): unknown => {
    if (Array.isArray(n)) return n.map((x) => rebuild(x));
    if (!isRecord(n)) return n;
    const k = keys.get(n)!;
    if (!root && (counts.get(k) ?? 0) > 1 && !mentionsIdOrRef(n)) {
      let name = names.get(k);
      if (!name) {
        name = `shared${names.size}`;
        names.set(k, name);
        defs[name] = Object.fromEntries(Object.entries(n).map(([p, v]) => [p, rebuild(v)]));
      }
      return { $ref: `#/$defs/${name}` };
    }
    return Object.fromEntries(Object.entries(n).map(([p, v]) => [p, rebuild(v)]));
  };
  const out = rebuild(schema, true) as Record<string, unknown>;
  return Object.keys(defs).length ? { ...out, $defs: defs } : out;
}

/** The validator of a kind, compiled on first use. */
export function validatorFor(def: KindDefinition): ValidateFunction {
  let v = validators.get(def);
  if (!v) {
    ajv ??= makeAjv();
    v = ajv.compile(shareRepeatedSubschemas(ResourceSchema(def.spec, true)));
    validators.set(def, v);
  }
  return v;
}

/** Compiles every kind's validator now (the control plane does it at start rather than on the first object). */
export function precompileValidators(): void {
  for (const def of MESH_KINDS) validatorFor(def);
}
