/** The push pipeline: changes, debouncing, immutable snapshots, pluggable per-type generators. */
export { changedKinds, configChange, fullChange, mergeChanges, registryChange, type ChangeSet, type RegistryChange } from './change.js';
export { Debouncer, DEFAULT_DEBOUNCE, type DebounceOptions } from './debouncer.js';
export { concernsByInputs, GeneratorSet, type ConfigGenerator, type GeneratorInputs } from './generator.js';
export { PushPipeline, type PushPipelineOptions, type PushRecord } from './pipeline.js';
export { keyOf, PushSnapshot, type ConfigKey, type ConfigObject, type SnapshotInputs } from './snapshot.js';
