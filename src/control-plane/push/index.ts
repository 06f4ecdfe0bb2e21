/** The push pipeline: changes, debouncing, immutable snapshots, pluggable per-type generators. */
export {
  configChange,
  fullChange,
  mergeChanges,
  registryChange,
  type ChangeSet,
  type RegistryChange,
} from './change.js';
export { Debouncer, DEFAULT_DEBOUNCE, type DebounceOptions } from './debouncer.js';
export {
  GeneratorSet,
  KindClaimError,
  kindRef,
  readsChange,
  type ConfigGenerator,
  type GeneratorInputs,
  type KindClaims,
  type KindRef,
} from './generator.js';
export { PushPipeline, type PushPipelineOptions, type PushRecord } from './pipeline.js';
export { keyOf, PushSnapshot, type ConfigKey, type ConfigObject, type SnapshotInputs } from './snapshot.js';
