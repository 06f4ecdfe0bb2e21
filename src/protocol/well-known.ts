/**
 * Names and numbers that the injector, the proxy and the control plane must agree on.
 * They are part of the contract with users (annotations, labels, ports in their manifests),
 * so they change only with a migration.
 */

/** Sidecar ports (DESIGN.md: same numbers as Istio, so existing NetworkPolicies and dashboards keep working). */
export const ProxyPorts = {
  outboundCapture: 15001,
  inboundCapture: 15006,
  admin: 15000,
  telemetry: 15020,
} as const;

/**
 * The path on the telemetry port that inject makes each app container's preStop hook (an httpGet):
 * it answers once the pod's peers stopped sending to it, so the app gets SIGTERM only then.
 */
export const APP_PRESTOP_PATH = '/app-lifecycle/prestop';

/** Control plane ports. */
export const ControlPlanePorts = {
  stream: 15012,
  debug: 15014,
  webhook: 15017,
} as const;

/** The proxy's UID and GID: excluded from capture, so apps must not use them. */
export const PROXY_UID = 1337;
export const PROXY_GID = 1337;

/** The namespace and Service of the control plane on Kubernetes. */
export const MESH_NAMESPACE = 'mesh-system';
export const CONTROL_PLANE_SERVICE = 'meshctl-control-plane';
/** The address proxies dial for config and certificates. */
export const DEFAULT_CONTROL_PLANE_ADDRESS = `${CONTROL_PLANE_SERVICE}.${MESH_NAMESPACE}.svc:${ControlPlanePorts.stream}`;
/** The ConfigMap the control plane publishes in every namespace with the mesh root CA. */
export const CA_ROOT_CONFIGMAP = 'meshctl-ca-root';
/**
 * The root CA's two PEM files, as names in the local CA directory and keys of the Kubernetes CA
 * Secret: install writes them, the control plane reads them.
 */
export const CA_FILES = { cert: 'ca-cert.pem', key: 'ca-key.pem' } as const;
/** The Secret holding the mesh root CA (and, during a root rotation, its record) on Kubernetes. */
export const CA_SECRET = 'meshctl-ca';
/**
 * Root rotation on Kubernetes: `meshctl ca rotate` asks for one with this annotation on the CA Secret
 * (its value an id of the request); the Lease holder starts it and removes the annotation.
 */
export const CA_ROTATE_REQUEST_ANNOTATION = 'meshctl.dev/ca-rotate-requested';
/**
 * The ConfigMap in the mesh namespace where a root rotation's progress is kept: `progress.json` (the
 * driving replica's steps, as `meshctl ca rotate` prints them) and one `replica.<pod>.json` per replica
 * (the phase it applies, its connected proxies and the certificates it issued in that phase).
 */
export const CA_ROTATION_CONFIGMAP = 'meshctl-ca-rotation';
/** The control plane pods' label selector. */
export const CONTROL_PLANE_POD_SELECTOR = 'app=meshctl-control-plane';
/** The audience of the ServiceAccount token a proxy presents to the CA. */
export const TOKEN_AUDIENCE = 'meshctl';
/** SPIFFE trust domain. */
export const TRUST_DOMAIN = 'cluster.local';

/** Labels and annotations of the mesh. */
export const Annotations = {
  /** Pod/namespace opt-in or opt-out: `enabled` / `disabled`. */
  inject: 'meshctl.dev/inject',
  /** What was injected, by which version (JSON); makes inject idempotent and uninject exact. */
  status: 'meshctl.dev/status',
  proxyCpuRequest: 'meshctl.dev/proxy-cpu-request',
  proxyMemoryRequest: 'meshctl.dev/proxy-memory-request',
  proxyCpuLimit: 'meshctl.dev/proxy-cpu-limit',
  proxyMemoryLimit: 'meshctl.dev/proxy-memory-limit',
  proxyImage: 'meshctl.dev/proxy-image',
  proxyLogLevel: 'meshctl.dev/proxy-log-level',
  /** Ports that are opaque TCP (server-speaks-first protocols): no protocol detection. */
  opaquePorts: 'meshctl.dev/opaque-ports',
  defaultContainer: 'kubectl.kubernetes.io/default-container',
} as const;

/** Namespace label that turns on automatic injection. */
export const INJECT_NAMESPACE_LABEL = 'meshctl.dev/inject';
/** Label put on injected pods so the control plane and `check --proxy` can select them. */
export const INJECTED_LABEL = 'meshctl.dev/injected';

/**
 * On a gateway pod (what `meshctl install` deploys): the Gateway ports it serves and the pod port
 * serving each, `80=8080,443=8443`, as Istio's gateway Service maps 80 to targetPort 8080. Its
 * presence makes the pod a gateway workload (router mode) in the control plane.
 */
export const GATEWAY_PORTS_ANNOTATION = 'meshctl.dev/gateway-ports';

/** Capture annotations: meshctl's names, and Istio's names accepted as aliases. */
export const CaptureAnnotations = {
  excludeInboundPorts: ['traffic.meshctl.dev/exclude-inbound-ports', 'traffic.sidecar.istio.io/excludeInboundPorts'],
  includeInboundPorts: ['traffic.meshctl.dev/include-inbound-ports', 'traffic.sidecar.istio.io/includeInboundPorts'],
  excludeOutboundPorts: ['traffic.meshctl.dev/exclude-outbound-ports', 'traffic.sidecar.istio.io/excludeOutboundPorts'],
  excludeOutboundIpRanges: [
    'traffic.meshctl.dev/exclude-outbound-ip-ranges',
    'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  ],
  includeOutboundIpRanges: [
    'traffic.meshctl.dev/include-outbound-ip-ranges',
    'traffic.sidecar.istio.io/includeOutboundIPRanges',
  ],
} as const;

/** Containers of other meshes: a pod carrying one is refused by inject. */
export const FOREIGN_SIDECARS: Readonly<Record<string, string>> = {
  'istio-proxy': 'Istio',
  'istio-init': 'Istio',
  'istio-validation': 'Istio',
  'linkerd-proxy': 'Linkerd',
  'linkerd-init': 'Linkerd',
  'linkerd-network-validator': 'Linkerd',
};

/** Environment of the injected proxy container: how a sidecar learns who and where it is. */
export const ProxyEnv = {
  podName: 'MESH_POD_NAME',
  podNamespace: 'MESH_POD_NAMESPACE',
  podIp: 'MESH_POD_IP',
  serviceAccount: 'MESH_SERVICE_ACCOUNT',
  controlPlaneAddress: 'MESH_CONTROL_PLANE_ADDRESS',
  logLevel: 'MESH_PROXY_LOG_LEVEL',
  /** JSON: `/app-health/<container>/<probe>` -> the app's original probe handler, for the proxy's prober. */
  appProbers: 'MESH_APP_PROBERS',
  /** Comma-separated container ports of the app (the inbound ports). */
  appPorts: 'MESH_APP_PORTS',
  opaquePorts: 'MESH_OPAQUE_PORTS',
  tokenPath: 'MESH_TOKEN_PATH',
  caRootPath: 'MESH_CA_ROOT_PATH',
  certsDir: 'MESH_CERTS_DIR',
  /** `router`: a gateway pod's proxy (no app, no capture); absent: a sidecar. */
  proxyMode: 'MESH_PROXY_MODE',
  /** The workload's labels, `k=v,k=v`: the proxy's node labels (telemetry, and `sourceLabels` matches of its routes). */
  podLabels: 'MESH_POD_LABELS',
  /** Istio's terminationDrainDuration (`5s`): how long a terminating pod's sidecar holds the app and drains. */
  terminationDrainDuration: 'MESH_TERMINATION_DRAIN_DURATION',
} as const;

/**
 * The admin token's file name in an injected pod's identity volume (`ProxyMounts.certsDir`): written
 * 0600 by the sidecar, read inside the pod by `meshctl proxy request`, which the CLI runs through pods/exec.
 */
export const ADMIN_TOKEN_FILE = 'admin-token';

/** Where the injected volumes are mounted in the proxy container. */
export const ProxyMounts = {
  tokenDir: '/var/run/secrets/tokens',
  tokenFile: 'meshctl-token',
  certsDir: '/var/run/meshctl/certs',
  caRootDir: '/var/run/meshctl/ca-root',
  caRootFile: 'root-cert.pem',
} as const;

/**
 * Node.js flags every sidecar proxy is started with (injected container, `meshctl run --transparent`, the
 * benchmark). Why: under load V8 grows the young generation to 128 MB at the proxy's allocation rate, so a
 * saturated sidecar peaks at ~260-290 MB RSS; with 4 MB semi-spaces it peaks at ~165 MB with the same CPU per
 * request within the benchmark's noise. Measured at 2/4/8/default MB: peak RSS 160/165/175/265 MB, share of CPU
 * in the scavenger 7.8/5.6/3.5/2.0%: 4 takes most of the memory gain for a small GC cost. V8 reads the flag
 * only when the heap is created, so the launcher must pass it: the proxy cannot set it for itself. Not for
 * the control plane, whose working set is large and long-lived.
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * Linkerd's default inbound policies: the values of `config.linkerd.io/default-inbound-policy`
 * (pod, namespace), of the install value `proxy.defaultInboundPolicy`, and of a Server's accessPolicy.
 */
export const DEFAULT_INBOUND_POLICIES = [
  'deny',
  'audit',
  'all-authenticated',
  'all-unauthenticated',
  'cluster-authenticated',
  'cluster-unauthenticated',
] as const;

/** Linkerd's pod and namespace annotation for the default inbound policy. */
export const DEFAULT_INBOUND_POLICY_ANNOTATION = 'config.linkerd.io/default-inbound-policy';
