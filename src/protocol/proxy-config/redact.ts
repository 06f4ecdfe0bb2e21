/**
 * Private keys never leave a proxy or the control plane in a dump: every `privateKey` field of a
 * config (gateway certificates, TLS origination client keys) is replaced before it is shown.
 */

/** The marker that replaces a private key. */
export const REDACTED = '[redacted]';

/** A deep copy of `value` with every `privateKey` PEM (not a file path) replaced by {@link REDACTED}. */
export function redactPrivateKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactPrivateKeys(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = k === 'privateKey' && typeof v === 'string' && v.includes('PRIVATE KEY') ? REDACTED : redactPrivateKeys(v);
  return out as T;
}
