/**
 * A container's environment, resolved as the kubelet does: service links, envFrom, then env in order with
 * `$(VAR)` expansion; fieldRef, resourceFieldRef, secretKeyRef and configMapKeyRef.
 */
import type { V1Container, V1EnvVarSource, V1Pod, V1ResourceFieldSelector, V1Service } from '@kubernetes/client-node';

/** Reads the API objects the environment refers to (cached by the caller per pod start). */
export interface EnvSources {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  services(namespace: string): Promise<V1Service[]>;
}

/** Where the node sits: its address (hostIP) and allocatable resources (for resourceFieldRef without limits). */
export interface NodeFacts {
  hostIP: string;
  podIP: string;
  allocatable: { cpu: string; memory: string; 'ephemeral-storage': string };
}

/** A reference the kubelet would refuse to start the container for (`CreateContainerConfigError`). */
export class ContainerConfigError extends Error {}

/** `$(VAR)` expansion as in Kubernetes (`$$` escapes, unknown references stay as written). */
export function expand(input: string, vars: Readonly<Record<string, string>>): string {
  return input.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && Object.hasOwn(vars, name) ? (vars[name] ?? whole) : whole;
  });
}

/** A quantity ("250m", "1Gi", "2") as a number of base units. */
export function parseQuantity(q: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) throw new ContainerConfigError(`invalid quantity "${q}"`);
  const n = Number(m[1]);
  const suffixes: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  const mult = suffixes[m[2] ?? ''];
  if (mult === undefined) throw new ContainerConfigError(`invalid quantity suffix in "${q}"`);
  return n * mult;
}

function resourceValue(
  pod: V1Pod,
  ref: V1ResourceFieldSelector,
  defaultContainer: V1Container,
  node: NodeFacts,
): string {
  const container = ref.containerName
    ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === ref.containerName)
    : defaultContainer;
  if (!container)
    throw new ContainerConfigError(
      `resourceFieldRef names container "${ref.containerName}", which the pod does not have`,
    );
  const [kind, resource] = ref.resource.split('.') as [string, 'cpu' | 'memory' | 'ephemeral-storage'];
  const set = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  // As the kubelet: a missing limit means the node's allocatable; a missing request means 0.
  const raw = set?.[resource] ?? (kind === 'limits' ? node.allocatable[resource] : '0');
  const divisor = parseQuantity(ref.divisor ?? '1');
  const value = parseQuantity(String(raw)) / divisor;
  return String(Math.ceil(value - 1e-9));
}

function fieldValue(pod: V1Pod, path: string, node: NodeFacts): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelOrAnnotation) {
    const map = labelOrAnnotation[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[labelOrAnnotation[2] ?? ''] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.hostIPs':
      return node.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return node.podIP;
    default:
      throw new ContainerConfigError(`fieldRef "${path}" is not supported`);
  }
}

/** Renders a downward-API value (env fieldRef/resourceFieldRef or a downwardAPI volume item). */
export function downwardValue(
  pod: V1Pod,
  source: Pick<V1EnvVarSource, 'fieldRef' | 'resourceFieldRef'>,
  container: V1Container,
  node: NodeFacts,
): string {
  if (source.fieldRef) {
    const path = source.fieldRef.fieldPath;
    if (path === 'metadata.labels' || path === 'metadata.annotations') {
      const map = (path === 'metadata.labels' ? pod.metadata?.labels : pod.metadata?.annotations) ?? {};
      return Object.keys(map)
        .sort()
        .map((k) => `${k}=${JSON.stringify(map[k])}`)
        .join('\n');
    }
    return fieldValue(pod, path, node);
  }
  if (source.resourceFieldRef) return resourceValue(pod, source.resourceFieldRef, container, node);
  throw new ContainerConfigError('downward API item has neither fieldRef nor resourceFieldRef');
}

function serviceEnv(services: V1Service[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const svc of services) {
    const clusterIP = svc.spec?.clusterIP;
    if (!clusterIP || clusterIP === 'None') continue;
    const prefix = (svc.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
    const ports = svc.spec?.ports ?? [];
    const first = ports[0];
    if (!first) continue;
    const host = clusterIP;
    env[`${prefix}_SERVICE_HOST`] = host;
    env[`${prefix}_SERVICE_PORT`] = String(first.port);
    for (const p of ports)
      if (p.name) env[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    const proto = (first.protocol ?? 'TCP').toLowerCase();
    env[`${prefix}_PORT`] = `${proto}://${host}:${first.port}`;
    for (const p of ports) {
      const pp = p.protocol ?? 'TCP';
      const base = `${prefix}_PORT_${p.port}_${pp}`;
      env[base] = `${pp.toLowerCase()}://${host}:${p.port}`;
      env[`${base}_PROTO`] = pp.toLowerCase();
      env[`${base}_PORT`] = String(p.port);
      env[`${base}_ADDR`] = host;
    }
  }
  return env;
}

/** The environment of `container` in `pod` (image env first, then what the kubelet adds). */
export async function containerEnv(
  pod: V1Pod,
  container: V1Container,
  imageEnv: Record<string, string>,
  node: NodeFacts,
  sources: EnvSources,
): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const services = [...(await sources.services('default')).filter((s) => s.metadata?.name === 'kubernetes')];
  if (pod.spec?.enableServiceLinks !== false)
    services.unshift(
      ...(await sources.services(ns)).filter((s) => !(ns === 'default' && s.metadata?.name === 'kubernetes')),
    );
  const env: Record<string, string> = { ...imageEnv, ...serviceEnv(services) };
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const data = from.configMapRef
      ? await sources.configMap(ns, ref.name ?? '')
      : await sources.secret(ns, ref.name ?? '');
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[prefix + k] = v;
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expand(e.value ?? '', env);
      continue;
    }
    const vf = e.valueFrom;
    if (vf.fieldRef || vf.resourceFieldRef) {
      env[e.name] = downwardValue(pod, vf, container, node);
    } else if (vf.configMapKeyRef || vf.secretKeyRef) {
      const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
      const kind = vf.configMapKeyRef ? 'configmap' : 'secret';
      const data = vf.configMapKeyRef
        ? await sources.configMap(ns, ref.name ?? '')
        : await sources.secret(ns, ref.name ?? '');
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          data ? `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}` : `${kind} "${ref.name}" not found`,
        );
      }
      env[e.name] = value;
    }
  }
  return env;
}
