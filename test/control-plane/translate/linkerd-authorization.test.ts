/**
 * Linkerd policy kinds -> sidecar policies, evaluated by the proxy's own policy engine on the
 * facts of a request (the traffic tests are test/e2e/linkerd-policy.test.ts): label selectors with
 * matchExpressions, ServerAuthorization networks/except, unauthenticated and unauthenticatedTLS,
 * server selectors, NetworkAuthentication, identityRefs to a Namespace, ports by name, defaults.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_INBOUND_POLICIES } from '../../../src/protocol/well-known.js';
import { ACCESS_POLICIES } from '../../../src/config/kinds/linkerd-policy.js';
import {
  linkerdPolicies,
  linkerdIdentityPrincipal,
} from '../../../src/control-plane/translate/linkerd-authorization.js';
import { AuthzPolicies } from '../../../src/proxy-runtime/http/authz/policy.js';
import type { MeshSnapshot, MeshWorkload } from '../../../src/control-plane/translate/model.js';
import type { MeshResource } from '../../../src/config/index.js';
import { workloadAuthz } from '../../../src/control-plane/translate/authorization.js';
import { workloadFromPod } from '../../../src/control-plane/kubernetes/convert.js';

const emoji: MeshWorkload = {
  name: 'emoji',
  namespace: 'emojivoto',
  serviceAccount: 'emoji',
  labels: { app: 'emoji-svc', tier: 'backend' },
  address: '10.0.0.5',
  meshed: true,
  ports: [8080],
};
const res = (
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  labels?: Record<string, string>,
  apiVersion = 'policy.linkerd.io/v1beta3',
): MeshResource =>
  ({
    apiVersion,
    kind,
    metadata: { name, namespace: 'emojivoto', ...(labels ? { labels } : {}) },
    spec,
  }) as unknown as MeshResource;
const snap = (resources: MeshResource[]): MeshSnapshot => ({
  version: 'v',
  trustDomain: 'cluster.local',
  rootNamespace: 'mesh-system',
  services: [
    {
      name: 'emoji-svc',
      namespace: 'emojivoto',
      addresses: [],
      // No targetPort: the port goes to the workload's only app port (8080), where the Server's `grpc` must land.
      ports: [{ name: 'grpc', port: 80, protocol: 'grpc' }],
      selector: { app: 'emoji-svc' },
    },
  ],
  workloads: [emoji],
  resources,
});

/** Whether a caller may connect to `port`, as the sidecar decides it. */
function decide(
  resources: MeshResource[],
  caller: { principal?: string; ip: string },
  port: number,
  defaultPolicy?: Parameters<typeof linkerdPolicies>[2],
): boolean {
  const engine = new AuthzPolicies(linkerdPolicies(snap(resources), emoji, defaultPolicy));
  return engine.decide({
    principal: caller.principal,
    sourceIp: caller.ip,
    remoteIp: caller.ip,
    destinationIp: '10.0.0.5',
    destinationPort: port,
    sni: undefined,
    http: undefined,
  }).allowed;
}

const web = { principal: 'cluster.local/ns/emojivoto/sa/web', ip: '10.1.0.7' };
const stranger = { ip: '192.0.2.1' };
const server = res(
  'Server',
  'emoji-grpc',
  {
    podSelector: {
      matchExpressions: [
        { key: 'app', operator: 'In', values: ['emoji-svc'] },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    },
    port: 'grpc',
  },
  { role: 'api' },
);

describe('linkerdPolicies', () => {
  it('a Server (matchExpressions, port by name) denies its port by default; other ports follow the default policy', () => {
    expect(decide([server], web, 8080)).toBe(false);
    expect(decide([server], stranger, 9999)).toBe(true);
    expect(decide([server], stranger, 9999, 'all-authenticated')).toBe(false);
    expect(decide([server], web, 9999, 'all-authenticated')).toBe(true);
    expect(decide([], stranger, 9999, 'deny')).toBe(false);
    expect(decide([], stranger, 9999, 'cluster-unauthenticated')).toBe(false);
    expect(decide([], { ip: '10.9.9.9' }, 9999, 'cluster-unauthenticated')).toBe(true);
  });

  it('ServerAuthorization: server selector, client networks with except, unauthenticated, unauthenticatedTLS', () => {
    const byNet = res(
      'ServerAuthorization',
      'nets',
      {
        server: { selector: { matchLabels: { role: 'api' } } },
        client: { unauthenticated: true, networks: [{ cidr: '10.0.0.0/8', except: ['10.2.0.0/16'] }] },
      },
      undefined,
      'policy.linkerd.io/v1beta1',
    );
    expect(decide([server, byNet], { ip: '10.1.2.3' }, 8080)).toBe(true);
    expect(decide([server, byNet], { ip: '10.2.2.3' }, 8080)).toBe(false);
    expect(decide([server, byNet], stranger, 8080)).toBe(false);
    const tls = res(
      'ServerAuthorization',
      'tls',
      { server: { name: 'emoji-grpc' }, client: { meshTLS: { unauthenticatedTLS: true } } },
      undefined,
      'policy.linkerd.io/v1beta1',
    );
    expect(decide([server, tls], stranger, 8080)).toBe(true);
    const ids = res(
      'ServerAuthorization',
      'ids',
      {
        server: { name: 'emoji-grpc' },
        client: { meshTLS: { identities: ['*.emojivoto.serviceaccount.identity.linkerd.cluster.local'] } },
      },
      undefined,
      'policy.linkerd.io/v1beta1',
    );
    expect(decide([server, ids], web, 8080)).toBe(true);
    expect(decide([server, ids], { principal: 'cluster.local/ns/other/sa/web', ip: '10.1.0.7' }, 8080)).toBe(false);
  });

  it('AuthorizationPolicy: every required authentication must hold (MeshTLSAuthentication identityRefs Namespace AND NetworkAuthentication)', () => {
    const ap = res(
      'AuthorizationPolicy',
      'emoji',
      {
        targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'emoji-grpc' },
        requiredAuthenticationRefs: [
          { kind: 'MeshTLSAuthentication', name: 'ns' },
          { kind: 'NetworkAuthentication', name: 'pods' },
        ],
      },
      undefined,
      'policy.linkerd.io/v1alpha1',
    );
    const mtls = res(
      'MeshTLSAuthentication',
      'ns',
      { identityRefs: [{ kind: 'Namespace', name: 'emojivoto' }] },
      undefined,
      'policy.linkerd.io/v1alpha1',
    );
    const nets = res(
      'NetworkAuthentication',
      'pods',
      { networks: [{ cidr: '10.1.0.0/16' }] },
      undefined,
      'policy.linkerd.io/v1alpha1',
    );
    expect(decide([server, ap, mtls, nets], web, 8080)).toBe(true);
    expect(decide([server, ap, mtls, nets], { ...web, ip: '10.3.0.1' }, 8080)).toBe(false);
    expect(decide([server, ap, mtls, nets], { principal: 'cluster.local/ns/prod/sa/web', ip: '10.1.0.7' }, 8080)).toBe(
      false,
    );
    // A reference to an authentication that does not exist authorizes nobody.
    expect(decide([server, ap, mtls], web, 8080)).toBe(false);
    const nsWide = res(
      'AuthorizationPolicy',
      'ns',
      {
        targetRef: { kind: 'Namespace', name: 'emojivoto' },
        requiredAuthenticationRefs: [{ kind: 'ServiceAccount', name: 'web' }],
      },
      undefined,
      'policy.linkerd.io/v1alpha1',
    );
    expect(decide([server, nsWide], web, 8080)).toBe(true);
  });

  it('the pod annotation config.linkerd.io/default-inbound-policy sets the default; an unknown value fails closed', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'emoji-1',
        namespace: 'emojivoto',
        labels: { app: 'emoji-svc' },
        annotations: { 'config.linkerd.io/default-inbound-policy': 'all-authenticated' },
      },
      spec: { serviceAccountName: 'emoji', containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
      status: { podIP: '10.0.0.5', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    const w = workloadFromPod(pod)!;
    expect(w.defaultInboundPolicy).toBe('all-authenticated');
    const engine = (workload: MeshWorkload) => new AuthzPolicies(workloadAuthz(snap([]), workload)?.policies ?? []);
    const facts = (principal?: string) => ({
      principal,
      sourceIp: '10.1.0.7',
      remoteIp: '10.1.0.7',
      destinationIp: '10.0.0.5',
      destinationPort: 9999,
      sni: undefined,
      http: undefined,
    });
    expect(engine(w).decide(facts()).allowed).toBe(false);
    expect(engine(w).decide(facts(web.principal)).allowed).toBe(true);
    expect(engine({ ...w, defaultInboundPolicy: 'alll-unauthenticated' }).decide(facts(web.principal)).allowed).toBe(
      false,
    );
    expect(engine({ ...w, defaultInboundPolicy: undefined }).decide(facts()).allowed).toBe(true);
  });

  it("the pod's annotation wins over its namespace's, which wins over the install-wide default (proxy.defaultInboundPolicy)", () => {
    const pod = (annotations?: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'emoji-1',
        namespace: 'emojivoto',
        labels: { app: 'emoji-svc' },
        ...(annotations ? { annotations } : {}),
      },
      spec: { serviceAccountName: 'emoji', containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
      status: { podIP: '10.0.0.5', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    const own = { 'config.linkerd.io/default-inbound-policy': 'all-unauthenticated' };
    expect(workloadFromPod(pod(own), undefined, 'deny')!.defaultInboundPolicy).toBe('all-unauthenticated');
    expect(workloadFromPod(pod(), undefined, 'deny')!.defaultInboundPolicy).toBe('deny');
    expect(workloadFromPod(pod())!.defaultInboundPolicy).toBeUndefined();
    const facts = {
      principal: web.principal,
      sourceIp: '10.1.0.7',
      remoteIp: '10.1.0.7',
      destinationIp: '10.0.0.5',
      destinationPort: 9999,
      sni: undefined,
      http: undefined,
    };
    const allowed = (w: MeshWorkload, installDefault?: string) =>
      new AuthzPolicies(
        workloadAuthz({ ...snap([]), ...(installDefault ? { defaultInboundPolicy: installDefault } : {}) }, w)
          ?.policies ?? [],
      ).decide(facts).allowed;
    expect(allowed(workloadFromPod(pod())!, 'deny')).toBe(false);
    expect(allowed(workloadFromPod(pod(own))!, 'deny')).toBe(true);
    expect(allowed(workloadFromPod(pod(), undefined, 'all-authenticated')!, 'deny')).toBe(true);
    expect(allowed(workloadFromPod(pod())!)).toBe(true);
  });

  it('the default inbound policies are the values a Server accessPolicy takes (two lists: config may not import protocol)', () => {
    expect([...DEFAULT_INBOUND_POLICIES].sort()).toEqual([...ACCESS_POLICIES].sort());
  });

  it('Linkerd identities are the mesh principals', () => {
    expect(
      linkerdIdentityPrincipal('web.emojivoto.serviceaccount.identity.linkerd.cluster.local', 'cluster.local'),
    ).toBe('cluster.local/ns/emojivoto/sa/web');
    expect(linkerdIdentityPrincipal('*', 'cluster.local')).toBe('*');
  });
});
