/**
 * The seed's ServiceEntry on a test cluster, as a user runs it: an HTTPS server outside the cluster (on the
 * host's link address, port 443, a self-signed certificate for api.external.com), a name CoreDNS resolves
 * for pods (a zone forwarded to the test's DNS server), `meshctl install`, the seed's `external-api`
 * applied unchanged, and a pod injected with `meshctl inject` calling `https://api.external.com/` with curl:
 * the answer comes through its sidecar's `outbound|443||api.external.com` cluster. With REGISTRY_ONLY (a
 * Sidecar in the root namespace, as the README documents) a host without a ServiceEntry is refused while
 * api.external.com still answers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { TestDnsServer } from '../support/dns-server.js';
import { kubernetesTestBinaries, type TestCluster } from '../test-cluster/support.js';
import { startMeshedClient } from './client-pod.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';

/** The seed's ServiceEntry, unchanged. */
const SEED_SERVICE_ENTRY = `apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: external-api
spec:
  hosts:
  - api.external.com
  ports:
  - number: 443
    name: https
    protocol: HTTPS
  location: MESH_EXTERNAL
  resolution: DNS
`;

const REGISTRY_ONLY = `apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata:
  name: default
  namespace: mesh-system
spec:
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
`;

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes end to end: the seed ServiceEntry', () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  let dns: TestDnsServer | undefined;
  let server: Server | undefined;
  let ns = '';
  let client: k8s.V1Pod;
  const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

  const certs = mkdtempSync(join(tmpdir(), 'meshctl-api-external-'));
  const key = join(certs, 'api.key');
  const crt = join(certs, 'api.crt');

  beforeAll(async () => {
    own = await startOwnTestCluster('service-entry', {
      // Outside the cluster: the host's address on its link to the node, reachable from every pod.
      dnsForwardZones: async (net) => {
        dns = await TestDnsServer.start(net.hostIP);
        dns.set('api.external.com', [net.hostIP], 5);
        dns.set('other.external.com', [net.hostIP], 5);
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:P-256',
            '-nodes',
            '-days',
            '2',
            '-subj',
            '/CN=api.external.com',
            '-addext',
            'subjectAltName=DNS:api.external.com,DNS:other.external.com',
            '-keyout',
            key,
            '-out',
            crt,
          ],
          { stdio: 'ignore' },
        );
        server = createServer({ key: readFileSync(key), cert: readFileSync(crt) }, (req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ server: 'external', host: req.headers.host, path: req.url }));
        });
        await new Promise<void>((resolve, reject) => {
          server!.once('error', reject);
          server!.listen(443, net.hostIP, () => resolve());
        });
        return { 'external.com': dns.address };
      },
    });
    ({ cluster, dir } = own);
  }, 180_000);
  afterAll(async () => {
    await stopOwnTestCluster(own);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await dns?.close();
    rmSync(certs, { recursive: true, force: true });
  }, 120_000);

  /** curl from the client container (captured by its sidecar), verifying the server against its certificate. */
  const curl = (url: string) =>
    cluster.execInContainer(client, 'client', [
      'curl',
      '-sS',
      '--max-time',
      '5',
      '--cacert',
      crt,
      '-w',
      '\n%{http_code}',
      url,
    ]);

  it('meshctl install, the seed ServiceEntry, and a meshed pod (meshctl inject)', async () => {
    const installed = await cli('install', '--kubernetes', '--wait', '--timeout', '4m', '-y');
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    ns = await cluster.createNamespace('ext');
    const se = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: SEED_SERVICE_ENTRY });
    expect(se.code, se.stderr).toBe(0);
    client = await startMeshedClient(cluster, cli, dir, ns);
    expect(client.status?.initContainerStatuses?.find((c) => c.name === 'mesh-proxy')?.ready).toBe(true);
  }, 300_000);

  it('curl https://api.external.com/ from the pod gets the server through outbound|443||api.external.com', async () => {
    let last = '';
    const ok = await cluster
      .waitFor(
        'api.external.com through the sidecar',
        async () => {
          const r = await curl('https://api.external.com/');
          last = `curl exit ${r.code}: ${r.stdout} ${r.stderr}`;
          return r.code === 0 && r.stdout.endsWith('\n200') ? r : undefined;
        },
        60_000,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}\nlast: ${last}\nsidecar log:\n${cluster.podLogs(client, 'mesh-proxy')}`);
      });
    expect(JSON.parse(ok.stdout.slice(0, ok.stdout.lastIndexOf('\n')))).toEqual({
      server: 'external',
      host: 'api.external.com',
      path: '/',
    });
    const clusters = await cli('proxy-config', 'clusters', `client.${ns}`);
    expect(clusters.code, clusters.stderr).toBe(0);
    // resolution: DNS is resolved by the sidecar, and shown as Envoy names it.
    expect(clusters.stdout).toMatch(/\napi\.external\.com +443 +- +OUTBOUND +STRICT_DNS\n/);
    const json = await cli('proxy-config', 'clusters', `client.${ns}`, '-o', 'json');
    expect(json.stdout).toContain('outbound|443||api.external.com');
    // The sidecar's access log names the cluster the request went to.
    expect(cluster.podLogs(client, 'mesh-proxy')).toContain('outbound|443||api.external.com');
    // Under the default ALLOW_ANY a host without a ServiceEntry passes through.
    expect((await curl('https://other.external.com/')).stdout).toMatch(/\n200$/);
  }, 120_000);

  it('with REGISTRY_ONLY a host without a ServiceEntry is refused; api.external.com still answers', async () => {
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: REGISTRY_ONLY });
    expect(applied.code, applied.stderr).toBe(0);
    const refused = await cluster.waitFor(
      'other.external.com refused',
      async () => {
        const r = await curl('https://other.external.com/');
        return r.code !== 0 ? r : undefined;
      },
      60_000,
    );
    expect(refused.stdout).not.toContain('external');
    const ok = await curl('https://api.external.com/');
    expect(ok.code, `${ok.stderr}\nsidecar log:\n${cluster.podLogs(client, 'mesh-proxy').slice(-4000)}`).toBe(0);
    expect(ok.stdout).toMatch(/"server":"external".*\n200$/s);
  }, 120_000);
});
