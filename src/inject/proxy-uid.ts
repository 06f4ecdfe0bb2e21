/**
 * Application containers that run as the sidecar's UID (1337). The capture rules let the proxy's own
 * traffic out untouched (that is what keeps it from looping), so a container with that UID bypasses its
 * sidecar: no mTLS, no authorization policy, no telemetry. Istio reports the same as IST0144
 * (InvalidApplicationUID). One rule for `meshctl inject` and `meshctl analyze`, so they name the same fields.
 *
 * Templates that opt out of injection are left alone: without a sidecar there is nothing to bypass.
 * The UID that counts is the one the container runs with: its own `securityContext.runAsUser`, else the
 * pod's. Only regular containers: an init container runs before the app, and running one as 1337 is the
 * documented way (Istio's too) to let it reach the network before the sidecar is up.
 */
import { FOREIGN_SIDECARS, PROXY_UID } from '../protocol/well-known.js';
import { MeshNames } from './sidecar.js';
import { injectionDisabled, isObject, templatePathOf, type JsonObject } from './workloads.js';

/** The code of this finding, the analyzer catalogue's ApplicationUidReserved (a test holds the two equal). */
export const PROXY_UID_CODE = 'MESH0502';

/** One field that makes application containers run as the proxy's UID. */
export interface ProxyUidUse {
  /** The field, from the object's root: `spec.template.spec.containers[0].securityContext.runAsUser`. */
  readonly path: readonly (string | number)[];
  /** The containers that run as 1337 because of it. */
  readonly containers: readonly string[];
}

/** The fields of a workload (or Pod) that make an application container run as UID 1337; [] when none. */
export function proxyUidUses(obj: JsonObject): ProxyUidUse[] {
  const prefix = templatePathOf(obj);
  if (!prefix) return [];
  let template: unknown = obj;
  for (const key of prefix) template = isObject(template) ? template[key] : undefined;
  const spec = isObject(template) ? template.spec : undefined;
  if (!isObject(spec) || !Array.isArray(spec.containers)) return [];
  // Opted out of injection: no sidecar, so nothing to bypass (the mesh's own control plane and gateways run as 1337).
  if (injectionDisabled(isObject(template) ? template.metadata : undefined)) return [];
  const podUid = isObject(spec.securityContext) ? spec.securityContext.runAsUser : undefined;
  const onPod: string[] = [];
  const uses: ProxyUidUse[] = [];
  spec.containers.forEach((c: unknown, i) => {
    if (!isObject(c)) return;
    const name = typeof c.name === 'string' ? c.name : `#${i}`;
    // The mesh's own sidecar (classic mode puts it among the containers) and another mesh's run as 1337 by design.
    if (name === MeshNames.proxy || FOREIGN_SIDECARS[name] !== undefined) return;
    const own = isObject(c.securityContext) ? c.securityContext.runAsUser : undefined;
    if (own === PROXY_UID)
      uses.push({ path: [...prefix, 'spec', 'containers', i, 'securityContext', 'runAsUser'], containers: [name] });
    else if (own === undefined && podUid === PROXY_UID) onPod.push(name);
  });
  if (onPod.length) uses.unshift({ path: [...prefix, 'spec', 'securityContext', 'runAsUser'], containers: onPod });
  return uses;
}

/** What is wrong and the fix, for one use (the field is named by the caller, which knows how to locate it). */
export function proxyUidProblem(use: ProxyUidUse): string {
  const who =
    use.containers.length === 1
      ? `container "${use.containers[0]}" runs`
      : `containers ${use.containers.map((c) => `"${c}"`).join(', ')} run`;
  return (
    `${who} as UID ${PROXY_UID}, the sidecar's own UID: the capture rules let that traffic bypass the sidecar ` +
    `(no mTLS, no authorization policy, no telemetry); fix: set runAsUser to another UID`
  );
}
