/**
 * A stand-in for kube-proxy for one Service port, in its old userspace mode: a TCP listener on the pod
 * network's gateway that forwards each connection to one Ready endpoint of the Service (from its
 * EndpointSlices), trying the next one when a connect fails. The test cluster has no kube-proxy and no
 * DNS, so a pod cannot reach `meshctl-control-plane.mesh-system.svc:15012`; a control plane pod IP
 * would do until that pod is replaced. Tests that delete control plane pods give injected pods this
 * address instead (`meshctl inject --set controlPlane.address=<gateway>:<port>`), so a reconnecting
 * proxy lands on whatever replica the Service leads to, as it would in a real cluster.
 *
 * When the backend connection ends (the pod stopped), the client connection is ended too, as
 * kube-proxy's conntrack entry would die with the pod: the client sees the stream break and reconnects.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';

/** A running forwarder. */
export interface ServiceForwarder {
  /** `gateway:port`, what pods dial. */
  readonly address: string;
  /** The endpoint addresses (`ip:port`) of the last refresh, Ready ones only. */
  readyEndpoints(): string[];
  close(): Promise<void>;
}

/** Forwards `gateway:<any port>` to the Ready endpoints of `namespace/service` port `port`. */
export async function startServiceForwarder(kubeConfig: k8s.KubeConfig, opts: { gateway: string; namespace: string; service: string; port: number; refreshMs?: number }): Promise<ServiceForwarder> {
  const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  let endpoints: string[] = [];
  let next = 0;
  const refresh = async (): Promise<void> => {
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: opts.namespace, labelSelector: `kubernetes.io/service-name=${opts.service}` });
    const found: string[] = [];
    for (const s of slices.items) {
      // kube-proxy sends new connections only to endpoints that are ready and not terminating.
      for (const e of s.endpoints ?? []) if (e.conditions?.ready !== false && e.conditions?.terminating !== true) for (const a of e.addresses) found.push(`${a}:${opts.port}`);
    }
    endpoints = found.sort();
  };
  await refresh();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, opts.refreshMs ?? 250));
      await refresh().catch(() => undefined);
    }
  })();

  const sockets = new Set<Socket>();
  const dial = (client: Socket, tried: number): void => {
    const candidates = endpoints;
    if (tried >= candidates.length || client.destroyed) {
      client.destroy();
      return;
    }
    const target = candidates[(next++) % candidates.length]!;
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    const upstream = connect({ host, port });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    let connected = false;
    upstream.on('error', () => {
      // Never connected: try another endpoint, as userspace kube-proxy did.
      if (!connected) dial(client, tried + 1);
      else client.destroy();
    });
    upstream.once('connect', () => {
      connected = true;
      client.on('error', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      upstream.once('close', () => client.destroy());
      client.once('close', () => upstream.destroy());
    });
  };
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    // Paused until piped: nothing the client sends before the upstream connects is lost.
    dial(client, 0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.gateway, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: `${opts.gateway}:${port}`,
    readyEndpoints: () => [...endpoints],
    async close() {
      stopped = true;
      await loop;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
