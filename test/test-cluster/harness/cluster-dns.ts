/**
 * The cluster's DNS: CoreDNS (built from the pinned release, kubernetes plugin) in the node's network
 * namespace on the node's address, behind the `kube-system/kube-dns` Service at the usual ClusterIP, so pods
 * reach it through kube-proxy exactly as on a kubeadm cluster. The harness starts it (like a host-network
 * static pod) with its own identity (system:coredns) and the read access kubeadm's ClusterRole gives it.
 */
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { binaryPath } from './binaries.js';
import { clusterDnsIP, clusterDomain, inNodeNetns, type PodNetwork } from './network.js';
import { startDetached, waitFor, type ClusterProcess } from './processes.js';

/** Port of CoreDNS's `ready` plugin on the node's address (the harness waits on it from the host). */
export const corednsReadyPort = 8181;

/**
 * The Corefile: kubeadm's, with the node's address bound and short TTLs (tests replace pods quickly).
 * `forwardZones` (zone -> `ip:port`) adds a server block per zone forwarding it there, like kubeadm's
 * stub domains: a test's own DNS server answers names outside the cluster (e.g. a ServiceEntry's host).
 */
export function corefile(
  net: Pick<PodNetwork, 'nodeIP'>,
  kubeconfig: string,
  forwardZones: Record<string, string> = {},
): string {
  const stubs = Object.entries(forwardZones)
    .map(([zone, server]) => `${zone}:53 {\n    bind ${net.nodeIP}\n    errors\n    forward . ${server}\n}\n`)
    .join('');
  return `${stubs}.:53 {
    bind ${net.nodeIP}
    errors
    health 127.0.0.1:8080
    ready ${net.nodeIP}:${corednsReadyPort}
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    forward . /etc/resolv.conf
    cache 5 {
        disable success ${clusterDomain}
        disable denial ${clusterDomain}
    }
    loadbalance
}
`;
}

/** kubeadm's system:coredns ClusterRole, bound to the user CoreDNS's certificate names. */
async function grantCoreDnsAccess(rbac: k8s.RbacAuthorizationV1Api): Promise<void> {
  const name = 'system:coredns';
  await createIfMissing(() =>
    rbac.createClusterRole({
      body: {
        metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
        rules: [
          { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
        ],
      },
    }),
  );
  await createIfMissing(() =>
    rbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name }],
      },
    }),
  );
}

async function createIfMissing(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (e) {
    if ((e as { code?: number }).code !== 409) throw e;
  }
}

/**
 * The kube-dns Service (no selector: CoreDNS is not a pod) and the EndpointSlice leading it to the node's
 * address, as the EndpointSlice controller would write it for a host-network pod.
 */
async function createKubeDnsService(
  core: k8s.CoreV1Api,
  discovery: k8s.DiscoveryV1Api,
  net: PodNetwork,
  nodeName: string,
): Promise<void> {
  const labels = { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' };
  await createIfMissing(() =>
    core.createNamespacedService({
      namespace: 'kube-system',
      body: {
        metadata: { name: 'kube-dns', labels },
        spec: {
          clusterIP: clusterDnsIP,
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
            { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
          ],
        },
      },
    }),
  );
  await createIfMissing(() =>
    discovery.createNamespacedEndpointSlice({
      namespace: 'kube-system',
      body: {
        metadata: {
          name: 'kube-dns-node',
          labels: {
            ...labels,
            'kubernetes.io/service-name': 'kube-dns',
            'endpointslice.kubernetes.io/managed-by': 'meshctl-test-harness',
          },
        },
        addressType: 'IPv4',
        endpoints: [
          { addresses: [net.nodeIP], conditions: { ready: true, serving: true, terminating: false }, nodeName },
        ],
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      },
    }),
  );
}

function ready(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Creates the kube-dns Service and starts CoreDNS; resolves when it has synced with the API server. */
export async function startClusterDns(o: {
  dir: string;
  net: PodNetwork;
  nodeName: string;
  kubeconfig: string;
  kc: k8s.KubeConfig;
  forwardZones?: Record<string, string>;
}): Promise<ClusterProcess> {
  const k8sApi = await import('@kubernetes/client-node');
  await grantCoreDnsAccess(o.kc.makeApiClient(k8sApi.RbacAuthorizationV1Api));
  await createKubeDnsService(
    o.kc.makeApiClient(k8sApi.CoreV1Api),
    o.kc.makeApiClient(k8sApi.DiscoveryV1Api),
    o.net,
    o.nodeName,
  );
  const file = join(o.dir, 'Corefile');
  writeFileSync(file, corefile(o.net, o.kubeconfig, o.forwardZones));
  const proc = startDetached(
    'coredns',
    inNodeNetns(o.net, [binaryPath('coredns'), '-conf', file]),
    join(o.dir, 'logs', 'coredns.log'),
  );
  await waitFor('CoreDNS ready', () => ready(`http://${o.net.nodeIP}:${corednsReadyPort}/ready`), 30_000, proc);
  return proc;
}
