/**
 * The gateways `meshctl install` deploys: the proxy in router mode (no app, no capture) as its own
 * Deployment, labelled as Istio labels its gateways (`istio: ingressgateway`, `app:
 * istio-ingressgateway`) so the seed's `selector: {istio: ingressgateway}` selects it unchanged.
 * The Service maps 80/443 to the pod's 8080/8443 as Istio's gateway Service does, so the pod
 * needs no privilege. Least privilege: the gateway's own ServiceAccount has no RBAC binding and no
 * API token; its projected token (audience meshctl) only authenticates it to the control plane,
 * from which it gets its certificate and its Gateways' credentials (it reads no Secret itself).
 */
import {
  CA_ROOT_CONFIGMAP,
  CONTROL_PLANE_SERVICE,
  ControlPlanePorts,
  GATEWAY_PORTS_ANNOTATION,
  PROXY_GID,
  PROXY_UID,
  ProxyEnv,
  ProxyMounts,
  ProxyPorts,
  SIDECAR_NODE_FLAGS,
  TOKEN_AUDIENCE,
} from '../protocol/well-known.js';
import { MANAGED_BY, type KubeObject } from './objects.js';
import type { GatewayValues, InstallValues } from './values.js';

/** The two gateways install knows. */
export type GatewayKind = 'ingress' | 'egress';

/** The Deployment/Service/ServiceAccount/PDB name of each gateway (Istio's Service names). */
export const GatewayNames: Record<GatewayKind, string> = {
  ingress: 'istio-ingressgateway',
  egress: 'istio-egressgateway',
};

/** Gateway server port -> pod port, as Istio's gateway Services map them. */
export const GATEWAY_PORT_MAP: Readonly<Record<number, number>> = { 80: 8080, 443: 8443 };

/** The labels of a gateway's pods (what Gateway selectors and the Service select). */
export function gatewayLabels(kind: GatewayKind): Record<string, string> {
  return { istio: `${kind}gateway`, app: GatewayNames[kind] };
}

/** The objects of every enabled gateway, in apply order. */
export function renderGateways(v: InstallValues, version: string): KubeObject[] {
  return (['ingress', 'egress'] as const)
    .filter((k) => v.gateways[k].enabled)
    .flatMap((k) => renderGateway(v, k, v.gateways[k], version));
}

function renderGateway(v: InstallValues, kind: GatewayKind, g: GatewayValues, version: string): KubeObject[] {
  const name = GatewayNames[kind];
  const ns = v.namespace;
  const selector = gatewayLabels(kind);
  const metadata = { name, namespace: ns, labels: { ...selector, ...MANAGED_BY } };
  const portsAnnotation = Object.entries(GATEWAY_PORT_MAP)
    .map(([p, l]) => `${p}=${l}`)
    .join(',');
  const env = [
    { name: ProxyEnv.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: ProxyEnv.podNamespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: ProxyEnv.podIp, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: ProxyEnv.serviceAccount, valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
    { name: ProxyEnv.controlPlaneAddress, value: `${CONTROL_PLANE_SERVICE}.${ns}.svc:${ControlPlanePorts.stream}` },
    { name: ProxyEnv.logLevel, value: 'info' },
    { name: ProxyEnv.tokenPath, value: `${ProxyMounts.tokenDir}/${ProxyMounts.tokenFile}` },
    { name: ProxyEnv.caRootPath, value: `${ProxyMounts.caRootDir}/${ProxyMounts.caRootFile}` },
    // The identity volume, as in injected pods: the proxy writes its admin token there (0600, its own
    // UID) so `meshctl proxy-config log` can reach the admin API through pods/exec.
    { name: ProxyEnv.certsDir, value: ProxyMounts.certsDir },
    { name: ProxyEnv.proxyMode, value: 'router' },
    { name: 'NODE_OPTIONS', value: SIDECAR_NODE_FLAGS.join(' ') },
  ];
  const ready = { httpGet: { path: '/healthz/ready', port: ProxyPorts.telemetry } };
  return [
    // No Role or RoleBinding on purpose: the gateway calls no Kubernetes API.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata, automountServiceAccountToken: false },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata,
      spec: {
        replicas: g.replicas,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: {
            labels: { ...selector, ...MANAGED_BY, version },
            annotations: {
              'meshctl.dev/inject': 'disabled',
              [GATEWAY_PORTS_ANNOTATION]: portsAnnotation,
              'prometheus.io/scrape': 'true',
              'prometheus.io/port': String(ProxyPorts.telemetry),
              'prometheus.io/path': '/stats/prometheus',
            },
          },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: PROXY_UID,
              runAsGroup: PROXY_GID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'gateway',
                image: v.image,
                args: ['proxy', 'run'],
                env,
                ports: [
                  { name: 'http', containerPort: GATEWAY_PORT_MAP[80]!, protocol: 'TCP' },
                  { name: 'https', containerPort: GATEWAY_PORT_MAP[443]!, protocol: 'TCP' },
                  { name: 'mesh-telemetry', containerPort: ProxyPorts.telemetry, protocol: 'TCP' },
                ],
                readinessProbe: { ...ready, periodSeconds: 2, failureThreshold: 3 },
                startupProbe: { ...ready, periodSeconds: 1, failureThreshold: 600 },
                resources: g.resources,
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  privileged: false,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'mesh-token', mountPath: ProxyMounts.tokenDir, readOnly: true },
                  { name: 'mesh-certs', mountPath: ProxyMounts.certsDir },
                  { name: 'mesh-ca-root', mountPath: ProxyMounts.caRootDir, readOnly: true },
                ],
              },
            ],
            volumes: [
              {
                name: 'mesh-token',
                projected: {
                  sources: [
                    {
                      serviceAccountToken: {
                        audience: TOKEN_AUDIENCE,
                        expirationSeconds: 43200,
                        path: ProxyMounts.tokenFile,
                      },
                    },
                  ],
                },
              },
              // Memory only: the admin token (and keys, should they ever be written) never touch the node's disk.
              { name: 'mesh-certs', emptyDir: { medium: 'Memory' } },
              { name: 'mesh-ca-root', configMap: { name: CA_ROOT_CONFIGMAP } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata,
      spec: {
        type: g.serviceType,
        selector,
        ports: [
          { name: 'http2', port: 80, targetPort: GATEWAY_PORT_MAP[80]!, protocol: 'TCP' },
          { name: 'https', port: 443, targetPort: GATEWAY_PORT_MAP[443]!, protocol: 'TCP' },
        ],
      },
    },
    // At most one pod down during voluntary disruptions (a drained node), never all of them.
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata,
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    },
  ];
}
