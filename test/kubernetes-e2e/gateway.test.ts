/**
 * The ingress gateway on a test cluster, as a user runs it: `meshctl install --wait` brings
 * istio-ingressgateway up (LoadBalancer address), the seed's `api-gateway` Gateway (selector
 * istio: ingressgateway, HTTPS with credentialName api-tls-cert) with a self-signed kubernetes.io/tls
 * Secret and a VirtualService routes curl from the node (--resolve, --cacert) into a meshed
 * service over HTTPS; port 80 answers the seed's httpsRedirect with 301.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, type TestCluster } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';

const BOOKINFO = readFileSync(new URL('../../templates/demo/bookinfo.yaml', import.meta.url), 'utf8');

/** The seed's Gateway, unchanged. */
const SEED_GATEWAY = `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: api-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - api.example.com
    tls:
      httpsRedirect: true
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - api.example.com
    tls:
      mode: SIMPLE
      credentialName: api-tls-cert
`;

const VIRTUAL_SERVICE = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: api
spec:
  hosts: ["api.example.com"]
  gateways: ["api-gateway"]
  http:
  - route:
    - destination: {host: details, port: {number: 9080}}
`;

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes end to end: the ingress gateway', () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  let lb = '';
  const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

  beforeAll(async () => {
    own = await startOwnTestCluster('gateway');
    ({ cluster, dir } = own);
  }, 180_000);
  afterAll(async () => {
    await stopOwnTestCluster(own);
  }, 120_000);

  it('install --wait brings the ingress gateway up behind a LoadBalancer address', async () => {
    const r = await cli('install', '--kubernetes', '--wait', '--timeout', '4m', '-y');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('✔ Ingress gateway ready (service mesh-system/istio-ingressgateway)');
    lb = await cluster.waitFor(
      'the gateway LoadBalancer address',
      async () => {
        const svc = await cluster.core.readNamespacedService({
          name: 'istio-ingressgateway',
          namespace: 'mesh-system',
        });
        return svc.status?.loadBalancer?.ingress?.[0]?.ip;
      },
      60_000,
    );
    expect(lb).toMatch(/^198\.1[89]\./);
    const check = await cli('check', '-o', 'json');
    type Json = {
      categories: { categoryName: string; checks: { description: string; result: string; message?: string }[] }[];
    };
    const gateways = (JSON.parse(check.stdout) as Json).categories.find((c) => c.categoryName === 'gateways')!.checks;
    expect(gateways.find((r) => r.description === 'the ingress gateway Deployment is ready')?.result).toBe('success');
    expect(gateways.find((r) => r.description === 'the ingress gateway Service has an address')).toMatchObject({
      result: 'success',
      message: `LoadBalancer ${lb}`,
    });
    // Not deployed by default: said so, not failed.
    expect(gateways.find((r) => r.description === 'the egress gateway Deployment is ready')?.message).toMatch(
      /^not deployed/,
    );
  }, 300_000);

  it("routes HTTPS from outside the mesh through the seed's api-gateway into a meshed service (details)", async () => {
    const ns = await cluster.createNamespace('shop');
    expect((await cluster.kubectl(['label', 'namespace', ns, 'meshctl.dev/inject=enabled'])).code).toBe(0);
    await cluster.waitFor(
      'meshctl-ca-root in the namespace',
      async () => Boolean(await cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns })),
      60_000,
    );
    const app = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: BOOKINFO });
    expect(app.code, app.stderr).toBe(0);
    await cluster.waitForReadyPods(ns, 'app=details', 1, 150_000);

    // A self-signed certificate for api.example.com, as kubectl create secret tls would store it.
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
        '/CN=api.example.com',
        '-addext',
        'subjectAltName=DNS:api.example.com',
        '-keyout',
        join(dir, 'api.key'),
        '-out',
        join(dir, 'api.crt'),
      ],
      { stdio: 'ignore' },
    );
    const secret = await cluster.kubectl([
      '-n',
      'mesh-system',
      'create',
      'secret',
      'tls',
      'api-tls-cert',
      `--cert=${join(dir, 'api.crt')}`,
      `--key=${join(dir, 'api.key')}`,
    ]);
    expect(secret.code, secret.stderr).toBe(0);
    for (const doc of [SEED_GATEWAY, VIRTUAL_SERVICE]) {
      const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: doc });
      expect(applied.code, applied.stderr).toBe(0);
    }

    const curl = (...args: string[]) =>
      execa(
        'curl',
        [
          '-sS',
          '--max-time',
          '5',
          '--resolve',
          `api.example.com:443:${lb}`,
          '--resolve',
          `api.example.com:80:${lb}`,
          ...args,
        ],
        { reject: false },
      );
    let last = '';
    const ok = await cluster
      .waitFor(
        'HTTPS through the gateway',
        async () => {
          const r = await curl('--cacert', join(dir, 'api.crt'), '-w', '\n%{http_code}', 'https://api.example.com/');
          last = `curl exit ${r.exitCode}: ${r.stdout} ${r.stderr}`;
          return r.exitCode === 0 && r.stdout.endsWith('\n200') ? r : undefined;
        },
        90_000,
      )
      .catch(async (err: Error) => {
        // What a user would look at next: the gateway's log and the listeners it was given.
        const logs = await cluster.kubectl([
          '-n',
          'mesh-system',
          'logs',
          'deploy/istio-ingressgateway',
          '--tail',
          '30',
        ]);
        const [pod] = await cluster.pods('mesh-system', 'istio=ingressgateway');
        const listeners = await cli('proxy-config', 'listeners', `${pod?.metadata?.name}.mesh-system`, '-o', 'json');
        throw new Error(
          `${err.message}\nlast: ${last}\ngateway log:\n${logs.stdout}${logs.stderr}\nlisteners:\n${listeners.stdout}${listeners.stderr}`,
        );
      });
    expect(JSON.parse(ok.stdout.slice(0, ok.stdout.lastIndexOf('\n')))).toMatchObject({ service: 'details' });
    // Verified against the Secret's certificate: a client without it refuses the connection.
    expect((await curl('https://api.example.com/')).exitCode).toBe(60);
    const redirect = await curl('-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', 'http://api.example.com/');
    expect(redirect.stdout).toBe('301 https://api.example.com/');
  }, 360_000);
});
