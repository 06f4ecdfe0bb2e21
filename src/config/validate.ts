/**
 * Validation of one object against the mesh API: the kind's schema (ajv), Istio/Linkerd's extra
 * rules, and the fields the mesh accepts but does not implement. Every issue names the file, line,
 * column and field path, and says how to fix it, e.g.
 * `vs.yaml:14:11: spec.http[0].route[1].weight: must be an integer >= 0 (got "ten")`.
 */
import { MAX_CONFIG_OBJECT_BYTES, formatBytes } from './limits.js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { SourcePosition } from '../errors.js';
import { formatFieldPath, type FieldPath, type ParsedDocument } from './documents.js';
import { parseDuration } from './duration.js';
import type { IssueRule, KindDefinition } from './kind.js';
import type { CoreKind, CoreObject } from './kinds/core.js';
import { regexProblem } from './regex.js';
import { lookupKind, MESH_KINDS } from './registry.js';
import { notEnforced } from './enforcement.js';
import { ANNOTATION_KEYWORDS, MeshKeyword, ResourceSchema } from './schema.js';
import { childPath } from './truth.js';
import { ownTruth } from './truth/index.js';
import type { MeshResource } from './types.js';

/** How bad an issue is: errors reject the object; warnings and notes do not. */
export type IssueSeverity = 'error' | 'warning' | 'info';

/** One problem found in an object, located in its file. */
export interface ValidationIssue {
  readonly severity: IssueSeverity;
  readonly rule: IssueRule;
  /** Path from the object root, e.g. ['spec', 'http', 0, 'route', 1, 'weight']. */
  readonly path: FieldPath;
  /** The path as users read it: `spec.http[0].route[1].weight`. */
  readonly field: string;
  /** What is wrong and the fix, without the location. */
  readonly message: string;
  /** Where it is; absent for objects that did not come from a file (e.g. from the API server). */
  readonly position?: SourcePosition;
}

/** Formats an issue as `file:line:column: field: message` (without position: `field: message`). */
export function formatIssue(issue: ValidationIssue): string {
  const where = issue.position ? `${issue.position.file}:${issue.position.line}:${issue.position.column}: ` : '';
  return `${where}${issue.field ? `${issue.field}: ` : ''}${issue.message}`;
}

/** An object to validate, with where it came from (a ManifestObject from documents.ts fits). */
export interface ResourceInput {
  readonly object: unknown;
  readonly document?: ParsedDocument;
  /** Path of the object in its document ([] or ['items', i] for List items). */
  readonly path?: FieldPath;
}

/** The identity of an object: what analyze and the control plane call it. */
export interface ResourceIdentity {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** Undefined for cluster-scoped kinds. */
  readonly namespace: string | undefined;
}

/** Everything validation learned about one object. */
export interface ValidationResult {
  readonly identity: ResourceIdentity;
  /** The mesh kind, when the object is one. */
  readonly kind?: KindDefinition;
  /** The core Kubernetes kind, when the object is one. */
  readonly core?: CoreKind;
  /** The typed resource (namespace defaulted, unknown fields of pruning kinds removed); only when there is no error. */
  readonly resource?: MeshResource;
  /** The core object, when it is one and has no error. */
  readonly coreObject?: CoreObject;
  readonly errors: ValidationIssue[];
  readonly warnings: ValidationIssue[];
  /** Informational: deprecated fields, kinds passed over. */
  readonly notes: ValidationIssue[];
}

/** Options of validation. */
export interface ValidateOptions {
  /** Namespace given to namespaced objects without one (the command's namespace). */
  defaultNamespace?: string;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Fields people write by analogy with the other mesh, and where that setting really lives. */
const KNOWN_MISTAKES: Readonly<Record<string, string>> = {
  'ServiceProfile.retries': 'Linkerd retries a route when it has isRetryable: true, within spec.retryBudget (retryRatio, minRetriesPerSecond, ttl); move the budget there',
  'ServiceProfile.retryBudget': 'the retry budget belongs to spec.retryBudget, not to a route',
  'VirtualService.weight': 'weight belongs to each entry of route[], next to destination',
  'DestinationRule.subset': 'subsets are listed under spec.subsets, each with a name and labels',
};

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
    if (ms === undefined) return keywordError(durationCheck, MeshKeyword.duration, `must be a duration such as 1.5s, 500ms or 1m (got ${JSON.stringify(data)})`);
    if (mode === 'positive' && ms < 1) return keywordError(durationCheck, MeshKeyword.duration, `must be at least 1ms (got ${JSON.stringify(data)})`);
    return true;
  };
  a.addKeyword({ keyword: MeshKeyword.duration, type: 'string', schemaType: 'string', errors: true, validate: duration });
  const regex: KeywordFn = function regexCheck(_s, data) {
    const problem = regexProblem(data as string);
    return problem ? keywordError(regexCheck, MeshKeyword.regex, `not a valid RE2 regular expression: ${problem}; RE2 has no backreferences or lookaround`) : true;
  };
  a.addKeyword({ keyword: MeshKeyword.regex, type: 'string', schemaType: 'boolean', errors: true, validate: regex });
  const percent: KeywordFn = function percentCheck(_s, data) {
    const n = data as number;
    return n < 0 || n > 100 ? keywordError(percentCheck, MeshKeyword.percent, `must be a percentage 0..100 (got ${n})`) : true;
  };
  a.addKeyword({ keyword: MeshKeyword.percent, type: 'number', schemaType: 'boolean', errors: true, validate: percent });
  const exclusive: KeywordFn = function exclusiveCheck(groups, data) {
    const obj = data as Record<string, unknown>;
    for (const group of groups as string[][]) {
      const set = group.filter((k) => obj[k] !== undefined);
      if (set.length > 1) return keywordError(exclusiveCheck, MeshKeyword.exclusive, `${set.join(' and ')} cannot be used together; keep only one of ${group.join(', ')}`);
    }
    return true;
  };
  a.addKeyword({ keyword: MeshKeyword.exclusive, type: 'object', schemaType: 'array', errors: true, validate: exclusive });
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
      k = `{${Object.entries(n).map(([p, v]) => `${JSON.stringify(p)}:${keyOf(v)}`).join(',')}}`;
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

function validatorFor(def: KindDefinition): ValidateFunction {
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function show(v: unknown): string {
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
  const defaultBounds = (min === -2147483648 && max === 2147483647) || (min === 0 && max === 4294967295 && schema.type === 'integer');
  if (schema.type === 'integer' || schema.type === 'number') {
    if (defaultBounds) return min === 0 ? `${noun} >= 0` : noun;
    if (min !== undefined && max !== undefined && max < 2147483647) return `${noun} ${min}..${max}`;
    if (min !== undefined) return `${noun} >= ${min}`;
    if (max !== undefined) return `${noun} <= ${max}`;
    return noun;
  }
  switch (schema.type) {
    case 'string': return 'a string';
    case 'boolean': return 'true or false';
    case 'array': return 'a list';
    case 'object': return 'a mapping (key: value)';
    default: return noun;
  }
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
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

interface RawIssue {
  path: (string | number)[];
  message: string;
  rule: IssueRule;
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
  for (const seg of path) node = Array.isArray(node) ? node[seg as number] : isRecord(node) ? node[seg as string] : undefined;
  return node;
}

function translate(err: ErrorObject, root: unknown, rootSchema: unknown): RawIssue | undefined {
  const base = pointerToPath(err.instancePath, root);
  const parent = schemaAt(err.schemaPath, rootSchema);
  const data = dataAt(base, root);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return { path: [...base, p.missingProperty as string], message: 'required field is missing; add it', rule: 'schema' };
    case 'additionalProperties': {
      const field = p.additionalProperty as string;
      const known = Object.keys((parent.properties as Record<string, unknown> | undefined) ?? {});
      const guess = suggest(field, known);
      const hint = guess ? `did you mean "${guess}"?` : known.length ? `remove it (known fields: ${known.join(', ')})` : 'remove it';
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
      return { path: base, message: `must be one of ${values.join(', ')} (got ${show(data)})${guess ? `; did you mean ${guess}?` : ''}`, rule: 'schema' };
    }
    case 'anyOf':
      if (parent['x-kubernetes-int-or-string']) return { path: base, message: `must be an integer or a string (got ${show(data)})`, rule: 'schema' };
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

/**
 * Finds fields that are set although the mesh does not act on them (the truth table says
 * accepted, or deprecated and not honoured), or that are deprecated. `at` is the field's path in
 * the truth table's notation (`http[].route[].weight`).
 */
function walkAnnotated(def: KindDefinition, schema: unknown, value: unknown, path: (string | number)[], at: string, out: RawIssue[]): void {
  if (!isRecord(schema) || value === undefined) return;
  const truth = ownTruth(def, at, schema);
  if (truth?.status === 'accepted') {
    const what = at ? '' : `${def.kind} `;
    out.push({ path, message: `${what}accepted but not implemented by the mesh: ${truth.why}`, rule: 'unsupported' });
    return;
  }
  const markedValues = schema[MeshKeyword.unsupportedValues];
  const ignored =
    typeof value === 'string'
      ? (truth?.ignoredValues?.[value] ?? (isRecord(markedValues) && typeof markedValues[value] === 'string' ? markedValues[value] : undefined))
      : undefined;
  if (ignored !== undefined) out.push({ path, message: `${String(value)} is accepted but not implemented by the mesh: ${ignored}`, rule: 'unsupported' });
  const deprecatedValues = schema[MeshKeyword.deprecatedValues];
  if (isRecord(deprecatedValues) && typeof value === 'string' && typeof deprecatedValues[value] === 'string') {
    out.push({ path, message: `${value} is deprecated; ${deprecatedValues[value]}`, rule: 'deprecated' });
  }
  const deprecated = schema[MeshKeyword.deprecated];
  const use = truth?.status === 'deprecated' ? truth.use : typeof deprecated === 'string' ? deprecated : undefined;
  if (use !== undefined) out.push({ path, message: `is deprecated; ${use}`, rule: 'deprecated' });
  if (truth?.status === 'deprecated' && truth.tests.length === 0) {
    const why = typeof schema[MeshKeyword.unsupported] === 'string' ? (schema[MeshKeyword.unsupported] as string) : `use ${truth.use}`;
    out.push({ path, message: `accepted but not implemented by the mesh: ${why}`, rule: 'unsupported' });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => walkAnnotated(def, schema.items, item, [...path, i], `${at}[]`, out));
    return;
  }
  if (!isRecord(value)) return;
  const props = isRecord(schema.properties) ? schema.properties : undefined;
  for (const [k, v] of Object.entries(value)) {
    if (props && k in props) walkAnnotated(def, props[k], v, [...path, k], childPath(at, k), out);
    else if (isRecord(schema.additionalProperties)) walkAnnotated(def, schema.additionalProperties, v, [...path, k], `${at}.<key>`, out);
  }
}

function deleteAt(root: unknown, path: readonly (string | number)[]): void {
  let node: unknown = root;
  for (const seg of path.slice(0, -1)) node = isRecord(node) ? node[seg as string] : Array.isArray(node) ? node[seg as number] : undefined;
  const last = path[path.length - 1];
  if (isRecord(node) && typeof last === 'string') delete node[last];
}

/** Validates one object: kind lookup, schema, extra rules, unsupported and deprecated fields. */
export function validateResource(input: ResourceInput, options: ValidateOptions = {}): ValidationResult {
  const obj = input.object;
  const prefix = input.path ?? [];
  const locate = (path: FieldPath): SourcePosition | undefined => input.document?.positionOf([...prefix, ...path]);
  const errors: ValidationIssue[] = [];
  const warnings: ValidationIssue[] = [];
  const notes: ValidationIssue[] = [];
  const add = (severity: IssueSeverity, raw: RawIssue): void => {
    const position = locate(raw.path);
    const issue: ValidationIssue = { severity, rule: raw.rule, path: raw.path, field: formatFieldPath(raw.path), message: raw.message, ...(position ? { position } : {}) };
    (severity === 'error' ? errors : severity === 'warning' ? warnings : notes).push(issue);
  };

  const rec = isRecord(obj) ? obj : undefined;
  const apiVersion = typeof rec?.apiVersion === 'string' ? rec.apiVersion : '';
  const kindName = typeof rec?.kind === 'string' ? rec.kind : '';
  const meta = isRecord(rec?.metadata) ? rec.metadata : {};
  const rawName = typeof meta.name === 'string' ? meta.name : '';
  const rawNs = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  const baseIdentity = { apiVersion, kind: kindName || '<no kind>', name: rawName || '<no name>' };

  if (!rec) {
    add('error', { path: [], message: `expected a Kubernetes object (a mapping with apiVersion, kind, metadata), got ${show(obj)}`, rule: 'schema' });
    return { identity: { ...baseIdentity, namespace: undefined }, errors, warnings, notes };
  }
  if (!apiVersion || !kindName) {
    for (const f of ['apiVersion', 'kind'] as const) {
      if (typeof rec[f] !== 'string') add('error', { path: [f], message: `required field is missing; add it (e.g. ${f === 'kind' ? 'kind: VirtualService' : 'apiVersion: networking.istio.io/v1'})`, rule: 'schema' });
    }
    return { identity: { ...baseIdentity, namespace: rawNs }, errors, warnings, notes };
  }

  const found = lookupKind(apiVersion, kindName);
  if (found.type === 'unknown') {
    add('info', { path: ['kind'], message: `${kindName} (${apiVersion}) is not a mesh kind; passed over`, rule: 'not-mesh-kind' });
    return { identity: { ...baseIdentity, namespace: rawNs }, errors, warnings, notes };
  }
  const namespaced = found.type === 'core' ? found.core.namespaced : found.def.namespaced;
  if (found.type !== 'core') {
    // Before anything else: a 4 MB VirtualService once stopped config delivery to every proxy importing its host.
    const size = Buffer.byteLength(JSON.stringify(rec));
    if (size > MAX_CONFIG_OBJECT_BYTES) {
      const ns = namespaced ? (rawNs ?? options.defaultNamespace ?? 'default') : undefined;
      add('error', {
        path: [],
        message: `${kindName} ${rawName}${ns ? `.${ns}` : ''} is ${formatBytes(size)} (${size} bytes as JSON); the largest config object the mesh accepts is ${formatBytes(MAX_CONFIG_OBJECT_BYTES)}: split it (e.g. one VirtualService per host, or delegate routes to other VirtualServices)`,
        rule: 'too-large',
      });
      return { identity: { ...baseIdentity, namespace: ns }, errors, warnings, notes };
    }
  }
  const namespace = namespaced ? (rawNs ?? options.defaultNamespace ?? 'default') : undefined;
  const identity: ResourceIdentity = { ...baseIdentity, namespace };

  checkMetadata(meta, found.type === 'core' && found.core.kind === 'Namespace', add);

  if (found.type === 'bad-version') {
    add('error', { path: ['apiVersion'], message: `${found.def.group}/${found.version} does not serve ${kindName}; use one of ${found.def.versions.map((v) => `${found.def.group}/${v}`).join(', ')}`, rule: 'schema' });
    return { identity, kind: found.def, errors, warnings, notes };
  }
  if (found.type === 'core') {
    const coreObject = structuredClone(rec) as CoreObject;
    if (namespace !== undefined) coreObject.metadata = { ...coreObject.metadata, namespace };
    return { identity, core: found.core, ...(errors.length === 0 ? { coreObject } : {}), errors, warnings, notes };
  }

  const def = found.def;
  if (found.wrongGroup) {
    add('warning', {
      path: ['apiVersion'],
      message: `${kindName} belongs to ${def.group}, not ${found.wrongGroup}: the Kubernetes API server rejects this apiVersion; meshctl reads it as ${def.group}/${found.version}. Fix: apiVersion: ${def.group}/${found.version}`,
      rule: 'wrong-group',
    });
  }
  const copy = structuredClone(rec);
  const validate = validatorFor(def);
  validate(copy);
  const raw = (validate.errors ?? [])
    .filter((e) => !e.schemaPath.includes('/anyOf/'))
    .map((e) => translate(e, copy, validate.schema))
    .filter((e): e is RawIssue => e !== undefined);
  const seen = new Set<string>();
  for (const issue of raw) {
    const key = `${formatFieldPath(issue.path)}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const mistake = issue.rule === 'unknown-field' ? KNOWN_MISTAKES[`${def.kind}.${String(issue.path[issue.path.length - 1])}`] : undefined;
    if (mistake) issue.message = `unknown field "${String(issue.path[issue.path.length - 1])}"; ${mistake}`;
    if (issue.rule === 'unknown-field' && def.unknownFields === 'warn') {
      const who = def.family === 'linkerd' ? "the API server prunes it, and Linkerd's validator rejects it" : 'the API server prunes it';
      add('warning', { ...issue, message: `${issue.message}. ${def.kind} has no such field: the mesh ignores it (${who})` });
      deleteAt(copy, issue.path);
    } else add('error', issue);
  }
  if (errors.length === 0 && def.check) {
    // A check reporting rule 'unsupported' flags a combination the mesh accepts but does not enforce (MESH0002): a warning.
    def.check((copy as { spec: never }).spec, (path, message, rule) => add(rule === 'unsupported' ? 'warning' : 'error', { path: [...path], message, rule: rule ?? 'schema' }));
  }
  const annotated: RawIssue[] = [];
  walkAnnotated(def, def.spec, rec.spec, ['spec'], '', annotated);
  for (const a of annotated) add(a.rule === 'deprecated' ? 'info' : 'warning', a);
  const inactive = errors.length === 0 ? notEnforced(def.group, def.kind) : undefined;
  if (inactive) {
    add('warning', { path: ['kind'], message: `${def.kind} is accepted but not enforced by the mesh yet (${inactive.why}): it changes no traffic`, rule: 'unsupported' });
  }

  if (errors.length > 0) return { identity, kind: def, errors, warnings, notes };
  const resource = copy as unknown as MeshResource;
  if (namespace !== undefined) resource.metadata = { ...resource.metadata, namespace };
  return { identity, kind: def, resource, errors, warnings, notes };
}

function checkMetadata(meta: Record<string, unknown>, isNamespace: boolean, add: (s: IssueSeverity, r: RawIssue) => void): void {
  const name = meta.name;
  if (name === undefined && meta.generateName === undefined) {
    add('error', { path: ['metadata', 'name'], message: 'required field is missing; add it', rule: 'schema' });
  } else if (name !== undefined) {
    const re = isNamespace ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
    if (typeof name !== 'string' || !re.test(name) || name.length > (isNamespace ? 63 : 253)) {
      add('error', { path: ['metadata', 'name'], message: `${show(name)} is not a valid name: use lowercase letters, digits, '-'${isNamespace ? '' : " and '.'"}, starting and ending with a letter or digit`, rule: 'schema' });
    }
  }
  const ns = meta.namespace;
  if (ns !== undefined && (typeof ns !== 'string' || !DNS1123_LABEL.test(ns))) {
    add('error', { path: ['metadata', 'namespace'], message: `${show(ns)} is not a valid namespace name: use lowercase letters, digits and '-'`, rule: 'schema' });
  }
  for (const f of ['labels', 'annotations'] as const) {
    const m = meta[f];
    if (m === undefined || m === null) continue;
    if (!isRecord(m)) add('error', { path: ['metadata', f], message: `must be a mapping of strings (got ${show(m)})`, rule: 'schema' });
    else for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') add('error', { path: ['metadata', f, k], message: `must be a string (got ${show(v)}); quote it, e.g. "${String(v)}"`, rule: 'schema' });
  }
}
