/**
 * The CRDs: the checked-in templates/crds match what the schemas generate, and every CRD follows
 * the API server's structural schema rules (typed nodes, no properties next to additionalProperties,
 * value validations only inside oneOf/allOf/not), all versions served and one stored. The README
 * support tables match the schemas too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { generateCrdFiles, MESH_KINDS, supportTables } from '../../src/config/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const files = generateCrdFiles();

const NODE_KEYS = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'enum',
  'minimum',
  'maximum',
  'format',
  'minItems',
  'minLength',
  'additionalProperties',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'oneOf',
  'allOf',
]);
const VALUE_KEYS = new Set(['required', 'not', 'anyOf', 'oneOf', 'allOf']);

function structuralProblems(node: Record<string, unknown>, path: string, out: string[]): void {
  for (const k of Object.keys(node)) if (!NODE_KEYS.has(k)) out.push(`${path}: unexpected keyword ${k}`);
  if (!node.type && !node['x-kubernetes-int-or-string']) out.push(`${path}: no type`);
  if (node.properties && node.additionalProperties) out.push(`${path}: properties and additionalProperties together`);
  if (node.additionalProperties === false) out.push(`${path}: additionalProperties: false`);
  if (node['x-kubernetes-int-or-string'] && node.type) out.push(`${path}: int-or-string with a type`);
  const checkValueOnly = (v: unknown, p: string): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => checkValueOnly(x, `${p}[${i}]`));
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (!VALUE_KEYS.has(k)) out.push(`${p}: ${k} inside a value validation`);
      if (k !== 'required') checkValueOnly(x, `${p}.${k}`);
    }
  };
  if (node.oneOf) checkValueOnly(node.oneOf, `${path}.oneOf`);
  if (node.allOf) checkValueOnly(node.allOf, `${path}.allOf`);
  for (const [k, v] of Object.entries((node.properties as Record<string, Record<string, unknown>>) ?? {}))
    structuralProblems(v, `${path}.${k}`, out);
  if (node.items) structuralProblems(node.items as Record<string, unknown>, `${path}[]`, out);
  if (node.additionalProperties)
    structuralProblems(node.additionalProperties as Record<string, unknown>, `${path}{}`, out);
}

describe('CRDs', () => {
  it('templates/crds holds exactly the generated CRDs (run npm run crds:generate after a schema change)', () => {
    const checkedIn = readdirSync(`${root}templates/crds`)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(checkedIn).toEqual(files.map((f) => f.fileName).sort());
    for (const f of files) expect(readFileSync(`${root}templates/crds/${f.fileName}`, 'utf8'), f.fileName).toBe(f.yaml);
  });

  it.each(files.map((f) => [f.fileName, f] as const))(
    '%s is structural, serves every version and stores one',
    (_name, f) => {
      const crd = parse(f.yaml) as {
        spec: {
          versions: {
            name: string;
            served: boolean;
            storage: boolean;
            schema: { openAPIV3Schema: Record<string, unknown> };
          }[];
        };
      };
      expect(crd.spec.versions.every((v) => v.served)).toBe(true);
      expect(crd.spec.versions.filter((v) => v.storage)).toHaveLength(1);
      const problems: string[] = [];
      for (const v of crd.spec.versions) structuralProblems(v.schema.openAPIV3Schema, v.name, problems);
      expect(problems).toEqual([]);
      expect((crd.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, unknown>).metadata).toEqual({
        type: 'object',
      });
    },
  );

  it('covers every kind once, with Istio int-or-string and Linkerd preserve-unknown-fields only where the API has them', () => {
    expect(files).toHaveLength(MESH_KINDS.length);
    const server = files.find((f) => f.fileName === 'policy.linkerd.io_servers.yaml')!.yaml;
    expect(server).toMatch(/port:\n\s+description: container port number or name\n\s+x-kubernetes-int-or-string: true/);
  });

  it('a CRD of a protected group (*.k8s.io: the Gateway API routes) carries the api-approved.kubernetes.io annotation the API server requires', () => {
    for (const f of files) {
      const crd = parse(f.yaml) as { metadata: { annotations?: Record<string, string> }; spec: { group: string } };
      const isProtected = /(^|\.)(k8s|kubernetes)\.io$/.test(crd.spec.group);
      expect(crd.metadata.annotations?.['api-approved.kubernetes.io'] !== undefined, f.fileName).toBe(isProtected);
    }
  });
});

describe('README support tables', () => {
  it('match the schemas (run npm run crds:generate to refresh them)', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const m = /<!-- generated:support-tables -->\n([\s\S]*?)<!-- \/generated:support-tables -->/.exec(readme);
    expect(m?.[1]).toBe(supportTables());
  });
});
