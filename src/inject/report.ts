/**
 * What inject did to each object and why, with stable reason codes (as linkerd's inject report),
 * so the CLI can print `deployment "web" injected` and the webhook can log its decision.
 */

/** Why an object was not injected, or what to watch for in one that was. */
export const Reason = {
  /** The object has no pod template (Service, ConfigMap, ...). */
  NotAWorkload: 'not-a-workload',
  /** The document has no `kind`. */
  NoKind: 'no-kind',
  /** Opted out with `meshctl.dev/inject: disabled` (or Istio's `sidecar.istio.io/inject: "false"`). */
  InjectionDisabled: 'injection-disabled',
  /** `hostNetwork: true`: a sidecar cannot capture the host's traffic. */
  HostNetwork: 'host-network',
  /** The pod already carries Istio's or Linkerd's sidecar. */
  OtherMesh: 'other-mesh-sidecar',
  /** Injected before by this or an older meshctl: injected again from scratch. */
  Reinjected: 'reinjected',
  /** A container declares a UDP port, which the proxy does not capture. */
  UdpPort: 'udp-port',
  /** An app container runs as the proxy's UID, so its traffic bypasses the mesh. */
  ProxyUid: 'proxy-uid',
  /** An annotation value could not be used. */
  BadAnnotation: 'bad-annotation',
  /** The status annotation cannot be read, so what was injected is unknown. */
  BadStatus: 'bad-status-annotation',
  /** A container or volume already uses a name the mesh reserves. */
  NameConflict: 'reserved-name',
  /** The object was not injected (uninject: nothing to remove). */
  NotInjected: 'not-injected',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** The outcome for one object. */
export type Outcome = 'injected' | 'uninjected' | 'skipped' | 'refused' | 'unchanged';

/** One object's entry in the report. */
export interface ReportEntry {
  /** `deployment "web"` */
  object: string;
  /** Where it came from: `app.yaml:12`. */
  source: string;
  outcome: Outcome;
  /** Why it was skipped or refused, or notable facts about an injection. */
  reasons: Reason[];
  /** Human-readable warnings (each tied to a reason code in `reasons`). */
  warnings: string[];
  /** A short remark shown after the outcome, e.g. `re-injected over meshctl 0.0.9`. */
  note?: string;
  /** For refused objects: what is wrong and the fix. */
  error?: { message: string; hint: string };
}

/** Renders an entry as the line users see on stderr (`deployment "web" injected`). */
export function reportLine(e: ReportEntry): string {
  return `${e.object} ${e.outcome}`;
}
