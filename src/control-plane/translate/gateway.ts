/**
 * Gateway -> the listeners and routes of a gateway proxy (the sidecar runtime in router mode: no
 * app, no capture). A Gateway applies to the proxies its `selector` matches, in any namespace, as
 * in Istio (`selector: {istio: ingressgateway}`). Each server port becomes one listener (servers
 * sharing a port share it): plain HTTP routed by the VirtualServices bound to the Gateway (their
 * `gateways` name it) whose hosts the server exposes; HTTPS/TLS terminated with the server's
 * certificate (credentialName: a Secret of the gateway's namespace), chosen by SNI when several
 * servers share the port; TLS PASSTHROUGH routed by SNI to the VirtualService `tls` routes; TCP to
 * the `tcp` routes. `httpsRedirect` answers 301 to https.
 */
import type { Gateway, VirtualService } from '../../config/index.js';
import type {
  FilterChainConfig,
  ListenerConfig,
  RouteConfigConfig,
  RouteSpec,
  ServerTlsConfig,
  VirtualHostConfig,
} from '../../protocol/proxy-config/index.js';
import { credentialFor } from './credentials.js';
import { hostMatches, selects, type MeshSnapshot, type MeshWorkload } from './model.js';
import { convertHttpRoute, namesGateway, type TranslationNote } from './routes.js';
import { l4RouteChains } from './l4-routes.js';

/** How a gateway proxy is reached: the address it binds and where each Gateway port is served locally. */
export interface RouterSettings {
  /** bind address (local default 127.0.0.1) */
  readonly address: string;
  /** Gateway server port -> local port (`--listen 443=8443`); unlisted ports bind as written */
  readonly ports: Readonly<Record<number, number>>;
}

/** What the Gateways give one gateway proxy. */
export interface GatewayConfig {
  listeners: ListenerConfig[];
  routes: RouteConfigConfig[];
  notes: TranslationNote[];
}

type Server = Gateway['spec']['servers'][number];

const TLS_VERSIONS: Record<string, ServerTlsConfig['minProtocolVersion']> = {
  TLSV1_0: 'TLSv1',
  TLSV1_1: 'TLSv1.1',
  TLSV1_2: 'TLSv1.2',
  TLSV1_3: 'TLSv1.3',
};

/** The Gateways whose selector matches the gateway workload. */
export function gatewaysFor(snapshot: MeshSnapshot, workload: MeshWorkload): Gateway[] {
  return snapshot.resources
    .filter((r): r is Gateway => r.kind === 'Gateway')
    .filter(
      (g) => g.spec.selector && Object.keys(g.spec.selector).length > 0 && selects(g.spec.selector, workload.labels),
    )
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
}

/** A server host as written (`ns/host`, `*\/host`, `./host`, `host`) split into namespace filter and host. */
function serverHost(entry: string, gatewayNs: string): { ns: string; host: string } {
  const slash = entry.indexOf('/');
  if (slash < 0) return { ns: '*', host: entry };
  const ns = entry.slice(0, slash);
  return { ns: ns === '.' ? gatewayNs : ns, host: entry.slice(slash + 1) };
}

/** Whether two host patterns overlap (either may be a wildcard). */
function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a) || a === '*' || b === '*';
}

/** The VirtualServices bound to `gatewayKey` (`ns/name`) and the hosts of each the server exposes. */
function boundVirtualServices(
  snapshot: MeshSnapshot,
  gatewayKey: string,
  gatewayNs: string,
  server: Server,
): { vs: VirtualService; hosts: string[] }[] {
  const out: { vs: VirtualService; hosts: string[] }[] = [];
  const vss = snapshot.resources
    .filter((r): r is VirtualService => r.kind === 'VirtualService')
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
  for (const vs of vss) {
    const ns = vs.metadata.namespace ?? 'default';
    if (!vs.spec.gateways || !namesGateway(vs.spec.gateways, ns, gatewayKey)) continue;
    const exposed = server.hosts.map((h) => serverHost(h, gatewayNs)).filter((h) => h.ns === '*' || h.ns === ns);
    const hosts = (vs.spec.hosts ?? []).filter((h) => exposed.some((e) => hostsOverlap(e.host, h)));
    if (hosts.length) out.push({ vs, hosts });
  }
  return out;
}

/** The domains a virtual host answers for a VirtualService host (any port: the table falls back to the bare host). */
function domainsFor(host: string): string[] {
  return host === '*' ? ['*'] : [host];
}

/**
 * The server's TLS settings. credentialName is read as Istio reads it: in the gateway workload's
 * namespace (where `meshctl install` runs the ingress gateway, and where the Kubernetes control plane
 * reads Secrets), else in the Gateway resource's own namespace (the local platform's habit).
 */
function serverTls(
  snapshot: MeshSnapshot,
  gw: Gateway,
  server: Server,
  notes: TranslationNote[],
  workloadNs: string,
): ServerTlsConfig | undefined {
  const tls = server.tls;
  if (!tls || (tls.mode !== 'SIMPLE' && tls.mode !== 'MUTUAL' && tls.mode !== 'OPTIONAL_MUTUAL')) return undefined;
  const gwNs = gw.metadata.namespace ?? 'default';
  const ns =
    tls.credentialName && workloadNs !== gwNs && credentialFor(snapshot, workloadNs, tls.credentialName)
      ? workloadNs
      : gwNs;
  const where = `Gateway ${gw.metadata.name}.${gwNs}`;
  let certChain: string | undefined;
  let privateKey: string | undefined;
  let ca: string | undefined;
  let source = `${where} server ${server.port.name ?? server.port.number}`;
  if (tls.credentialName) {
    const cred = credentialFor(snapshot, ns, tls.credentialName);
    if (!cred?.certChain || !cred.privateKey) {
      notes.push({
        resource: where,
        message: `credentialName ${tls.credentialName}: no Secret ${workloadNs === ns ? '' : `${workloadNs}/${tls.credentialName} or `}${ns}/${tls.credentialName} with tls.crt and tls.key; the server on port ${server.port.number} is not served until it exists`,
      });
      return undefined;
    }
    certChain = cred.certChain;
    privateKey = cred.privateKey;
    ca = cred.caCertificates;
    source = cred.source;
  } else if (tls.serverCertificate && tls.privateKey) {
    certChain = tls.serverCertificate;
    privateKey = tls.privateKey;
    ca = tls.caCertificates;
  } else return undefined;
  // caCertCredentialName: the client CA from its own Secret (Istio 1.19+), else ca.crt of the credential.
  if (tls.caCertCredentialName) ca = credentialFor(snapshot, ns, tls.caCertCredentialName)?.caCertificates ?? ca;
  const mutual = tls.mode !== 'SIMPLE';
  if (tls.mode === 'OPTIONAL_MUTUAL')
    notes.push({
      resource: where,
      message: 'tls.mode OPTIONAL_MUTUAL is served as MUTUAL (a client certificate is required)',
    });
  if (mutual && !ca) {
    notes.push({
      resource: where,
      message: `MUTUAL on port ${server.port.number} without a CA (ca.crt in the Secret, or caCertificates): the server is not served`,
    });
    return undefined;
  }
  const names = server.hosts.map((h) => serverHost(h, ns).host).filter((h) => h !== '*');
  return {
    mode: mutual ? 'mutual' : 'simple',
    certificates: [
      { name: source, certChain: certChain!, privateKey: privateKey!, ...(names.length ? { serverNames: names } : {}) },
    ],
    ...(mutual && ca ? { caCertificates: ca } : {}),
    ...(mutual && tls.subjectAltNames?.length ? { subjectAltNames: [...tls.subjectAltNames] } : {}),
    ...(tls.minProtocolVersion && TLS_VERSIONS[tls.minProtocolVersion]
      ? { minProtocolVersion: TLS_VERSIONS[tls.minProtocolVersion] }
      : {}),
    ...(tls.maxProtocolVersion && TLS_VERSIONS[tls.maxProtocolVersion]
      ? { maxProtocolVersion: TLS_VERSIONS[tls.maxProtocolVersion] }
      : {}),
    ...(tls.cipherSuites?.length ? { cipherSuites: [...tls.cipherSuites] } : {}),
  };
}

/** HTTP virtual hosts of one server: redirect to https, or the bound VirtualServices' routes. */
function httpVirtualHosts(
  snapshot: MeshSnapshot,
  gw: Gateway,
  server: Server,
  gatewayNs: string,
  notes: TranslationNote[],
): VirtualHostConfig[] {
  const key = `${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`;
  const port = server.port.number;
  if (server.tls?.httpsRedirect && server.port.protocol.toUpperCase() === 'HTTP') {
    const hosts = server.hosts.map((h) => serverHost(h, gatewayNs).host);
    return [
      {
        name: `${key}:${port}:redirect`,
        domains: hosts.flatMap(domainsFor),
        routes: [{ name: 'https-redirect', redirect: { scheme: 'https', redirectCode: 301 } }],
      },
    ];
  }
  const vhosts: VirtualHostConfig[] = [];
  for (const { vs, hosts } of boundVirtualServices(snapshot, key, gatewayNs, server)) {
    const routes = (vs.spec.http ?? [])
      .map((r) => convertHttpRoute(snapshot, vs, r, port, gatewayNs, notes, key))
      .filter((r): r is RouteSpec => r !== undefined);
    if (!routes.length) continue;
    vhosts.push({
      name: `${vs.metadata.namespace ?? 'default'}/${vs.metadata.name}:${port}`,
      domains: hosts.flatMap(domainsFor),
      routes,
    });
  }
  return vhosts;
}

/** L4 chains of one server: TLS PASSTHROUGH by SNI (`tls` routes) or TCP (`tcp` routes). */
function l4Chains(
  snapshot: MeshSnapshot,
  gw: Gateway,
  server: Server,
  gatewayNs: string,
  passthrough: boolean,
): FilterChainConfig[] {
  const key = `${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`;
  const port = server.port.number;
  const chains: FilterChainConfig[] = [];
  for (const { vs } of boundVirtualServices(snapshot, key, gatewayNs, server)) {
    const ns = vs.metadata.namespace ?? 'default';
    chains.push(
      ...l4RouteChains(
        snapshot,
        vs,
        { context: key, port, clientNamespace: gatewayNs, kind: passthrough ? 'tls' : 'tcp' },
        `VirtualService ${vs.metadata.name}.${ns}:${port}`,
      ),
    );
  }
  return chains;
}

/** The listeners and routes of a gateway proxy. */
export function gatewayConfig(snapshot: MeshSnapshot, workload: MeshWorkload, router: RouterSettings): GatewayConfig {
  const notes: TranslationNote[] = [];
  const byPort = new Map<
    number,
    { chains: FilterChainConfig[]; vhosts: VirtualHostConfig[]; tlsChains: FilterChainConfig[] }
  >();
  const routes: RouteConfigConfig[] = [];
  for (const gw of gatewaysFor(snapshot, workload)) {
    const gwNs = gw.metadata.namespace ?? 'default';
    gw.spec.servers.forEach((server, i) => {
      const port = server.port.number;
      const entry = byPort.get(port) ?? byPort.set(port, { chains: [], vhosts: [], tlsChains: [] }).get(port)!;
      const protocol = server.port.protocol.toUpperCase();
      const mode = server.tls?.mode ?? (protocol === 'TLS' ? 'PASSTHROUGH' : undefined);
      if (protocol === 'TCP' || protocol === 'MONGO' || protocol === 'MYSQL' || protocol === 'REDIS') {
        entry.chains.push(...l4Chains(snapshot, gw, server, gwNs, false));
        return;
      }
      if ((protocol === 'TLS' || protocol === 'HTTPS') && mode === 'PASSTHROUGH') {
        entry.chains.push(...l4Chains(snapshot, gw, server, gwNs, true));
        return;
      }
      if (protocol === 'HTTPS' || protocol === 'TLS') {
        if (mode === 'ISTIO_MUTUAL') {
          const name = `gateway|${gwNs}/${gw.metadata.name}|${port}|${i}`;
          if (protocol === 'HTTPS') {
            routes.push({ name, virtualHosts: httpVirtualHosts(snapshot, gw, server, gwNs, notes) });
            // HTTP/1.1 inside, as for SIMPLE: mesh clients and curl alike get http/1.1 by ALPN.
            entry.tlsChains.push({ name, protocol: 'http1', tls: 'strict', routeConfig: name });
          } else
            entry.tlsChains.push(
              ...l4Chains(snapshot, gw, server, gwNs, false).map((c) => ({ ...c, tls: 'strict' as const })),
            );
          return;
        }
        const tls = serverTls(snapshot, gw, server, notes, workload.namespace);
        if (!tls) return;
        const names = tls.certificates[0]!.serverNames;
        const match =
          names?.length && names.every((n) => !n.includes('*') || n.startsWith('*.'))
            ? { serverNames: names }
            : undefined;
        const name = `gateway|${gwNs}/${gw.metadata.name}|${port}|${i}`;
        if (protocol === 'HTTPS') {
          routes.push({ name, virtualHosts: httpVirtualHosts(snapshot, gw, server, gwNs, notes) });
          // HTTP/1.1 inside (ALPN): the services behind an HTTPS server speak what their port says, not the client's h2.
          entry.tlsChains.push({
            name,
            ...(match ? { match } : {}),
            protocol: 'http1',
            serverTls: tls,
            routeConfig: name,
          });
        } else {
          // TLS terminated, then TCP routes.
          const tcp = l4Chains(snapshot, gw, server, gwNs, false)[0];
          if (tcp)
            entry.tlsChains.push({
              name,
              ...(match ? { match } : {}),
              protocol: 'tcp',
              serverTls: tls,
              tcpCluster: tcp.tcpCluster!,
              ...(tcp.tcpWeightedClusters ? { tcpWeightedClusters: tcp.tcpWeightedClusters } : {}),
            });
        }
        return;
      }
      // HTTP, HTTP2, GRPC, GRPC-WEB: one route table per port, virtual hosts of every server on it.
      entry.vhosts.push(...httpVirtualHosts(snapshot, gw, server, gwNs, notes));
    });
  }
  const listeners: ListenerConfig[] = [];
  for (const [port, e] of [...byPort].sort((a, b) => a[0] - b[0])) {
    const chains = [...e.tlsChains, ...e.chains];
    if (e.vhosts.length) {
      const name = `gateway|http|${port}`;
      routes.push({ name, virtualHosts: e.vhosts });
      // Permissive: mesh clients (the egress pattern: sidecar -> gateway) arrive with mTLS, outside ones in plaintext.
      chains.push({ name, protocol: 'auto', tls: 'permissive', routeConfig: name });
    }
    if (!chains.length) continue;
    // A TLS chain matched by SNI also serves clients without SNI when it is the only one.
    if (chains.length === 1 && chains[0]!.match?.serverNames) delete chains[0]!.match;
    // Outbound: towards the mesh a gateway is a client (peer metadata, mTLS with its own identity).
    listeners.push({
      name: `gateway|${port}`,
      address: router.address,
      port: router.ports[port] ?? port,
      direction: 'outbound',
      mode: 'explicit',
      chains: chains.map((c) => ({ ...c, edge: true })),
    });
  }
  return { listeners, routes, notes };
}
