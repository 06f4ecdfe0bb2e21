/** The injector: a pure transform shared by `meshctl inject`/`uninject` and the admission webhook. */
export { injectObject, uninjectObject, type TransformResult } from './transform.js';
export { defaultInjectOptions, applySettings, SETTABLE_KEYS, type InjectOptions } from './options.js';
export { transformManifests, joinDocuments, type ManifestResult } from './manifest.js';
export { Reason, reportLine, type ReportEntry, type Outcome } from './report.js';
export { parseStatus, type InjectStatus } from './status.js';
export { podTemplateOf, WORKLOAD_KINDS } from './workloads.js';
export { diffToPatch, applyPatch, type PatchOperation } from './patch.js';
