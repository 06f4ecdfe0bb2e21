/**
 * `meshctl run --outbound SVC:PORT=LOCALPORT`: explicit outbound listeners of a workload's sidecar
 * on 127.0.0.1:LOCALPORT, routed to SVC:PORT, for clients that ignore HTTP_PROXY (databases,
 * gRPC, raw TCP). The control plane builds the listeners (src/control-plane/generators); this
 * module only reads and checks the flag, in run's validate(), before anything starts.
 */
import { UsageError } from '../errors.js';
import type { OutboundPort } from '../cluster/index.js';

const SERVICE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;
const FIX =
  'write --outbound SERVICE:PORT=LOCALPORT, e.g. --outbound reviews:9080=19080 or --outbound db.prod:5432=15432';

function portOf(text: string, what: string, value: string): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`--outbound ${value}: ${what} "${text}" is not a port (1-65535)`, FIX);
  return n;
}

/**
 * Parses every --outbound value. `reserved` are local ports the workload already uses (its app
 * port): a LOCALPORT may not take one, nor be given twice.
 */
export function parseOutboundPorts(
  values: readonly string[],
  reserved: readonly { port: number; flag: string }[] = [],
): OutboundPort[] {
  const out: OutboundPort[] = [];
  const taken = new Map<number, string>(reserved.map((r) => [r.port, r.flag]));
  for (const value of values) {
    const m = /^([^:=]+):([^:=]+)=([^:=]+)$/.exec(value);
    if (!m) throw new UsageError(`--outbound ${value}: not SERVICE:PORT=LOCALPORT`, FIX);
    const [, service, port, local] = m as unknown as [string, string, string, string];
    if (!SERVICE.test(service))
      throw new UsageError(`--outbound ${value}: "${service}" is not a service name (NAME or NAME.NAMESPACE)`, FIX);
    const entry = { service, port: portOf(port, 'PORT', value), localPort: portOf(local, 'LOCALPORT', value) };
    const clash = taken.get(entry.localPort);
    if (clash)
      throw new UsageError(
        `--outbound ${value}: local port ${entry.localPort} is already used by ${clash}`,
        'give each --outbound its own LOCALPORT, different from --port',
      );
    taken.set(entry.localPort, `--outbound ${value}`);
    out.push(entry);
  }
  return out;
}
