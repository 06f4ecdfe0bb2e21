/**
 * The node's kube-proxy (the real one, built from the pinned release), run by the node agent in the node's
 * network namespace in iptables mode: its rules are the node's own, so clusters side by side do not meet.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { binaryPath } from '../harness/binaries.js';

const run = promisify(execFile);

/** Where kube-proxy reports health (in the node's namespace, so every cluster can use the usual port). */
export const kubeProxyHealthz = 'http://127.0.0.1:10256/healthz';

/** What kube-proxy needs to know about the node. */
export interface KubeProxyOptions {
  kubeconfig: string;
  nodeName: string;
  /** The pod CIDR: traffic from elsewhere to a Service is masqueraded (detectLocalMode ClusterCIDR). */
  clusterCidr: string;
  /** Masquerade all Service traffic (when bridged packets do not pass iptables; see PodNetwork). */
  masqueradeAll: boolean;
  /** The cluster's directory: its configuration goes there, its log into `logs/`. */
  dir: string;
}

/** The KubeProxyConfiguration (JSON is YAML): leaves host-wide conntrack settings alone. */
export function kubeProxyConfig(o: KubeProxyOptions): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      clientConnection: { kubeconfig: o.kubeconfig },
      hostnameOverride: o.nodeName,
      clusterCIDR: o.clusterCidr,
      detectLocalMode: 'ClusterCIDR',
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      // nf_conntrack_max is one value for the whole machine: 0 leaves it and the timeouts as they are.
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: '0s',
        tcpCloseWaitTimeout: '0s',
        udpTimeout: '0s',
        udpStreamTimeout: '0s',
      },
      iptables: { syncPeriod: '30s', minSyncPeriod: '1s', masqueradeAll: o.masqueradeAll },
    },
    null,
    2,
  );
}

function healthy(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(kubeProxyHealthz, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Starts kube-proxy (its log: `<dir>/logs/kube-proxy.log`). */
export function startKubeProxy(o: KubeProxyOptions): ChildProcess {
  const configFile = join(o.dir, 'kube-proxy.yaml');
  writeFileSync(configFile, kubeProxyConfig(o), { mode: 0o600 });
  const fd = openSync(join(o.dir, 'logs', 'kube-proxy.log'), 'a', 0o600);
  try {
    return spawn(binaryPath('kube-proxy'), [`--config=${configFile}`, '--v=1'], { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** Whether the node's nat table already leads the `kubernetes` Service somewhere (kube-proxy's first sync). */
async function synced(): Promise<boolean> {
  try {
    const { stdout } = await run('iptables-save', ['-t', 'nat']);
    return stdout.includes('default/kubernetes:https cluster IP');
  } catch {
    return false;
  }
}

/** Resolves once kube-proxy is healthy and has programmed the node's rules for the first time. */
export async function waitForKubeProxy(proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!((await healthy()) && (await synced()))) {
    if (proc.exitCode !== null) throw new Error(`kube-proxy exited with code ${proc.exitCode} (see kube-proxy.log)`);
    if (Date.now() > deadline)
      throw new Error(`kube-proxy not healthy after ${timeoutMs / 1000}s (see kube-proxy.log)`);
    await sleep(200);
  }
}
