/**
 * A pod's proxy admin API on a real cluster, reached as istioctl reaches Envoy's: `meshctl proxy
 * request` run in the proxy's container through the API server's pods/exec. The admin token sits
 * 0600 in the pod's identity volume and never reaches the CLI; `proxy-config log --level` changes
 * the pod's proxy; and a proxy changed through its admin API (an attacker with exec rights posting a
 * config with the pod's token) shows DIVERGED in `proxy-status` and fails `check --proxy`. The
 * ingress gateway gets the same token file from `meshctl upgrade` when an older install left it out.
 *
 * Its own test cluster, as the other end-to-end files: the mesh's cluster-wide objects would collide
 * with test/cluster/kubernetes/install.test.ts on the shared one.
 */
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, type TestCluster } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';
import { execInPod } from '../../src/cluster/kubernetes/exec.js';
import { loadKubeconfig } from '../../src/cluster/kubernetes/kubeconfig.js';

const BOOKINFO = readFileSync(new URL('../../templates/demo/bookinfo.yaml', import.meta.url), 'utf8');
/** The details Service, ServiceAccount and Deployment of the demo: one injected pod. */
const DETAILS = BOOKINFO.split(/^---$/m)
  .filter((d) => /name: (bookinfo-)?details(-v1)?$/m.test(d))
  .join('---\n');
const MESHCTL = ['node', '/opt/meshctl/bin/meshctl'];

describeRequiring([isRoot, kubernetesTestBinaries], "kubernetes: a pod's proxy admin API through pods/exec", () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  let ns: string;
  let pod: k8s.V1Pod;
  let id: string;
  const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });
  /** What a user with `create pods/exec` can run in the proxy's container (kubectl exec alike). */
  const execInProxy = async (argv: string[]) =>
    execInPod(
      await loadKubeconfig({ kubeconfig: cluster.kubeconfigPath }),
      { namespace: ns, pod: pod.metadata!.name!, container: 'mesh-proxy' },
      argv,
    );

  beforeAll(async () => {
    own = await startOwnTestCluster('admin');
    ({ cluster, dir } = own);
    const install = await cli('install', '--wait', '--timeout', '3m', '-y');
    expect(install.code, install.stderr).toBe(0);
    ns = await cluster.createNamespace('admin');
    expect((await cluster.kubectl(['label', 'namespace', ns, 'meshctl.dev/inject=enabled'])).code).toBe(0);
    await cluster.waitFor(
      'meshctl-ca-root in the namespace',
      async () => Boolean(await cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns })),
      60_000,
    );
    const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: DETAILS });
    expect(applied.code, applied.stderr).toBe(0);
    pod = (await cluster.waitForReadyPods(ns, 'app=details', 1, 150_000))[0]!;
    id = `${pod.metadata!.name}.${ns}`;
  }, 420_000);
  afterAll(async () => {
    await stopOwnTestCluster(own);
  }, 120_000);

  it("keeps the admin token 0600 in the pod's identity volume, owned by the proxy's user", async () => {
    const st = await cluster.execInContainer(pod, 'mesh-proxy', [
      'stat',
      '-c',
      '%a %u',
      '/var/run/meshctl/certs/admin-token',
    ]);
    expect(st.stdout.trim(), st.stderr).toBe('600 1337');
  });

  it('proxy-config log shows and changes the level of the pod’s proxy; the token never reaches the CLI', async () => {
    const token = (
      await cluster.execInContainer(pod, 'mesh-proxy', ['cat', '/var/run/meshctl/certs/admin-token'])
    ).stdout.trim();
    expect(token.length).toBeGreaterThan(20);

    const shown = await cli('proxy-config', 'log', id);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`${id.replace(/\./g, '\\.')}\\s+info`));

    const set = await cli('proxy-config', 'log', id, '--level', 'debug', '-o', 'json');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ proxy: id, level: 'debug', previous: 'info' });
    expect(set.stdout + set.stderr).not.toContain(token);
    // The proxy itself says so (not the control plane's record).
    const level = await execInProxy([...MESHCTL, 'proxy', 'request', 'GET', '/logging']);
    expect(JSON.parse(level.stdout)).toEqual({ level: 'debug' });

    const bad = await cli('proxy-config', 'log', `no-such-pod.${ns}`, '--level', 'info');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`pod ${ns}/no-such-pod not found`);
  }, 120_000);

  it('upgrade gives a gateway installed without the identity volume its token file; proxy-config log then sets its level', async () => {
    const gatewayDeployment = 'deployment/istio-ingressgateway';
    const gatewayPod = async () =>
      (await cluster.waitForReadyPods('mesh-system', 'istio=ingressgateway', 1, 150_000))[0]!;
    const rolledOut = async () => {
      const r = await cluster.kubectl(['-n', 'mesh-system', 'rollout', 'status', gatewayDeployment, '--timeout=150s']);
      expect(r.code, r.stderr).toBe(0);
    };
    // The gateway as the previous version installed it: no certs volume, so its token stayed in memory.
    const older = await cluster.kubectl([
      '-n',
      'mesh-system',
      'patch',
      gatewayDeployment,
      '-p',
      JSON.stringify({
        spec: {
          template: {
            spec: {
              volumes: [{ name: 'mesh-certs', $patch: 'delete' }],
              containers: [
                {
                  name: 'gateway',
                  env: [{ name: 'MESH_CERTS_DIR', $patch: 'delete' }],
                  volumeMounts: [{ mountPath: '/var/run/meshctl/certs', $patch: 'delete' }],
                },
              ],
            },
          },
        },
      }),
    ]);
    expect(older.code, older.stderr).toBe(0);
    await rolledOut();
    let gw = await gatewayPod();
    expect(gw.spec!.volumes!.map((v) => v.name)).not.toContain('mesh-certs');
    const before = await cli('proxy-config', 'log', `${gw.metadata!.name}.mesh-system`, '--level', 'debug');
    expect(before.code).not.toBe(0);
    expect(before.stderr).toContain("cannot read the proxy's admin token /var/run/meshctl/certs/admin-token");

    const upgrade = await cli('upgrade', '-y', '-o', 'json');
    expect(upgrade.code, upgrade.stderr).toBe(0);
    const applied = (JSON.parse(upgrade.stdout) as { applied: { kind: string; name: string; result: string }[] })
      .applied;
    expect(applied.filter((a) => a.result !== 'unchanged')).toEqual([
      { kind: 'Deployment', name: 'istio-ingressgateway', namespace: 'mesh-system', result: 'configured' },
    ]);
    await rolledOut();
    gw = await gatewayPod();
    const gwId = `${gw.metadata!.name}.mesh-system`;
    const st = await cluster.execInContainer(gw, 'gateway', [
      'stat',
      '-c',
      '%a %u',
      '/var/run/meshctl/certs/admin-token',
    ]);
    expect(st.stdout.trim(), st.stderr).toBe('600 1337');

    const set = await cli('proxy-config', 'log', gwId, '--level', 'debug', '-o', 'json');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ proxy: gwId, level: 'debug', previous: 'info' });
    const level = await execInPod(
      await loadKubeconfig({ kubeconfig: cluster.kubeconfigPath }),
      { namespace: 'mesh-system', pod: gw.metadata!.name!, container: 'gateway' },
      [...MESHCTL, 'proxy', 'request', 'GET', '/logging'],
    );
    expect(JSON.parse(level.stdout), level.stderr).toEqual({ level: 'debug' });
  }, 420_000);

  it('a config posted with the pod’s token shows DIVERGED in proxy-status and fails check --proxy', async () => {
    // A quiet mesh first (the ingress gateway up, every proxy SYNCED), so that no push replaces the posted config.
    await cluster.waitForReadyPods('mesh-system', 'istio=ingressgateway', 1, 150_000);
    const rowOf = (out: string) => out.split('\n').find((l) => l.startsWith(`${id} `));
    await cluster.waitFor(
      'every proxy SYNCED',
      async () => {
        const r = await cli('proxy-status');
        return r.code === 0 && /SYNCED\s+SYNCED\s+SYNCED/.test(rowOf(r.stdout) ?? '') ? r : undefined;
      },
      120_000,
    );
    const green = await cli('check', '--proxy', '-n', ns, '--wait', '1m');
    expect(green.stdout).toContain(
      '✔ every proxy runs the config it was sent (none changed through its admin API) (1 proxy)',
    );
    expect(green.code, green.stdout).toBe(0);

    // The attacker: exec rights on the pod, so the token file is readable in the proxy's container.
    const dump = await execInProxy([...MESHCTL, 'proxy', 'request', 'GET', '/config_dump']);
    expect(dump.code, dump.stderr).toBe(0);
    const config = (JSON.parse(dump.stdout) as { config: Record<string, unknown> }).config;
    const posted = await execInProxy([
      ...MESHCTL,
      'proxy',
      'request',
      'POST',
      '/config',
      '-d',
      JSON.stringify({ ...config, version: 'not-from-the-control-plane' }),
    ]);
    expect(posted.code, posted.stdout + posted.stderr).toBe(0);

    const status = await cli('proxy-status');
    expect(status.code).toBe(1);
    expect(rowOf(status.stdout)).toMatch(/DIVERGED\s+DIVERGED\s+DIVERGED/);

    const check = await cli('check', '--proxy', '-n', ns);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(
      `${id} is DIVERGED: it runs a config the control plane did not send (changed through its admin API)`,
    );
    expect(check.stdout).toContain('Status check results are ✖');
  }, 300_000);
});
