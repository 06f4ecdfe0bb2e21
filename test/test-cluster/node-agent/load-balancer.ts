/**
 * LoadBalancer Services get an address on the node, as kind's cloud-provider or k3s's ServiceLB give them
 * one: an address from the node link's pool (`.10`-`.250`, or `spec.loadBalancerIP` when it is in the pool
 * and free) is added to the node's `eth0` and written to `status.loadBalancer.ingress`; kube-proxy then leads
 * it to the Service's endpoints. The host reaches it over the node link, pods through the node.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';

const run = promisify(execFile);

/** The pool's addresses: `<prefix>.10` to `<prefix>.250` of the node link's /24. */
export function loadBalancerPool(linkSubnet: string): string[] {
  const prefix = linkSubnet.split('.').slice(0, 3).join('.');
  return Array.from({ length: 241 }, (_, i) => `${prefix}.${i + 10}`);
}

/** Hands out pool addresses to LoadBalancer Services; the addresses live on the node's eth0. */
export class LoadBalancerController {
  private readonly byService = new Map<string, string>();
  private informer: k8s.ListWatch<k8s.V1Service> | undefined;

  private readonly kc: k8s.KubeConfig;
  private readonly pool: string[];
  private readonly log: (msg: string) => void;

  constructor(kc: k8s.KubeConfig, pool: string[], log: (msg: string) => void) {
    this.kc = kc;
    this.pool = pool;
    this.log = log;
  }

  /** Starts watching Services. */
  async start(): Promise<void> {
    const core = this.kc.makeApiClient(k8s.CoreV1Api);
    const informer = new k8s.ListWatch<k8s.V1Service>('/api/v1/services', new k8s.Watch(this.kc), () =>
      core.listServiceForAllNamespaces(),
    );
    informer.on('add', (s) => void this.sync(core, s).catch((e: Error) => this.log(`load balancer: ${e.message}`)));
    informer.on('update', (s) => void this.sync(core, s).catch((e: Error) => this.log(`load balancer: ${e.message}`)));
    informer.on('delete', (s) => void this.release(key(s)));
    informer.on('error', () => setTimeout(() => void informer.start().catch(() => {}), 1000));
    this.informer = informer;
    await informer.start();
  }

  /** Stops watching (the addresses go with the node's namespace). */
  async stop(): Promise<void> {
    await this.informer?.stop();
  }

  private async sync(core: k8s.CoreV1Api, svc: k8s.V1Service): Promise<void> {
    const k = key(svc);
    // Another implementation's class, or no longer a LoadBalancer: not ours (any address is given back).
    if (svc.spec?.type !== 'LoadBalancer' || svc.spec.loadBalancerClass) {
      await this.release(k);
      return;
    }
    let address = this.byService.get(k);
    if (!address) {
      const taken = new Set(this.byService.values());
      const wanted = svc.spec.loadBalancerIP;
      address =
        wanted && this.pool.includes(wanted) && !taken.has(wanted) ? wanted : this.pool.find((a) => !taken.has(a));
      if (!address) {
        this.log(`load balancer: pool exhausted, ${k} stays pending`);
        return;
      }
      this.byService.set(k, address);
      await run('ip', ['addr', 'replace', `${address}/32`, 'dev', 'eth0']);
      this.log(`load balancer: ${k} -> ${address}`);
    }
    const current = svc.status?.loadBalancer?.ingress ?? [];
    if (current.length === 1 && current[0]?.ip === address) return;
    await core.patchNamespacedServiceStatus(
      {
        name: svc.metadata?.name ?? '',
        namespace: svc.metadata?.namespace ?? '',
        body: { status: { loadBalancer: { ingress: [{ ip: address, ipMode: 'VIP' }] } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  private async release(k: string): Promise<void> {
    const address = this.byService.get(k);
    if (!address) return;
    this.byService.delete(k);
    await run('ip', ['addr', 'del', `${address}/32`, 'dev', 'eth0']).catch(() => {});
  }
}

function key(svc: k8s.V1Service): string {
  return `${svc.metadata?.namespace}/${svc.metadata?.name}`;
}
