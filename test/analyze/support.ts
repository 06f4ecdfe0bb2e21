/** Helpers for analyzer tests: analyze YAML texts in-process, as `meshctl analyze -f` would. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildAnalysisInput, runAnalysis, type Finding, type PlatformSnapshot } from '../../src/analyze/index.js';

/** The corpus directory. */
export const CORPUS = fileURLToPath(new URL('../fixtures/config/corpus/', import.meta.url));

/** The shared cluster of the corpus (namespaces, services, deployments, the gateway secret). */
export const BASE = readFileSync(`${CORPUS}base.yaml`, 'utf8');

/** Analyzes named texts (optionally over a platform snapshot) and returns the findings. */
export function analyzeTexts(files: Record<string, string>, platform?: PlatformSnapshot): Finding[] {
  const input = buildAnalysisInput({ files: Object.entries(files).map(([name, text]) => ({ name, text })), defaultNamespace: 'default', ...(platform ? { platform } : {}) });
  return runAnalysis(input);
}

/** The codes of findings, in order. */
export function codes(findings: readonly Finding[]): string[] {
  return findings.map((f) => f.type.code);
}
