/**
 * Services as the registry sees them: Kubernetes Service objects from the store, plus the implicit
 * services of workloads started with `meshctl run --service` when no Service object names them.
 */
import type { CoreObject } from '../../config/index.js';
import type { ServicePortRecord, ServiceRecord, WorkloadRecord } from './model.js';
import { portProtocol } from './port-protocol.js';

interface ServiceSpecLike {
  ports?: { name?: string; port?: number; targetPort?: number | string; protocol?: string; appProtocol?: string }[];
  selector?: Record<string, string>;
}

/**
 * A Service object as a ServiceRecord. A port without a numeric targetPort goes to each selected
 * workload's only app port (local workloads each listen on their own), else to the service port.
 */
export function serviceFromObject(obj: CoreObject): ServiceRecord {
  const spec = (obj.spec ?? {}) as ServiceSpecLike;
  const ports: ServicePortRecord[] = (spec.ports ?? [])
    .filter((p) => typeof p.port === 'number')
    .map((p) => {
      const protocol = portProtocol(p.name, p.appProtocol);
      return {
        ...(p.name ? { name: p.name } : {}),
        port: p.port!,
        ...(typeof p.targetPort === 'number' ? { targetPort: p.targetPort } : {}),
        // Named: each workload's only app port; a WorkloadEntry's `ports` entry of that name.
        ...(typeof p.targetPort === 'string' && p.targetPort ? { targetPortName: p.targetPort } : {}),
        ...(protocol !== 'auto' ? { protocol } : {}),
      };
    });
  return {
    name: obj.metadata.name ?? '',
    namespace: obj.metadata.namespace ?? 'default',
    ports,
    ...(spec.selector ? { selector: spec.selector } : {}),
  };
}

/** Every service: Service objects, then implicit ones from `run --service` members without an object. */
export function collectServices(
  serviceObjects: readonly CoreObject[],
  workloads: readonly WorkloadRecord[],
): ServiceRecord[] {
  const out = new Map<string, ServiceRecord>();
  for (const o of serviceObjects) {
    const s = serviceFromObject(o);
    out.set(`${s.name}.${s.namespace}`, s);
  }
  for (const w of workloads) {
    for (const name of w.services ?? []) {
      const key = `${name}.${w.namespace}`;
      const port = w.servicePort ?? w.ports?.[0];
      if (port === undefined) continue;
      const existing = out.get(key);
      if (
        existing &&
        serviceObjects.some((o) => o.metadata.name === name && (o.metadata.namespace ?? 'default') === w.namespace)
      )
        continue;
      const ports = existing ? existing.ports : [];
      const vip = w.serviceAddresses?.[(w.services ?? []).indexOf(name)];
      const addresses = [...new Set([...(existing?.addresses ?? []), ...(vip ? [vip] : [])])];
      // No declared protocol: sidecars detect it, so HTTP gets L7 routing and CONNECT tunnels still pass.
      const merged = ports.some((p) => p.port === port) ? ports : [...ports, { port }];
      out.set(key, { name, namespace: w.namespace, ports: merged, ...(addresses.length ? { addresses } : {}) });
    }
  }
  return [...out.values()];
}
