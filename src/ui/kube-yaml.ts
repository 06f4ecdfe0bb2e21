/**
 * YAML scalars as Kubernetes reads them. kubectl and the API server read manifests with
 * sigs.k8s.io/yaml, i.e. go-yaml v2: YAML 1.1 scalar rules, not YAML 1.2's. The differences change
 * Kubernetes fields: `defaultMode: 0400` is octal 256 (0400), not 400 (0620: group-writable);
 * `yes`, `on`, `y` are booleans; `1_000` is 1000; `0o17` and `0b101` are numbers. Reading a
 * manifest with 1.2 rules and writing it back (inject, uninject) silently changes what the
 * cluster gets. Every YAML the CLI reads (inject, uninject, apply, analyze, install values) and
 * prints goes through these options, so it means what it means to Kubernetes, and printed
 * strings are quoted wherever go-yaml would read them as something else.
 *
 * Where go-yaml v2 differs from the YAML 1.1 spec, go-yaml wins: timestamps and base-60 numbers
 * stay strings (go-yaml keeps timestamp-like values as strings in untyped maps and has no base 60),
 * `0o17`, `0X1F`, `0B11` are numbers (Go's strconv base 0), and a plain scalar in a flow sequence
 * may end in `:` (`[1.2.3.4, 001:db8::]` is two strings; see `fixFlowColonScalars`).
 */
import { createRequire } from 'node:module';
import type { Document, Scalar, ScalarTag, Tags } from 'yaml';

// The YAML engine is loaded when YAML is read or printed, not when this module is imported.
const require = createRequire(import.meta.url);
const yaml = (): typeof import('yaml') => require('yaml') as typeof import('yaml');

const isInt = (v: unknown): boolean => typeof v === 'bigint' || Number.isInteger(v);

function goInt(str: string, prefixLength: number, radix: number): number {
  const sign = str[0] === '-' || str[0] === '+' ? str[0] : '';
  const digits = str.slice(sign.length + prefixLength).replace(/_/g, '');
  const n = parseInt(digits, radix);
  return sign === '-' ? -n : n;
}

/** Integer forms Go's strconv.ParseInt(s, 0, 64) accepts beyond YAML 1.1's (0o17, 0X1F, 0B11). */
const goPrefixedInts: ScalarTag[] = [
  {
    identify: isInt,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'OCT',
    test: /^[-+]?0[oO][0-7_]+$/,
    resolve: (s) => goInt(s, 2, 8),
  },
  {
    identify: isInt,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'HEX',
    test: /^[-+]?0X[0-9a-fA-F_]+$/,
    resolve: (s) => goInt(s, 2, 16),
  },
  {
    identify: isInt,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'BIN',
    test: /^[-+]?0B[01_]+$/,
    resolve: (s) => goInt(s, 2, 2),
  },
];

/** The YAML 1.1 tags as go-yaml v2 resolves plain scalars. */
function kubernetesTags(tags: Tags): Tags {
  const kept = tags.filter((t) => {
    const tag = t as ScalarTag;
    // base 60 (`1:20`) and timestamps: strings to go-yaml v2 (in untyped maps)
    if (tag.format === 'TIME' || tag.tag === 'tag:yaml.org,2002:timestamp') return false;
    return true;
  });
  // `.`, `+.`, `._` are strings to go-yaml (no digit); YAML 1.1's float pattern takes them.
  const withDigit = kept.map((t) => {
    const tag = t as ScalarTag;
    if (tag.tag === 'tag:yaml.org,2002:float' && tag.format === undefined && tag.test) {
      const test = tag.test;
      return { ...tag, test: { test: (s: string) => /\d/.test(s) && test.test(s) } as unknown as RegExp };
    }
    return t;
  });
  // After YAML 1.1's own: a parsed `0400` is printed back through intOct (as `0400`), not through these.
  return [...withDigit, ...goPrefixedInts];
}

/** Parse and print options: YAML 1.1 scalars, as Kubernetes resolves them. */
export const KUBERNETES_YAML = { version: '1.1', schema: 'yaml-1.1', customTags: kubernetesTags } as const;

/**
 * go-yaml ends a plain scalar inside a flow collection only at `,`, `[`, `]`, `{`, `}` or `: `,
 * so `[1.2.3.4, 001:db8::]` holds the string `001:db8::`; the `yaml` package (YAML 1.2) reads the
 * last `:` before `]` as a key indicator and makes a map `{001:db8:: null}`. Such one-pair maps
 * (plain key, `:` right after it, nothing after the `:`) are turned back into the scalar go-yaml reads.
 */
export function fixFlowColonScalars(doc: Document.Parsed, text: string): void {
  const { isSeq, visit, Scalar: ScalarNode } = yaml();
  visit(doc, {
    Map(_key, node, path) {
      const parent = path[path.length - 1];
      if (!node.flow || !isSeq(parent) || !parent.flow || node.items.length !== 1 || !node.range) return undefined;
      if (text[node.range[0]] === '{') return undefined;
      const pair = node.items[0]!;
      const key = pair.key as Scalar | null;
      const value = pair.value as Scalar | null;
      if (!(key instanceof ScalarNode) || key.type !== 'PLAIN' || !key.range) return undefined;
      if (value !== null && !(value instanceof ScalarNode && value.source === '' && value.value === null))
        return undefined;
      const colon = key.range[1];
      if (text[colon] !== ':' || !',]}'.includes(text[colon + 1] ?? '')) return undefined;
      const s = new ScalarNode(text.slice(key.range[0], colon + 1));
      s.range = [key.range[0], colon + 1, colon + 1];
      return s;
    },
  });
}

/** Prints `value` as YAML that Kubernetes reads back as the same value (strings quoted where needed). */
export function stringifyForKubernetes(value: unknown, opts: { indentSeq?: boolean } = {}): string {
  return yaml().stringify(value, { ...KUBERNETES_YAML, lineWidth: 0, aliasDuplicateObjects: false, ...opts });
}
