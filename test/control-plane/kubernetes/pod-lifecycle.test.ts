/**
 * Pods as the control plane reads them through their life (issue 17): a pod is an endpoint of its
 * Services only while it is Ready and not terminating, but from the moment it has an address until
 * it finishes its own sidecar keeps its inbound listeners, so the requests in flight and those sent
 * by peers that have not yet had the update are still served while it drains.
 */
import { describe, expect, it } from 'vitest';
import { serviceFromObject, workloadFromPod, type PodObject } from '../../../src/control-plane/kubernetes/convert.js';
import {
  proxyConfigFor,
  trafficOf,
  type MeshSnapshot,
  type MeshWorkload,
} from '../../../src/control-plane/translate/index.js';
import { INJECTED_LABEL } from '../../../src/protocol/well-known.js';

type PodState = 'ready' | 'starting' | 'terminating' | 'finished';

const pod = (name: string, ip: string, state: PodState, app = 'web'): PodObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'shop',
    labels: { app, [INJECTED_LABEL]: 'true' },
    ...(state === 'terminating' ? { deletionTimestamp: '2026-12-04T22:00:00Z' } : {}),
  },
  spec: { serviceAccountName: app, containers: [{ name: app, ports: [{ containerPort: 8080 }] }] },
  status: {
    phase: state === 'finished' ? 'Succeeded' : 'Running',
    podIP: ip,
    // A terminating pod stays Ready until its probes fail: the deletion alone takes it out.
    conditions: [{ type: 'Ready', status: state === 'starting' || state === 'finished' ? 'False' : 'True' }],
  },
});

const service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    clusterIP: '198.18.200.10',
    selector: { app: 'web' },
    ports: [{ name: 'http', port: 9080, targetPort: 8080 }],
  },
};

function snapshotOf(pods: PodObject[]): { snapshot: MeshSnapshot; workloads: MeshWorkload[] } {
  const workloads = pods.flatMap((p) => workloadFromPod(p) ?? []) as MeshWorkload[];
  const snapshot = {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: [serviceFromObject(service, pods)],
    workloads,
    resources: [],
  } as unknown as MeshSnapshot;
  return { snapshot, workloads };
}

/** The addresses a proxy sends web's requests to. */
function webEndpoints(snapshot: MeshSnapshot, from: MeshWorkload): string[] {
  const { config } = proxyConfigFor(snapshot, from, trafficOf(from));
  const cluster = (config.clusters ?? []).find((c) => c.name.startsWith('outbound|9080||web.shop'));
  return (cluster?.endpoints ?? []).map((e) => e.address).sort();
}

/** Whether a proxy has an inbound chain for its app port 8080. */
function servesInbound(snapshot: MeshSnapshot, self: MeshWorkload): boolean {
  const { config } = proxyConfigFor(snapshot, self, trafficOf(self));
  return JSON.stringify(config.listeners.filter((l) => l.port === 15006)).includes('8080');
}

describe('pods through their life, as endpoints and as proxies', () => {
  it('a Ready pod is an endpoint; a starting or terminating one is not, but keeps its own inbound', () => {
    const { snapshot, workloads } = snapshotOf([
      pod('web-a', '198.18.64.2', 'ready'),
      pod('web-b', '198.18.64.3', 'terminating'),
      pod('web-c', '198.18.64.4', 'starting'),
      pod('client', '198.18.64.9', 'ready', 'client'),
    ]);
    const by = (n: string) => workloads.find((w) => w.name === n)!;
    expect(by('web-a').serving).toBeUndefined();
    expect(by('web-b').serving).toBe(false);
    expect(by('web-c').serving).toBe(false);
    expect(webEndpoints(snapshot, by('client'))).toEqual(['198.18.64.2']);
    for (const n of ['web-a', 'web-b', 'web-c']) expect(servesInbound(snapshot, by(n)), n).toBe(true);
  });

  it('a finished pod, or one without an address yet, is no workload at all', () => {
    expect(workloadFromPod(pod('job-x', '198.18.64.5', 'finished'))).toBeUndefined();
    const unscheduled = pod('web-d', '198.18.64.6', 'starting');
    delete unscheduled.status!.podIP;
    expect(workloadFromPod(unscheduled)).toBeUndefined();
  });
});
