/**
 * Validation of one object against the mesh API: the kind's schema (ajv), Istio/Linkerd's extra
 * rules, and the fields the mesh accepts but does not implement. Every issue names the file, line,
 * column and field path, and says how to fix it, e.g.
 * `vs.yaml:14:11: spec.http[0].route[1].weight: must be an integer >= 0 (got "ten")`.
 */
import { MAX_CONFIG_OBJECT_BYTES, formatBytes } from './limits.js';
import type { SourcePosition } from '../errors.js';
import { formatFieldPath, type FieldPath } from './documents.js';
import type { KindDefinition } from './kind.js';
import type { CoreObject } from './kinds/core.js';
import { lookupKind, splitApiVersion } from './registry.js';
import { notEnforced } from './enforcement.js';
import { MeshKeyword } from './schema.js';
import { childPath } from './truth.js';
import { ownTruth } from './truth/index.js';
import type { MeshResource } from './types.js';
import { isRecord, KNOWN_MISTAKES, show, translate } from './issue-messages.js';
import type {
  IssueSeverity,
  RawIssue,
  ResourceIdentity,
  ResourceInput,
  ValidateOptions,
  ValidationIssue,
  ValidationResult,
} from './issues.js';
import { validatorFor } from './schema-validators.js';

export type {
  IssueSeverity,
  ResourceIdentity,
  ResourceInput,
  ValidateOptions,
  ValidationIssue,
  ValidationResult,
} from './issues.js';
export { formatIssue } from './issues.js';
export { shareRepeatedSubschemas, precompileValidators } from './schema-validators.js';
export { suggest } from './issue-messages.js';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Finds fields that are set although the mesh does not act on them (the truth table says
 * accepted, or deprecated and not honoured), or that are deprecated. `at` is the field's path in
 * the truth table's notation (`http[].route[].weight`).
 */
function walkAnnotated(
  def: KindDefinition,
  schema: unknown,
  value: unknown,
  path: (string | number)[],
  at: string,
  out: RawIssue[],
): void {
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
      ? (truth?.ignoredValues?.[value] ??
        (isRecord(markedValues) && typeof markedValues[value] === 'string' ? markedValues[value] : undefined))
      : undefined;
  if (ignored !== undefined)
    out.push({
      path,
      message: `${String(value)} is accepted but not implemented by the mesh: ${ignored}`,
      rule: 'unsupported',
    });
  const deprecatedValues = schema[MeshKeyword.deprecatedValues];
  if (isRecord(deprecatedValues) && typeof value === 'string' && typeof deprecatedValues[value] === 'string') {
    out.push({ path, message: `${value} is deprecated; ${deprecatedValues[value]}`, rule: 'deprecated' });
  }
  const deprecated = schema[MeshKeyword.deprecated];
  const use = truth?.status === 'deprecated' ? truth.use : typeof deprecated === 'string' ? deprecated : undefined;
  if (use !== undefined) out.push({ path, message: `is deprecated; ${use}`, rule: 'deprecated' });
  if (truth?.status === 'deprecated' && truth.tests.length === 0) {
    const why =
      typeof schema[MeshKeyword.unsupported] === 'string'
        ? (schema[MeshKeyword.unsupported] as string)
        : `use ${truth.use}`;
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
    else if (isRecord(schema.additionalProperties))
      walkAnnotated(def, schema.additionalProperties, v, [...path, k], `${at}.<key>`, out);
  }
}

function deleteAt(root: unknown, path: readonly (string | number)[]): void {
  let node: unknown = root;
  for (const seg of path.slice(0, -1))
    node = isRecord(node) ? node[seg as string] : Array.isArray(node) ? node[seg as number] : undefined;
  const last = path[path.length - 1];
  if (isRecord(node) && typeof last === 'string') delete node[last];
}

/** Upstream kinds that patch Envoy itself, and what replaces their common uses in meshctl. */
const UNHONOURED_KINDS: Readonly<Record<string, string>> = {
  'networking.istio.io/EnvoyFilter':
    'For its common uses: headers -> VirtualService http[].headers; rate limits -> a connectionPool in a DestinationRule; ' +
    'Lua/ext_authz -> an AuthorizationPolicy; access logs and tracing -> meshConfig or the Telemetry kind; timeouts -> VirtualService timeout.',
  'extensions.istio.io/WasmPlugin':
    "Wasm modules do not run in meshctl's proxy. For its common uses: authentication -> RequestAuthentication with an AuthorizationPolicy; " +
    'header changes -> VirtualService http[].headers; metrics -> the Telemetry kind.',
};

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
    const issue: ValidationIssue = {
      severity,
      rule: raw.rule,
      path: raw.path,
      field: formatFieldPath(raw.path),
      message: raw.message,
      ...(position ? { position } : {}),
    };
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
    add('error', {
      path: [],
      message: `expected a Kubernetes object (a mapping with apiVersion, kind, metadata), got ${show(obj)}`,
      rule: 'schema',
    });
    return { identity: { ...baseIdentity, namespace: undefined }, errors, warnings, notes };
  }
  if (!apiVersion || !kindName) {
    for (const f of ['apiVersion', 'kind'] as const) {
      if (typeof rec[f] !== 'string')
        add('error', {
          path: [f],
          message: `required field is missing; add it (e.g. ${f === 'kind' ? 'kind: VirtualService' : 'apiVersion: networking.istio.io/v1'})`,
          rule: 'schema',
        });
    }
    return { identity: { ...baseIdentity, namespace: rawNs }, errors, warnings, notes };
  }

  const found = lookupKind(apiVersion, kindName);
  if (found.type === 'unknown') {
    const unhonoured = UNHONOURED_KINDS[`${splitApiVersion(apiVersion).group}/${kindName}`];
    if (unhonoured) {
      add('warning', {
        path: ['kind'],
        message: `${kindName} cannot be honoured by meshctl (its proxy is not Envoy): it has no effect. ${unhonoured}`,
        rule: 'unhonoured-kind',
      });
      return { identity: { ...baseIdentity, namespace: rawNs }, errors, warnings, notes };
    }
    add('info', {
      path: ['kind'],
      message: `${kindName} (${apiVersion}) is not a mesh kind; passed over`,
      rule: 'not-mesh-kind',
    });
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
    add('error', {
      path: ['apiVersion'],
      message: `${found.def.group}/${found.version} does not serve ${kindName}; use one of ${found.def.versions.map((v) => `${found.def.group}/${v}`).join(', ')}`,
      rule: 'schema',
    });
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
    const mistake =
      issue.rule === 'unknown-field'
        ? KNOWN_MISTAKES[`${def.kind}.${String(issue.path[issue.path.length - 1])}`]
        : undefined;
    if (mistake) issue.message = `unknown field "${String(issue.path[issue.path.length - 1])}"; ${mistake}`;
    if (issue.rule === 'unknown-field' && def.unknownFields === 'warn') {
      const who =
        def.family === 'linkerd'
          ? "the API server prunes it, and Linkerd's validator rejects it"
          : 'the API server prunes it';
      add('warning', {
        ...issue,
        message: `${issue.message}. ${def.kind} has no such field: the mesh ignores it (${who})`,
      });
      deleteAt(copy, issue.path);
    } else add('error', issue);
  }
  if (errors.length === 0 && def.check) {
    // A check reporting rule 'unsupported' flags a combination the mesh accepts but does not enforce (MESH0002): a warning.
    def.check((copy as { spec: never }).spec, (path, message, rule) =>
      add(rule === 'unsupported' ? 'warning' : 'error', { path: [...path], message, rule: rule ?? 'schema' }),
    );
  }
  const inactive = errors.length === 0 ? notEnforced(def.group, def.kind) : undefined;
  // A kind without effect gets one warning for the whole object, not one more per field.
  const annotated: RawIssue[] = [];
  if (!notEnforced(def.group, def.kind)) walkAnnotated(def, def.spec, rec.spec, ['spec'], '', annotated);
  for (const a of annotated) add(a.rule === 'deprecated' ? 'info' : 'warning', a);
  if (inactive) {
    add('warning', {
      path: ['kind'],
      message: `${def.kind} is accepted but not enforced by the mesh yet (${inactive.why}): it changes no traffic`,
      rule: 'unsupported',
    });
  }

  if (errors.length > 0) return { identity, kind: def, errors, warnings, notes };
  const resource = copy as unknown as MeshResource;
  if (namespace !== undefined) resource.metadata = { ...resource.metadata, namespace };
  return { identity, kind: def, resource, errors, warnings, notes };
}

function checkMetadata(
  meta: Record<string, unknown>,
  isNamespace: boolean,
  add: (s: IssueSeverity, r: RawIssue) => void,
): void {
  const name = meta.name;
  if (name === undefined && meta.generateName === undefined) {
    add('error', { path: ['metadata', 'name'], message: 'required field is missing; add it', rule: 'schema' });
  } else if (name !== undefined) {
    const re = isNamespace ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
    if (typeof name !== 'string' || !re.test(name) || name.length > (isNamespace ? 63 : 253)) {
      add('error', {
        path: ['metadata', 'name'],
        message: `${show(name)} is not a valid name: use lowercase letters, digits, '-'${isNamespace ? '' : " and '.'"}, starting and ending with a letter or digit`,
        rule: 'schema',
      });
    }
  }
  const ns = meta.namespace;
  if (ns !== undefined && (typeof ns !== 'string' || !DNS1123_LABEL.test(ns))) {
    add('error', {
      path: ['metadata', 'namespace'],
      message: `${show(ns)} is not a valid namespace name: use lowercase letters, digits and '-'`,
      rule: 'schema',
    });
  }
  for (const f of ['labels', 'annotations'] as const) {
    const m = meta[f];
    if (m === undefined || m === null) continue;
    if (!isRecord(m))
      add('error', { path: ['metadata', f], message: `must be a mapping of strings (got ${show(m)})`, rule: 'schema' });
    else
      for (const [k, v] of Object.entries(m))
        if (typeof v !== 'string')
          add('error', {
            path: ['metadata', f, k],
            message: `must be a string (got ${show(v)}); quote it, e.g. "${String(v)}"`,
            rule: 'schema',
          });
  }
}
