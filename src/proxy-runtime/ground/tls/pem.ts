/**
 * Certificates and keys in the proxy config are PEM text (from Secrets, sent over the TLS config
 * stream) or, as Istio's file-based fields (`caCertificates: /etc/certs/ca.pem`), paths in the
 * proxy's filesystem: read when the config is built, so a missing file refuses the config (NACK).
 */
import { readFileSync } from 'node:fs';

/** The PEM text itself, or the contents of the file it names. */
export function pemOrFile(value: string, what: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new Error(`${what}: cannot read ${value} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
