/**
 * The objects `meshctl install` applies (and `meshctl manifest generate` prints), rendered from
 * values. Pure: no cluster access, so what is printed is exactly what is applied.
 *
 * RBAC is least privilege: cluster-wide the control plane only reads what it watches, creates
 * TokenReviews, publishes the root-CA ConfigMap, and patches its own webhook's caBundle (by name);
 * Secrets and Leases only in its own namespace.
 */
import {
  CA_ROOT_CONFIGMAP,
  CONTROL_PLANE_SERVICE,
  ControlPlanePorts,
  INJECT_NAMESPACE_LABEL,
  PROXY_GID,
  PROXY_UID,
} from '../protocol/well-known.js';
import { renderGateways } from './gateways.js';
import { MANAGED_BY, type KubeObject } from './objects.js';
import type { InstallValues } from './values.js';

/** A Kubernetes object as applied. */
export type { KubeObject } from './objects.js';

/** Names of what install creates; uninstall removes exactly these. */
export const InstallNames = {
  serviceAccount: 'meshctl-control-plane',
  clusterRole: 'meshctl-control-plane',
  role: 'meshctl-control-plane',
  deployment: CONTROL_PLANE_SERVICE,
  service: CONTROL_PLANE_SERVICE,
  pdb: CONTROL_PLANE_SERVICE,
  configMap: 'meshctl-config',
  caSecret: 'meshctl-ca',
  webhook: 'meshctl-sidecar-injector',
  /** The validating webhook of mesh config (the control plane's `/validate`). */
  validator: 'meshctl-validator',
  leaderLease: 'meshctl-control-plane-leader',
} as const;

/** The label on everything install creates (so uninstall and check can find it). */
export { MANAGED_BY } from './objects.js';

/** The API groups of the mesh's CRDs, which the control plane watches. */
export const MESH_API_GROUPS = [
  'networking.istio.io',
  'security.istio.io',
  'telemetry.istio.io',
  'linkerd.io',
  'split.smi-spec.io',
  'policy.linkerd.io',
];

/**
 * The Gateway API kinds the mesh reads (GAMMA routes), by resource: only these of their group, which
 * holds ingress kinds (Gateway, GatewayClass, ...) another controller may own and meshctl must not judge.
 */
const GATEWAY_API_RULE = { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes', 'grpcroutes'] };

const APP_LABELS = { app: 'meshctl-control-plane', ...MANAGED_BY };

function meta(name: string, namespace?: string): KubeObject['metadata'] {
  return { name, ...(namespace ? { namespace } : {}), labels: { ...APP_LABELS } };
}

/** The components (everything but CRDs), in the order they must be applied: the gateways last. */
export function renderComponents(
  v: InstallValues,
  version: string,
  meshConfig?: Record<string, unknown>,
): KubeObject[] {
  return [...renderControlPlane(v, version, meshConfig), ...renderGateways(v, version)];
}

function renderControlPlane(v: InstallValues, version: string, meshConfig?: Record<string, unknown>): KubeObject[] {
  const ns = v.namespace;
  const read = ['get', 'list', 'watch'];
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { ...MANAGED_BY, [INJECT_NAMESPACE_LABEL]: 'disabled' } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(InstallNames.serviceAccount, ns) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta(InstallNames.clusterRole),
      rules: [
        { apiGroups: [''], resources: ['services', 'pods', 'namespaces', 'nodes'], verbs: read },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: read },
        { apiGroups: MESH_API_GROUPS, resources: ['*'], verbs: read },
        { ...GATEWAY_API_RULE, verbs: read },
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        // The root CA is published to every namespace, as Istio's istio-ca-root-cert.
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: read },
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          resourceNames: [InstallNames.webhook],
          verbs: ['update', 'patch'],
        },
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations'], verbs: read },
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['validatingwebhookconfigurations'],
          resourceNames: [InstallNames.validator],
          verbs: ['update', 'patch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(InstallNames.clusterRole),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: InstallNames.clusterRole },
      subjects: [{ kind: 'ServiceAccount', name: InstallNames.serviceAccount, namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(InstallNames.role, ns),
      rules: [
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
        // Only dry runs: the leader checks that the API server calls the validating webhook before closing it.
        { apiGroups: ['networking.istio.io'], resources: ['virtualservices'], verbs: ['create'] },
        // Gateway credentialName Secrets live in the gateways' namespace (this one): the gateways themselves
        // read no Secret, they get certificates from the control plane. Writes stay limited to the CA's.
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: [InstallNames.caSecret],
          verbs: ['get', 'watch', 'update'],
        },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: [InstallNames.leaderLease],
          verbs: ['get', 'update'],
        },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(InstallNames.role, ns),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: InstallNames.role },
      subjects: [{ kind: 'ServiceAccount', name: InstallNames.serviceAccount, namespace: ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(InstallNames.configMap, ns),
      data: {
        'mesh.yaml': [
          `trustDomain: ${v.trustDomain}`,
          `certTtl: ${v.certTtl}`,
          `nativeSidecar: ${v.nativeSidecar}`,
          `proxyImage: ${v.image}`,
          `version: ${version}`,
          '',
        ].join('\n'),
        // Istio's MeshConfig (IstioOperator spec.meshConfig, --set meshConfig.*): the control plane follows it live
        ...(meshConfig ? { 'meshConfig.json': JSON.stringify(meshConfig, null, 2) + '\n' } : {}),
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(InstallNames.service, ns),
      spec: {
        selector: { app: APP_LABELS.app },
        ports: [
          {
            name: 'grpc-stream',
            port: ControlPlanePorts.stream,
            targetPort: ControlPlanePorts.stream,
            protocol: 'TCP',
          },
          { name: 'http-debug', port: ControlPlanePorts.debug, targetPort: ControlPlanePorts.debug, protocol: 'TCP' },
          { name: 'https-webhook', port: 443, targetPort: ControlPlanePorts.webhook, protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(InstallNames.deployment, ns),
      spec: {
        replicas: v.controlPlane.replicas,
        selector: { matchLabels: { app: APP_LABELS.app } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: {
            labels: { ...APP_LABELS, version },
            // Prometheus's usual pod discovery scrapes the control plane's own metrics (pushes, NACKs, certificates)
            annotations: {
              'meshctl.dev/inject': 'disabled',
              'prometheus.io/scrape': 'true',
              'prometheus.io/port': String(ControlPlanePorts.debug),
              'prometheus.io/path': '/metrics',
            },
          },
          spec: {
            serviceAccountName: InstallNames.serviceAccount,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: PROXY_UID,
              runAsGroup: PROXY_GID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'control-plane',
                image: v.image,
                args: [
                  'control-plane',
                  '--kubernetes',
                  '--namespace',
                  ns,
                  '--log-level',
                  v.controlPlane.logLevel,
                  ...(v.proxy.defaultInboundPolicy !== 'all-unauthenticated'
                    ? ['--default-inbound-policy', v.proxy.defaultInboundPolicy]
                    : []),
                ],
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ],
                ports: [
                  { name: 'grpc-stream', containerPort: ControlPlanePorts.stream },
                  { name: 'http-debug', containerPort: ControlPlanePorts.debug },
                  { name: 'https-webhook', containerPort: ControlPlanePorts.webhook },
                ],
                readinessProbe: {
                  httpGet: { path: '/ready', port: ControlPlanePorts.debug },
                  periodSeconds: 3,
                  failureThreshold: 3,
                },
                livenessProbe: {
                  httpGet: { path: '/healthz', port: ControlPlanePorts.debug },
                  periodSeconds: 10,
                  failureThreshold: 6,
                },
                resources: v.controlPlane.resources,
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(InstallNames.pdb, ns),
      spec: { minAvailable: 1, selector: { matchLabels: { app: APP_LABELS.app } } },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: meta(InstallNames.webhook),
      webhooks: [
        webhook(v, 'namespace.sidecar-injector.meshctl.dev', {
          namespaceSelector: { matchLabels: { [INJECT_NAMESPACE_LABEL]: 'enabled' } },
          objectSelector: {
            matchExpressions: [{ key: INJECT_NAMESPACE_LABEL, operator: 'NotIn', values: ['disabled', 'false'] }],
          },
        }),
        webhook(v, 'object.sidecar-injector.meshctl.dev', {
          namespaceSelector: {
            matchExpressions: [{ key: INJECT_NAMESPACE_LABEL, operator: 'NotIn', values: ['enabled', 'disabled'] }],
          },
          objectSelector: { matchLabels: { [INJECT_NAMESPACE_LABEL]: 'enabled' } },
        }),
      ],
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: meta(InstallNames.validator),
      webhooks: [
        {
          name: 'validation.meshctl.dev',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          // Open until the control plane has set the caBundle and seen the API server call it (as istiod
          // does); the leader then sets Fail, and a re-install keeps it (src/cluster/kubernetes/install.ts).
          failurePolicy: 'Ignore',
          timeoutSeconds: v.webhook.timeoutSeconds,
          clientConfig: {
            service: { name: InstallNames.service, namespace: v.namespace, path: '/validate', port: 443 },
          },
          rules: [
            {
              apiGroups: MESH_API_GROUPS,
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['*'],
              scope: '*',
            },
            { ...GATEWAY_API_RULE, apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], scope: '*' },
          ],
        },
      ],
    },
  ];
}

function webhook(v: InstallValues, name: string, selectors: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: v.webhook.failurePolicy,
    timeoutSeconds: v.webhook.timeoutSeconds,
    reinvocationPolicy: 'Never',
    // The control plane fills in caBundle once it has its serving certificate, and keeps it current.
    clientConfig: { service: { name: InstallNames.service, namespace: v.namespace, path: '/inject', port: 443 } },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    ...selectors,
  };
}

/** The ConfigMap with the root CA that the control plane publishes into a namespace. */
export function caRootConfigMap(namespace: string, rootPem: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CA_ROOT_CONFIGMAP, namespace, labels: { ...MANAGED_BY } },
    data: { 'root-cert.pem': rootPem },
  };
}
