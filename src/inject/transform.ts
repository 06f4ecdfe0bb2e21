/**
 * Injection as a pure function, shared by `meshctl inject` and the admission webhook: an object in,
 * the transformed object and a report entry out. Nothing here does I/O.
 */
import {
  Annotations,
  CaptureAnnotations,
  FOREIGN_SIDECARS,
  INJECTED_LABEL,
  ProxyPorts,
} from '../protocol/well-known.js';
import { formatFieldPath } from '../config/index.js';
import type { InjectOptions } from './options.js';
import { podOverrides } from './options.js';
import { restoreProbes, rewriteProbes } from './probes.js';
import { PROXY_UID_CODE, proxyUidProblem, proxyUidUses } from './proxy-uid.js';
import { Reason, type ReportEntry } from './report.js';
import { addAppPreStops, initContainer, meshVolumes, MeshNames, proxyContainer, removeAppPreStops } from './sidecar.js';
import { formatStatus, parseStatus, type InjectStatus } from './status.js';
import { describeObject, injectionDisabled, isObject, podTemplateOf, type JsonObject } from './workloads.js';

/** The result of transforming one object. */
export interface TransformResult {
  object: JsonObject;
  entry: ReportEntry;
  /** When an earlier injection was removed first: the object as it was before that injection. */
  uninjected?: JsonObject;
}

function asRecord(v: unknown): Record<string, string> {
  return isObject(v) ? (v as Record<string, string>) : {};
}

function newEntry(obj: JsonObject, source: string): ReportEntry {
  return { object: describeObject(obj), source, outcome: 'unchanged', reasons: [], warnings: [] };
}

/** Deep copy that keeps key order (structuredClone does too; named for intent). */
function copy<T>(v: T): T {
  return structuredClone(v);
}

/**
 * Injects the proxy into `input` (which is not modified). `source` says where the object came from
 * (`app.yaml:12`); `locate`, when given, where one of its fields is, for warnings that name a field.
 */
export function injectObject(
  input: JsonObject,
  options: InjectOptions,
  source: string,
  locate?: (path: readonly (string | number)[]) => string,
): TransformResult {
  const entry = newEntry(input, source);
  if (typeof input.kind !== 'string') {
    entry.outcome = 'skipped';
    entry.reasons.push(Reason.NoKind);
    return { object: input, entry };
  }
  const obj = copy(input);
  const template = podTemplateOf(obj);
  if (!template) {
    entry.outcome = 'skipped';
    entry.reasons.push(Reason.NotAWorkload);
    return { object: input, entry };
  }

  const previous = statusOf(template);
  if (previous === 'malformed') {
    return refuse(
      input,
      entry,
      Reason.BadStatus,
      'its meshctl.dev/status annotation is not one meshctl can read, so it cannot be re-injected safely',
      'restore the manifest as it was before injection (or remove the mesh-proxy and mesh-init containers and the meshctl.dev/status annotation)',
    );
  }
  let uninjected: JsonObject | undefined;
  if (previous) {
    removeInjection(template, previous);
    entry.reasons.push(Reason.Reinjected);
    entry.note = `re-injected over meshctl ${previous.version}`;
    uninjected = copy(obj);
  }

  const meta = isObject(template.metadata) ? template.metadata : {};
  const annotations = asRecord(meta.annotations);
  if (injectionDisabled(meta)) {
    entry.outcome = 'skipped';
    entry.reasons.push(Reason.InjectionDisabled);
    return { object: previous ? obj : input, entry, uninjected };
  }

  const spec = template.spec as JsonObject;
  if (spec.hostNetwork === true) {
    return refuse(
      input,
      entry,
      Reason.HostNetwork,
      'it uses hostNetwork: true, and a sidecar cannot capture the traffic of the host network',
      `remove hostNetwork, or leave it out of the mesh with the pod annotation ${Annotations.inject}: disabled`,
    );
  }
  const foreign = [...arrayOf(spec.initContainers), ...arrayOf(spec.containers)]
    .map((c) => String(c.name))
    .find((n) => FOREIGN_SIDECARS[n] !== undefined);
  if (foreign) {
    const mesh = FOREIGN_SIDECARS[foreign];
    return refuse(
      input,
      entry,
      Reason.OtherMesh,
      `it already carries ${mesh}'s sidecar (container "${foreign}")`,
      `uninject it from ${mesh} first (${mesh === 'Istio' ? 'istioctl kube-uninject' : 'linkerd uninject'}), or leave it out with ${Annotations.inject}: disabled`,
    );
  }

  const taken = [...arrayOf(spec.initContainers), ...arrayOf(spec.containers), ...arrayOf(spec.volumes)].map((c) =>
    String(c.name),
  );
  const clash = taken.find((n) => (Object.values(MeshNames) as string[]).includes(n));
  if (clash) {
    return refuse(
      input,
      entry,
      Reason.NameConflict,
      `it already has a container or volume named "${clash}", a name the mesh reserves`,
      `rename "${clash}" in the manifest (names mesh-proxy, mesh-init, mesh-token, mesh-certs and mesh-ca-root are reserved)`,
    );
  }

  const o = podOverrides(options, annotations, (w) => {
    entry.warnings.push(w);
    entry.reasons.push(Reason.BadAnnotation);
  });
  // Read before injecting: classic mode puts the proxy first among the containers, shifting their indexes.
  const proxyUid = proxyUidUses(obj);
  addInjection(template, o, entry);
  for (const use of proxyUid) {
    const at = locate ? ` (${locate(use.path)})` : '';
    entry.warnings.push(`${PROXY_UID_CODE} ${formatFieldPath(use.path)}${at}: ${proxyUidProblem(use)}`);
    if (!entry.reasons.includes(Reason.ProxyUid)) entry.reasons.push(Reason.ProxyUid);
  }
  entry.outcome = 'injected';
  // podTemplateOf returned a reference into obj, so obj already holds the change.
  return { object: obj, entry, uninjected };
}

/** Removes what inject added (input is not modified). */
export function uninjectObject(input: JsonObject, source: string): TransformResult {
  const entry = newEntry(input, source);
  const obj = copy(input);
  const template = podTemplateOf(obj);
  if (typeof input.kind !== 'string' || !template) {
    entry.outcome = 'skipped';
    entry.reasons.push(typeof input.kind !== 'string' ? Reason.NoKind : Reason.NotAWorkload);
    return { object: input, entry };
  }
  const status = statusOf(template);
  if (status === 'malformed') {
    return refuse(
      input,
      entry,
      Reason.BadStatus,
      'its meshctl.dev/status annotation is not one meshctl can read, so what was injected is unknown',
      'remove the mesh-proxy and mesh-init containers, the mesh-* volumes and the meshctl.dev/status annotation by hand',
    );
  }
  if (!status) {
    entry.outcome = 'skipped';
    entry.reasons.push(Reason.NotInjected);
    return { object: input, entry };
  }
  removeInjection(template, status);
  entry.outcome = 'uninjected';
  return { object: obj, entry };
}

function refuse(input: JsonObject, entry: ReportEntry, reason: Reason, why: string, hint: string): TransformResult {
  entry.outcome = 'refused';
  entry.reasons.push(reason);
  entry.error = { message: `${entry.object} (${entry.source}) cannot be injected: ${why}`, hint };
  return { object: input, entry };
}

function arrayOf(v: unknown): JsonObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

function statusOf(template: JsonObject): InjectStatus | 'malformed' | undefined {
  const meta = isObject(template.metadata) ? template.metadata : undefined;
  const text = asRecord(meta?.annotations)[Annotations.status];
  if (text === undefined) return undefined;
  return parseStatus(text) ?? 'malformed';
}

/** Annotation values from the first name present (meshctl's, then Istio's alias). */
function captureFlags(annotations: Record<string, string>): string[] {
  const pick = (names: readonly string[]) => names.map((n) => annotations[n]).find((v) => v !== undefined && v !== '');
  const flags: string[] = [];
  const excludeInbound = [String(ProxyPorts.telemetry), pick(CaptureAnnotations.excludeInboundPorts)]
    .filter(Boolean)
    .join(',');
  flags.push('--exclude-inbound-ports', excludeInbound);
  const add = (flag: string, names: readonly string[]) => {
    const v = pick(names);
    if (v) flags.push(flag, v);
  };
  add('--include-inbound-ports', CaptureAnnotations.includeInboundPorts);
  add('--exclude-outbound-ports', CaptureAnnotations.excludeOutboundPorts);
  add('--exclude-outbound-ip-ranges', CaptureAnnotations.excludeOutboundIpRanges);
  add('--include-outbound-ip-ranges', CaptureAnnotations.includeOutboundIpRanges);
  return flags;
}

/** Adds the proxy, init container, volumes, probe rewrites, labels and annotations to a template. */
function addInjection(template: JsonObject, o: InjectOptions, entry: ReportEntry): void {
  const created: string[] = [];
  if (!isObject(template.metadata)) {
    template.metadata = {};
    created.push('metadata');
  }
  const meta = template.metadata as JsonObject;
  if (!isObject(meta.annotations)) {
    meta.annotations = {};
    created.push('metadata.annotations');
  }
  if (!isObject(meta.labels)) {
    meta.labels = {};
    created.push('metadata.labels');
  }
  const annotations = meta.annotations as Record<string, string>;
  const labels = meta.labels as Record<string, string>;
  const spec = template.spec as JsonObject;

  const appContainers = arrayOf(spec.containers);
  warnAbout(appContainers, entry);
  const appPorts = appContainers.flatMap((c) =>
    arrayOf(c.ports)
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP' && typeof p.containerPort === 'number')
      .map((p) => p.containerPort as number),
  );
  const { probers, originals } = rewriteProbes(appContainers);
  const { preStops, createdLifecycle } = addAppPreStops(appContainers);
  if (Array.isArray(spec.containers)) spec.containers = appContainers;

  const proxy = proxyContainer(o, {
    appPorts,
    probers,
    opaquePorts: annotations[Annotations.opaquePorts],
    labels: { ...labels },
  });
  const init = initContainer(o, captureFlags(annotations));
  if (!Array.isArray(spec.initContainers)) {
    spec.initContainers = [];
    created.push('spec.initContainers');
  }
  const inits = spec.initContainers as JsonObject[];
  const status: InjectStatus = {
    v: 1,
    version: o.version,
    proxyImage: o.proxyImage,
    native: o.nativeSidecar,
    initContainers: [],
    containers: [],
    volumes: [],
    annotations: [],
    labels: [],
    created,
    probes: originals,
    ...(preStops.length ? { preStops } : {}),
    ...(createdLifecycle.length ? { createdLifecycle } : {}),
  };
  if (o.nativeSidecar) {
    inits.unshift(init, proxy);
    status.initContainers.push(String(init.name), String(proxy.name));
  } else {
    inits.unshift(init);
    (spec.containers as JsonObject[]).unshift(proxy);
    status.initContainers.push(String(init.name));
    status.containers.push(String(proxy.name));
  }
  if (!Array.isArray(spec.volumes)) {
    spec.volumes = [];
    created.push('spec.volumes');
  }
  for (const v of meshVolumes()) {
    (spec.volumes as JsonObject[]).push(v);
    status.volumes.push(String(v.name));
  }

  const addAnnotation = (k: string, v: string) => {
    if (k in annotations) return;
    annotations[k] = v;
    status.annotations.push(k);
  };
  const firstApp = appContainers[0]?.name;
  if (typeof firstApp === 'string') addAnnotation(Annotations.defaultContainer, firstApp);
  // A pod that already tells Prometheus how to scrape its app keeps that; the proxy's metrics
  // stay reachable on the telemetry port.
  if (!Object.keys(annotations).some((k) => k.startsWith('prometheus.io/'))) {
    addAnnotation('prometheus.io/scrape', 'true');
    addAnnotation('prometheus.io/port', String(ProxyPorts.telemetry));
    addAnnotation('prometheus.io/path', '/stats/prometheus');
  }
  if (!(INJECTED_LABEL in labels)) {
    labels[INJECTED_LABEL] = 'true';
    status.labels.push(INJECTED_LABEL);
  }
  status.annotations.push(Annotations.status);
  annotations[Annotations.status] = formatStatus(status);
}

/** Removes exactly what `status` says was added, restoring the template to its pre-injection form. */
function removeInjection(template: JsonObject, status: InjectStatus): void {
  const meta = template.metadata as JsonObject;
  const spec = template.spec as JsonObject;
  const annotations = asRecord(meta.annotations);
  const labels = asRecord(meta.labels);
  for (const k of status.annotations) delete annotations[k];
  delete annotations[Annotations.status];
  for (const k of status.labels) delete labels[k];
  const removeNamed = (key: string, names: readonly string[]) => {
    const list = spec[key];
    if (Array.isArray(list)) spec[key] = list.filter((c) => !(isObject(c) && names.includes(String(c.name))));
  };
  removeNamed('initContainers', status.initContainers);
  removeNamed('containers', status.containers);
  removeNamed('volumes', status.volumes);
  if (Array.isArray(spec.containers)) {
    const containers = arrayOf(spec.containers);
    restoreProbes(containers, status.probes);
    removeAppPreStops(containers, status.preStops ?? [], status.createdLifecycle ?? []);
    spec.containers = containers;
  }
  // Undo creations innermost first.
  for (const path of [...status.created].reverse()) {
    const [head, tail] = path.split('.') as [string, string | undefined];
    if (head === 'metadata' && tail) delete meta[tail];
    else if (head === 'metadata') delete template.metadata;
    else if (head === 'spec' && tail) delete spec[tail];
  }
}

function warnAbout(containers: JsonObject[], entry: ReportEntry): void {
  for (const c of containers) {
    for (const p of arrayOf(c.ports)) {
      if (p.protocol === 'UDP') {
        entry.warnings.push(
          `container "${String(c.name)}" port ${String(p.containerPort)}/UDP is not captured by the proxy: UDP traffic stays outside the mesh`,
        );
        if (!entry.reasons.includes(Reason.UdpPort)) entry.reasons.push(Reason.UdpPort);
      }
    }
  }
}
