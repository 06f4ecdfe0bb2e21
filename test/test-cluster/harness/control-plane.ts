/**
 * Starts the real control plane on the host: etcd on loopback, kube-apiserver on the host's end of the
 * node link (see network.ts) (RBAC, ServiceAccount issuer and keys,
 * admission webhooks, aggregator routing), kube-controller-manager and kube-scheduler, each with its own
 * certificate and kubeconfig, plus an admin kubeconfig for people, kubectl and tests and the node's
 * kubeconfigs for kube-proxy and CoreDNS.
 */
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binaryPath } from './binaries.js';
import { serviceCidr, type PodNetwork } from './network.js';
import { TestCa, serviceAccountKeys, writeSecretFile, type CertAndKey } from './pki.js';
import { freePorts, startDetached, waitFor, type ClusterProcess } from './processes.js';

/** What the rest of the harness needs to know about a running control plane. */
export interface ControlPlane {
  apiServerUrl: string;
  apiServerPort: number;
  /** Admin kubeconfig (system:masters). */
  kubeconfig: string;
  caFile: string;
  /** Serving certificate of the node agent's kubelet API (for `kubectl logs`). */
  kubeletTls: { cert: string; key: string };
  /** kube-proxy's kubeconfig (user system:kube-proxy, bound to system:node-proxier by default RBAC). */
  kubeProxyKubeconfig: string;
  /** CoreDNS's kubeconfig (user system:coredns; cluster-dns.ts grants it read access). */
  corednsKubeconfig: string;
  processes: ClusterProcess[];
}

/** The ServiceAccount token issuer (and default audience), as on most clusters. */
export const serviceAccountIssuer = 'https://kubernetes.default.svc.cluster.local';

function kubeconfigYaml(server: string, ca: string, user: string, client: CertAndKey): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: meshctl-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(ca)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(client.certPem)}`,
    `    client-key-data: ${b64(client.keyPem)}`,
    'contexts:',
    '- name: meshctl-test',
    '  context:',
    '    cluster: meshctl-test',
    `    user: ${user}`,
    '    namespace: default',
    'current-context: meshctl-test',
    '',
  ].join('\n');
}

function getStatus(
  url: string,
  tls?: { ca: string; cert: string; key: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? request : httpRequest)(
      url,
      { ...(tls ?? { rejectUnauthorized: false }), timeout: 2_000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Starts the control plane in `dir` (which it fills with data, certificates, kubeconfigs and logs). */
export async function startControlPlane(
  dir: string,
  net: PodNetwork,
  progress: (msg: string) => void,
): Promise<ControlPlane> {
  const pki = join(dir, 'pki');
  const logs = join(dir, 'logs');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  mkdirSync(logs, { recursive: true });
  const [etcdPort, etcdPeerPort, apiPort, cmPort, schedPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  // On the host's end of the node link: the host reaches it as a local address, the node and pods routed.
  const server = `https://${net.hostIP}:${apiPort}`;

  const ca = await TestCa.create('meshctl-test-cluster-ca');
  const caFile = join(pki, 'ca.crt');
  writeFileSync(caFile, ca.certPem);
  const caKeyFile = writeSecretFile(pki, 'ca.key', ca.keyPem);
  const serving = await ca.issue({
    subject: 'CN=kube-apiserver',
    server: true,
    dns: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ips: ['127.0.0.1', net.hostIP, '198.18.128.1'],
  });
  writeFileSync(join(pki, 'apiserver.crt'), serving.certPem);
  writeSecretFile(pki, 'apiserver.key', serving.keyPem);
  const kubeletServing = await ca.issue({ subject: 'CN=meshctl-test-node', server: true, ips: [net.nodeIP] });
  const kubeletTls = {
    cert: join(pki, 'kubelet.crt'),
    key: writeSecretFile(pki, 'kubelet.key', kubeletServing.keyPem),
  };
  writeFileSync(kubeletTls.cert, kubeletServing.certPem);
  const kubeletClient = await ca.issue({ subject: 'CN=kube-apiserver-kubelet-client', client: true });
  writeFileSync(join(pki, 'apiserver-kubelet-client.crt'), kubeletClient.certPem);
  writeSecretFile(pki, 'apiserver-kubelet-client.key', kubeletClient.keyPem);
  const sa = await serviceAccountKeys();
  const saKey = writeSecretFile(pki, 'sa.key', sa.privatePem);
  writeFileSync(join(pki, 'sa.pub'), sa.publicPem);

  const subjects = {
    admin: 'CN=kubernetes-admin, O=system:masters',
    'controller-manager': 'CN=system:kube-controller-manager',
    scheduler: 'CN=system:kube-scheduler',
    'kube-proxy': 'CN=system:kube-proxy',
    coredns: 'CN=system:coredns',
  } as const;
  const kubeconfigs = Object.fromEntries(Object.keys(subjects).map((k) => [k, ''])) as Record<
    keyof typeof subjects,
    string
  >;
  let admin: CertAndKey | undefined;
  for (const who of Object.keys(subjects) as (keyof typeof subjects)[]) {
    const client = await ca.issue({ subject: subjects[who], client: true });
    if (who === 'admin') admin = client;
    kubeconfigs[who] = writeSecretFile(dir, `${who}.kubeconfig`, kubeconfigYaml(server, ca.certPem, who, client));
  }
  if (!admin) throw new Error('unreachable: no admin certificate');
  const tls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };

  const processes: ClusterProcess[] = [];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  progress('starting etcd');
  const etcd = startDetached(
    'etcd',
    [
      binaryPath('etcd'),
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--log-level=warn',
      // Test data is thrown away with the cluster: durability is not worth the fsync latency.
      '--unsafe-no-fsync',
    ],
    join(logs, 'etcd.log'),
  );
  processes.push(etcd);
  try {
    await waitFor(
      'etcd health',
      async () => (await getStatus(`${etcdUrl}/health`)).body.includes('"health":"true"'),
      20_000,
      etcd,
    );

    progress('starting kube-apiserver');
    const apiserver = startDetached(
      'kube-apiserver',
      [
        binaryPath('kube-apiserver'),
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${net.hostIP}`,
        `--secure-port=${apiPort}`,
        // The `kubernetes` Service's endpoint: pods reach it through the node's kube-proxy and routing.
        `--advertise-address=${net.hostIP}`,
        `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
        `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
        `--client-ca-file=${caFile}`,
        '--authorization-mode=Node,RBAC',
        `--service-account-issuer=${serviceAccountIssuer}`,
        `--service-account-key-file=${join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${saKey}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        '--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,NodeRestriction,PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota',
        // The host has no kube-proxy rules (they are in the node's namespace): the API server reaches webhooks
        // and aggregated APIs at their endpoints, which the host routes to the node.
        '--enable-aggregator-routing=true',
        `--kubelet-certificate-authority=${caFile}`,
        `--kubelet-client-certificate=${join(pki, 'apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${join(pki, 'apiserver-kubelet-client.key')}`,
        '--kubelet-preferred-address-types=InternalIP',
        '--allow-privileged=true',
        '--profiling=false',
        '--v=1',
      ],
      join(logs, 'kube-apiserver.log'),
    );
    processes.push(apiserver);
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await getStatus(`${server}/readyz`, tls)).status === 200,
      60_000,
      apiserver,
    );

    progress('starting kube-controller-manager and kube-scheduler');
    const cmKubeconfig = kubeconfigs['controller-manager'];
    const cm = startDetached(
      'kube-controller-manager',
      [
        binaryPath('kube-controller-manager'),
        `--kubeconfig=${cmKubeconfig}`,
        `--authentication-kubeconfig=${cmKubeconfig}`,
        `--authorization-kubeconfig=${cmKubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${cmPort}`,
        '--leader-elect=false',
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${caFile}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${caFile}`,
        `--cluster-signing-key-file=${caKeyFile}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        '--controllers=*,bootstrapsigner,tokencleaner',
        '--v=1',
      ],
      join(logs, 'kube-controller-manager.log'),
    );
    processes.push(cm);
    const schedKubeconfig = kubeconfigs.scheduler;
    const scheduler = startDetached(
      'kube-scheduler',
      [
        binaryPath('kube-scheduler'),
        `--kubeconfig=${schedKubeconfig}`,
        `--authentication-kubeconfig=${schedKubeconfig}`,
        `--authorization-kubeconfig=${schedKubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${schedPort}`,
        '--leader-elect=false',
        '--v=1',
      ],
      join(logs, 'kube-scheduler.log'),
    );
    processes.push(scheduler);
    await waitFor(
      'kube-controller-manager /healthz',
      async () => (await getStatus(`https://127.0.0.1:${cmPort}/healthz`)).status === 200,
      30_000,
      cm,
    );
    await waitFor(
      'kube-scheduler /healthz',
      async () => (await getStatus(`https://127.0.0.1:${schedPort}/healthz`)).status === 200,
      30_000,
      scheduler,
    );
    return {
      apiServerUrl: server,
      apiServerPort: apiPort,
      kubeconfig: kubeconfigs.admin,
      caFile,
      kubeletTls,
      kubeProxyKubeconfig: kubeconfigs['kube-proxy'],
      corednsKubeconfig: kubeconfigs.coredns,
      processes,
    };
  } catch (e) {
    // Leave nothing running when start-up fails half-way.
    const { stopProcess } = await import('./processes.js');
    for (const p of processes.reverse()) await stopProcess(p, 2_000);
    throw e;
  }
}
