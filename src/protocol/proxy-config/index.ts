/**
 * The proxy config format: its types, constants, and the checks a proxy runs on what it is sent. No TypeBox behind
 * this entry (a sidecar imports it): the TypeBox schema is schema.ts, the validator that names every problem
 * validate.ts.
 */
export type * from './schema.js';
export { PROXY_CONFIG_API_VERSION, ISTIO_METRIC_NAMES } from './constants.js';
export { RETRY_ON } from '../../config/retry-on.js';
export type { ValidationResult } from './validate.js';
export { validateProxyConfigLazily } from './validate-lazily.js';
export { parseDuration, durationMs } from './duration.js';
export { redactPrivateKeys, REDACTED } from './redact.js';
export { compileSubnets, subnetProblem, type SubnetTest } from './subnets.js';
