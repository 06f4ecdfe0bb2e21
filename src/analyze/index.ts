/**
 * `meshctl analyze` as a library: build an AnalysisInput (files, optionally over a platform
 * snapshot), run the analyzers, render the findings. No I/O here; the command does the reading.
 */
export {
  buildAnalysisInput,
  type AnalysisInput,
  type AnalyzedResource,
  type BuildInputOptions,
  type Inventory,
  type NamespaceInfo,
  type PlatformSnapshot,
  type SecretInfo,
  type ServiceInfo,
  type WorkloadInfo,
} from './input.js';
export type { AnalysisContext, Analyzer, Finding } from './context.js';
export { ANALYZERS, resourceRef, runAnalysis, type AnalyzeOptions, type Suppression } from './run.js';
export { catalogue, LEVEL_RANK, Messages, parseLevel, type Level, type MessageType } from './messages.js';
export { catalogueRows, findingJson, formatFinding } from './render.js';
