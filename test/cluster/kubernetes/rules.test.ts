/**
 * The Kubernetes rules that need no cluster: port protocols as Istio reads them, which existing CRDs
 * install leaves to another mesh, and the one-line reasons readiness waits give for pod statuses
 * (statuses as the API server returns them).
 */
import { describe, expect, it } from 'vitest';
import { portProtocol } from '../../../src/control-plane/kubernetes/convert.js';
import { foreignOwner } from '../../../src/install/objects.js';
import { podProblem, type PodLike } from '../../../src/cluster/kubernetes/readiness.js';
import { proxyPath } from '../../../src/cluster/kubernetes/proxy.js';

describe('port protocol (Istio naming rules)', () => {
  it.each([
    ['http', undefined, 'http'],
    ['http-web', undefined, 'http'],
    ['HTTP2-api', undefined, 'http2'],
    ['grpc', undefined, 'grpc'],
    ['grpc-web', undefined, 'http'],
    ['tcp-db', undefined, 'tcp'],
    ['https', undefined, 'tcp'],
    ['tls-passthrough', undefined, 'tcp'],
    ['mysql', undefined, 'tcp'],
    ['web', undefined, 'auto'],
    [undefined, undefined, 'auto'],
    ['web', 'http', 'http'],
    ['tcp-x', 'grpc', 'grpc'],
    ['web', 'kubernetes.io/h2c', 'http2'],
    ['web', 'kubernetes.io/ws', 'http'],
    ['web', 'example.com/custom', 'auto'],
  ] as const)('name %s, appProtocol %s -> %s', (name, appProtocol, expected) => {
    expect(portProtocol(name, appProtocol)).toBe(expected);
  });
});

describe('CRDs owned by another installation', () => {
  const crd = (labels: Record<string, string>, managers: string[]) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: 'virtualservices.networking.istio.io',
      labels,
      managedFields: managers.map((manager) => ({ manager, operation: 'Apply' })),
    },
  });

  it("names Istio's (helm labels) and an unlabelled one by its field managers; meshctl's own is not foreign", () => {
    expect(
      foreignOwner(crd({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/part-of': 'istio' }, ['helm'])),
    ).toBe('Helm');
    expect(foreignOwner(crd({ release: 'istio-base' }, ['pilot-discovery']))).toBe('istio-base');
    expect(foreignOwner(crd({}, ['kubectl-client-side-apply']))).toBe('kubectl-client-side-apply');
    expect(foreignOwner(crd({ 'app.kubernetes.io/part-of': 'meshctl' }, ['meshctl']))).toBeUndefined();
    expect(foreignOwner(crd({}, ['meshctl', 'kube-apiserver']))).toBeUndefined();
  });
});

describe('pod problems, as readiness waits report them', () => {
  const pod = (status: PodLike['status'], extra: Partial<PodLike['metadata']> = {}): PodLike => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', ...extra },
    spec: { nodeName: 'n1' },
    status,
  });

  it('unschedulable, with the scheduler message', () => {
    expect(
      podProblem(
        pod({
          phase: 'Pending',
          conditions: [
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'Unschedulable',
              message: '0/1 nodes are available: 1 Insufficient cpu.',
            },
          ],
        }),
      ),
    ).toBe('unschedulable: 0/1 nodes are available: 1 Insufficient cpu.');
  });

  it('image pull back-off of an init container', () => {
    expect(
      podProblem(
        pod({
          phase: 'Pending',
          initContainerStatuses: [
            {
              name: 'proxy-init',
              image: 'x/y:1',
              state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x/y:1"' } },
            },
          ],
        }),
      ),
    ).toBe('image pull failed for init container proxy-init (x/y:1): ImagePullBackOff: Back-off pulling image "x/y:1"');
  });

  it('crash loop with the last exit', () => {
    expect(
      podProblem(
        pod({
          phase: 'Running',
          containerStatuses: [
            {
              name: 'app',
              restartCount: 4,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
            },
          ],
        }),
      ),
    ).toBe('crash loop: container app restarted 4 times; last exit code 137 (OOMKilled)');
  });

  it('running but not ready, and ready', () => {
    expect(
      podProblem(
        pod({
          phase: 'Running',
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'ContainersNotReady',
              message: 'containers with unready status: [app]',
            },
          ],
          containerStatuses: [{ name: 'app', ready: false, state: { running: {} } }],
        }),
      ),
    ).toBe('not ready (containers app): containers with unready status: [app]');
    expect(podProblem(pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }))).toBeUndefined();
  });
});

describe('API server proxy paths', () => {
  it('services and pods, named or numbered ports, https scheme, path kept', () => {
    expect(
      proxyPath(
        { kind: 'service', namespace: 'mesh-system', name: 'meshctl-control-plane', port: 15014 },
        '/debug/syncz',
      ),
    ).toBe('/api/v1/namespaces/mesh-system/services/meshctl-control-plane:15014/proxy/debug/syncz');
    expect(
      proxyPath({ kind: 'pod', namespace: 'default', name: 'web-1', port: 'http-admin', scheme: 'https' }, 'stats'),
    ).toBe('/api/v1/namespaces/default/pods/https:web-1:http-admin/proxy/stats');
  });
});
