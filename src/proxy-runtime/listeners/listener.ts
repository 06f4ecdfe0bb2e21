/**
 * A listening socket and its pipeline: accept -> original destination (input) -> filter chain ->
 * mTLS termination (inbound) -> protocol detection -> HTTP ingress or TCP proxy. The socket is
 * long-lived; the compiled listener it applies is looked up in the CURRENT runtime per
 * connection, so a config swap changes new connections without closing existing ones.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ListenerConfig } from '../../protocol/proxy-config/index.js';
import type { ProxyContext } from '../downstream/context.js';
import type { ConnectionInfo } from '../http/exchange.js';
import { HttpIngress } from '../downstream/ingress.js';
import { detectProtocol } from './detect.js';
import { proxyTcp } from '../downstream/tcp-proxy.js';
import { MESH_ALPN_SERVER, MESH_ALPN_TCP } from '../ground/tls/contexts.js';
import { MAX_CLIENT_HELLO, serverNameOf } from '../ground/tls/client-hello.js';
import { spiffeIdOf } from '../ground/tls/identity.js';
import type { ChainRuntime, ListenerRuntime } from '../http/listener-runtime.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { localAddressAsDestination, type OriginalDestinationResolver } from './original-destination.js';

/** A bound listener. */
export class ListenerHandle {
  readonly server: Server;
  readonly ingress: HttpIngress;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  /** mTLS terminators by ALPN offer: every protocol, or HTTP/1.1 only (chains serving HTTP/1.1 inside). */
  private readonly tlsServers = new Map<'any' | 'http1', { server: TlsServer; generation: number }>();
  private readonly pendingTls = new WeakMap<
    Socket,
    { conn: ConnectionInfo; lr: ListenerRuntime; chain: ChainRuntime }
  >();

  constructor(
    private readonly ctx: ProxyContext,
    readonly cfg: ListenerConfig,
    private readonly resolveOriginalDst: OriginalDestinationResolver,
  ) {
    this.ingress = new HttpIngress(ctx);
    this.server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.accept(s));
    this.server.on('error', (err) => ctx.log.error('listener error', { listener: cfg.name, error: err.message }));
  }

  /** The identity of the socket: same name, address and port means the same listener across configs. */
  static key(cfg: ListenerConfig): string {
    return `${cfg.name}|${cfg.address ?? ''}|${cfg.port}|${cfg.mode ?? 'explicit'}`;
  }

  /**
   * Binds; resolves with the port (useful with port 0). `::` is dual stack; on a kernel without IPv6
   * it falls back to 0.0.0.0, so one generated config serves IPv4-only and dual-stack pods alike.
   */
  listen(): Promise<number> {
    const host = this.cfg.address ?? (this.cfg.direction === 'inbound' ? '0.0.0.0' : '127.0.0.1');
    if (host !== '::') return this.bind(host);
    return this.bind(host).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL') throw err;
      return this.bind('0.0.0.0');
    });
  }

  private bind(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port: this.cfg.port, backlog: 1024 }, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        this.boundPort = typeof a === 'object' && a ? a.port : this.cfg.port;
        resolve(this.boundPort);
      });
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /**
   * Gives the port back at once (open connections continue), so a listener replacing this one on the
   * same port with another address or mode can bind; `listen` takes it again if that replacement fails.
   */
  releasePort(): void {
    if (this.server.listening) this.server.close();
  }

  /** Whether the port is bound. */
  get listening(): boolean {
    return this.server.listening;
  }

  /** Stops accepting; open connections continue (drain them with `drain`). */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  drain(): void {
    this.ingress.drain();
  }

  /** Closes every connection now. */
  destroyAll(): void {
    this.ingress.destroy();
    for (const s of this.sockets) s.destroy();
  }

  private accept(socket: Socket): void {
    const runtime = this.ctx.current();
    const lr = runtime.listeners.get(this.cfg.name);
    if (!lr || this.ctx.draining) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const gauge = this.ctx.telemetry.metrics.downstreamConnections.labels(this.cfg.name);
    gauge.inc();
    socket.once('close', () => {
      this.sockets.delete(socket);
      gauge.dec();
    });
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    // A capture listener without an original destination (a connection made straight to 15001/15006,
    // or no NAT entry) has nowhere to go: falling back to our own address would loop into ourselves.
    const destination =
      lr.mode === 'capture'
        ? this.resolveOriginalDst(socket)
        : (localAddressAsDestination(socket) ?? { address: '0.0.0.0', port: 0 });
    if (!destination) {
      socket.destroy();
      return;
    }
    if (lr.needsSniFor(destination, runtime.node.labels)) {
      peekServerName(socket, lr.detectTimeoutMs, (name) => this.route(socket, lr, destination, name));
      return;
    }
    this.route(socket, lr, destination, undefined);
  }

  private route(
    socket: Socket,
    lr: ListenerRuntime,
    destination: { address: string; port: number },
    serverName: string | undefined,
  ): void {
    const chain = lr.chainFor(destination, serverName, this.ctx.current().node.labels);
    if (!chain) {
      socket.destroy();
      return;
    }
    const conn: ConnectionInfo = {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      destination,
      peerIdentity: undefined,
      mtls: false,
      listener: lr,
      chain,
    };
    if (chain.serverTls) return this.terminateServerTls(socket, conn, lr, chain);
    this.dispatch(socket, conn, lr, chain, false);
  }

  /** Gateway TLS: the chain's own certificates (by SNI), then the chain's protocol inside. */
  private terminateServerTls(socket: Socket, conn: ConnectionInfo, lr: ListenerRuntime, chain: ChainRuntime): void {
    const terminator = chain.serverTls!;
    terminator.onError = (message) =>
      this.ctx.log.debug('gateway TLS handshake failed', { listener: lr.name, error: message });
    terminator.terminate(socket, (tls) => {
      const s = tls as unknown as Socket;
      const inner: ConnectionInfo = { ...conn, scheme: 'https' };
      if (tls.alpnProtocol === 'h2') return this.ingress.acceptH2(s, inner);
      if (chain.protocol === 'tcp') {
        const cluster = chain.pickTcpCluster();
        return cluster ? proxyTcp(this.ctx, inner, s, cluster) : tls.destroy();
      }
      if (tls.alpnProtocol === 'http/1.1' || chain.protocol === 'http1') return this.ingress.acceptH1(s, inner);
      this.dispatch(s, inner, lr, chain, true);
    });
  }

  private dispatch(
    socket: Socket,
    conn: ConnectionInfo,
    lr: ListenerRuntime,
    chain: ChainRuntime,
    insideTls: boolean,
  ): void {
    const tcp = (afterDetection: boolean): void => {
      // A connection detection could not classify (silent, or not HTTP) gets an idle timeout: a
      // silent plaintext client must not hold a raw connection to the app open for ever.
      const cluster = chain.pickTcpCluster();
      if (cluster) this.proxyTcpAuthorized(conn, socket, cluster, afterDetection ? lr.tcpIdleTimeoutMs : 0);
      else socket.destroy();
    };
    if (chain.protocol === 'tcp' && (chain.tls === 'disable' || insideTls)) return tcp(false);
    if (chain.protocol === 'http1' && (chain.tls === 'disable' || insideTls))
      return this.ingress.acceptH1(socket, conn);
    if (chain.protocol === 'http2' && (chain.tls === 'disable' || insideTls))
      return this.ingress.acceptH2(socket, conn);
    detectProtocol(socket, lr.detectTimeoutMs, (p) => {
      if (p === 'tls' && !insideTls && chain.tls !== 'disable') return this.terminateMtls(socket, conn, lr, chain);
      if (chain.tls === 'strict' && !insideTls) {
        this.ctx.log.debug('refused plaintext connection on a strict mTLS chain', {
          listener: lr.name,
          remote: conn.remoteAddress,
        });
        socket.destroy();
        return;
      }
      if (p === 'h2c' && chain.protocol !== 'tcp') return this.ingress.acceptH2(socket, conn);
      if (p === 'http1' && chain.protocol !== 'tcp') return this.ingress.acceptH1(socket, conn);
      tcp(true);
    });
  }

  /**
   * mTLS termination goes through a (never listening) tls.Server: its sockets hand over cleanly to
   * the http2 server (a hand-made TLSSocket over a detection-paused socket does not). The context
   * follows identity rotations: new handshakes use the new certificate.
   */
  private terminateMtls(socket: Socket, conn: ConnectionInfo, lr: ListenerRuntime, chain: ChainRuntime): void {
    const mesh = this.ctx.mesh();
    if (!mesh) {
      socket.destroy();
      return;
    }
    const material = mesh.source.current();
    const opts = {
      cert: material.certChain,
      key: material.privateKey,
      ca: material.trustRoots,
      minVersion: 'TLSv1.2' as const,
    };
    // A chain that serves HTTP/1.1 inside (a gateway's ISTIO_MUTUAL HTTPS server) does not offer h2:
    // the services behind it speak what their port says, not the client's h2.
    const kind = chain.cfg.edge && chain.protocol === 'http1' ? 'http1' : 'any';
    let entry = this.tlsServers.get(kind);
    if (!entry) {
      const alpn = kind === 'http1' ? ['http/1.1', MESH_ALPN_TCP] : MESH_ALPN_SERVER;
      const server = createTlsServer(
        { ...opts, requestCert: true, rejectUnauthorized: true, ALPNProtocols: alpn },
        (tls) => this.onSecure(tls),
      );
      server.on('tlsClientError', (err, tls) => {
        const p = this.pendingTls.get((tls as TLSSocket & { _parent?: Socket })._parent as Socket);
        this.ctx.log.debug('inbound mTLS handshake failed', {
          listener: p?.lr.name,
          remote: p?.conn.remoteAddress,
          error: err.message,
        });
      });
      this.tlsServers.set(kind, (entry = { server, generation: mesh.current.generation }));
    } else if (entry.generation !== mesh.current.generation) {
      entry.server.setSecureContext(opts);
      entry.generation = mesh.current.generation;
    }
    this.pendingTls.set(socket, { conn, lr, chain });
    entry.server.emit('connection', socket);
  }

  /**
   * Opaque TCP, after the listener's authorization policies (Istio's TCP semantics): a denied
   * connection is closed before any byte reaches the app, and recorded.
   */
  private proxyTcpAuthorized(conn: ConnectionInfo, socket: Socket, cluster: ClusterRuntime, idleTimeoutMs = 0): void {
    const az = conn.listener.authz;
    if (az) {
      const d = az.policies.decide(az.tcpFacts(conn));
      if (!d.allowed) return proxyTcp(this.ctx, conn, socket, cluster, { denied: d.details ?? 'rbac_access_denied' });
    }
    proxyTcp(this.ctx, conn, socket, cluster, idleTimeoutMs > 0 ? { idleTimeoutMs } : {});
  }

  private onSecure(tls: TLSSocket): void {
    const raw = (tls as TLSSocket & { _parent?: Socket })._parent;
    const p = raw ? this.pendingTls.get(raw) : undefined;
    if (!p) {
      tls.destroy();
      return;
    }
    const { conn, lr, chain } = p;
    const peerIdentity = spiffeIdOf(tls.getPeerCertificate());
    const servername = (tls as TLSSocket & { servername?: string | false }).servername;
    const inner: ConnectionInfo = {
      ...conn,
      peerIdentity,
      mtls: true,
      sni: typeof servername === 'string' ? servername : undefined,
    };
    const alpn = tls.alpnProtocol;
    const s = tls as unknown as Socket;
    // An opaque chain (a TCP service port, a Linkerd Server with proxyProtocol opaque or TLS) is
    // never read as HTTP, whatever the peer sidecar negotiated: its bytes pass to the app as they are.
    if (chain.protocol === 'tcp' || alpn === MESH_ALPN_TCP) {
      const cluster = chain.pickTcpCluster();
      if (cluster) return this.proxyTcpAuthorized(inner, s, cluster);
      tls.destroy();
      return;
    }
    if (alpn === 'h2') return this.ingress.acceptH2(s, inner);
    if (alpn === 'http/1.1') return this.ingress.acceptH1(s, inner);
    this.dispatch(s, inner, lr, chain, true);
  }
}

/** Reads the first bytes until the ClientHello's server name is known, puts them back, reports it. */
function peekServerName(socket: Socket, timeoutMs: number, done: (name: string | undefined) => void): void {
  let buf = Buffer.alloc(0);
  let finished = false;
  const finish = (name: string | undefined): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.pause();
    if (buf.length) socket.unshift(buf);
    done(name);
  };
  const onData = (d: Buffer): void => {
    buf = Buffer.concat([buf, d]);
    const name = serverNameOf(buf);
    if (name !== undefined) finish(name ?? undefined);
    else if (buf.length >= MAX_CLIENT_HELLO) finish(undefined);
  };
  const onEnd = (): void => finish(undefined);
  const timer = setTimeout(() => finish(undefined), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
}

export type { OriginalDestinationResolver };
