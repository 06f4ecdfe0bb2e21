/** Helpers for analyzer tests: analyze YAML texts in-process, as `meshctl analyze -f` would. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { NOT_TRANSLATED } from '../../src/config/truth/tests.js';
import { buildAnalysisInput, runAnalysis, type Finding, type PlatformSnapshot } from '../../src/analyze/index.js';
import { notEnforced, splitApiVersion } from '../../src/config/index.js';

/** The corpus directory. */
export const CORPUS = fileURLToPath(new URL('../fixtures/config/corpus/', import.meta.url));

/** The shared cluster of the corpus (namespaces, services, deployments, the gateway secret). */
export const BASE = readFileSync(`${CORPUS}base.yaml`, 'utf8');

/** Whether a finding is the warning that an object's kind is accepted but not enforced (MESH0002 on `kind`). */
export function isNotEnforcedFinding(f: Finding): boolean {
  return (
    f.type.code === 'MESH0002' && f.field === 'kind' && / is accepted but not enforced by the mesh yet /.test(f.message)
  );
}

/** Analyzes named texts (optionally over a platform snapshot) and returns every finding. */
export function analyzeAll(files: Record<string, string>, platform?: PlatformSnapshot): Finding[] {
  const input = buildAnalysisInput({
    files: Object.entries(files).map(([name, text]) => ({ name, text })),
    defaultNamespace: 'default',
    ...(platform ? { platform } : {}),
  });
  return runAnalysis(input);
}

/**
 * Analyzes named texts and returns the findings about the config itself. Checks first that every
 * object of a kind declared "accepted, not enforced" (src/config/enforcement.ts) got exactly one
 * MESH0002 saying so, and nothing else did; those warnings are then left out, so a case asserts
 * what it is about. When a kind becomes enforced, its warnings disappear here on their own.
 */
export function analyzeTexts(files: Record<string, string>, platform?: PlatformSnapshot): Finding[] {
  const input = buildAnalysisInput({
    files: Object.entries(files).map(([name, text]) => ({ name, text })),
    defaultNamespace: 'default',
    ...(platform ? { platform } : {}),
  });
  const findings = runAnalysis(input);
  const id = (r: { kind: string; namespace?: string | undefined; name: string }): string =>
    `${r.kind} ${r.namespace ?? ''}/${r.name}`;
  const declared = input.resources
    .filter((r) => r.mesh && notEnforced(splitApiVersion(r.mesh.apiVersion).group, r.mesh.kind))
    .map((r) => id(r.validation.identity));
  const reported = findings.filter(isNotEnforcedFinding).map((f) => (f.resource ? id(f.resource) : '(no resource)'));
  expect(reported.sort(), 'one "accepted but not enforced" warning per object of such a kind').toEqual(declared.sort());
  return findings.filter((f) => !isNotEnforcedFinding(f));
}

/**
 * The codes of findings, in order, without the MESH0002 of kinds no proxy receives yet (their
 * issues are open: src/config/truth/tests.ts NOT_TRANSLATED). test/config/truth.test.ts asserts
 * those warnings; analyzer tests are about the analyzers.
 */
export function codes(findings: readonly Finding[]): string[] {
  const pending = Object.values(NOT_TRANSLATED) as string[];
  return findings
    .filter((f) => !(f.type.code === 'MESH0002' && pending.some((p) => f.message.includes(p))))
    .map((f) => f.type.code);
}
