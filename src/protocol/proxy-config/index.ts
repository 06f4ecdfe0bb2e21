/** The proxy config format: schema, types, validation. See schema.ts for the format itself. */
export * from './schema.js';
export { validateProxyConfig, RETRY_ON, type ValidationResult } from './validate.js';
export { parseDuration, durationMs } from './duration.js';
export { redactPrivateKeys, REDACTED } from './redact.js';
export { compileSubnets, subnetProblem, type SubnetTest } from './subnets.js';
