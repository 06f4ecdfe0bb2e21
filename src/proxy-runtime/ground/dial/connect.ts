/**
 * Dialing an endpoint: plain TCP or mTLS to a peer sidecar (our identity as client certificate,
 * the mesh roots as trust, the peer's SPIFFE ID checked against the endpoint's expected identity),
 * with the cluster's connect timeout. Errors come out as UpstreamFailure('connect-failure').
 */
import { connect as netConnect, type Socket } from 'node:net';
import {
  checkServerIdentity,
  connect as tlsConnect,
  createSecureContext,
  type ConnectionOptions,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import type { UpstreamTlsConfig } from '../../../protocol/proxy-config/index.js';
import { pemOrFile } from '../tls/pem.js';
import type { MeshTls } from '../tls/contexts.js';
import { spiffeChecker } from '../tls/contexts.js';
import { UpstreamFailure } from '../types.js';
import { proxyDns, type DnsMode } from './dns-cache.js';

/** What a dial needs. */
export interface DialOptions {
  address: string;
  port: number;
  connectTimeoutMs: number;
  /** local address to connect from (the inbound passthrough's 127.0.0.6; plaintext only, never a peer sidecar) */
  localAddress?: string;
  /** present: dial with mTLS */
  tls?: { mesh: MeshTls; expectedIdentity: string | undefined; alpn: string[] };
  /** present (and no mTLS): originate TLS to a server outside the mesh (DestinationRule SIMPLE/MUTUAL) */
  originate?: Origination;
  /** the address is a name resolved by the proxy's DNS cache (record TTL), in this mode */
  dns?: DnsMode | undefined;
}

/** TLS origination settings of an endpoint, compiled once per cluster and config version. */
export interface Origination {
  readonly context: SecureContext;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
  readonly subjectAltNames: readonly string[] | undefined;
}

/** Compiles a cluster's upstreamTls for an endpoint address (SNI defaults to the address when it is a name). */
export function compileOrigination(cfg: UpstreamTlsConfig, context: SecureContext, address: string): Origination {
  const isName = !address.includes(':') && !/^[0-9.]+$/.test(address);
  return {
    context,
    servername: cfg.sni ?? (isName ? address : undefined),
    rejectUnauthorized: !cfg.insecureSkipVerify,
    subjectAltNames: cfg.subjectAltNames,
  };
}

/** The SecureContext of a cluster's upstreamTls: its CA (else the system roots) and client certificate. */
export function originationContext(cfg: UpstreamTlsConfig): SecureContext {
  return createSecureContext({
    ...(cfg.caCertificates ? { ca: pemOrFile(cfg.caCertificates, 'upstreamTls.caCertificates') } : {}),
    ...(cfg.certChain && cfg.privateKey
      ? {
          cert: pemOrFile(cfg.certChain, 'upstreamTls.certChain'),
          key: pemOrFile(cfg.privateKey, 'upstreamTls.privateKey'),
        }
      : {}),
    minVersion: 'TLSv1.2',
  });
}

function originationChecker(o: Origination): ConnectionOptions['checkServerIdentity'] {
  const sans = o.subjectAltNames;
  return (host, cert) => {
    if (!o.rejectUnauthorized) return undefined;
    if (sans?.length) {
      const present = (cert.subjectaltname ?? '').split(',').map((v) => v.trim().replace(/^(DNS|URI|IP Address):/, ''));
      if (present.some((v) => sans.includes(v))) return undefined;
      const err = new Error(`server certificate SANs (${present.join(', ')}) name none of ${sans.join(', ')}`);
      (err as NodeJS.ErrnoException).code = 'ERR_TLS_CERT_ALTNAME_INVALID';
      return err;
    }
    return checkServerIdentity(o.servername ?? host, cert);
  };
}

/**
 * Opens a connection; `onReady` runs once it is connected (and the TLS handshake verified),
 * `onFail` with a connect-failure otherwise. Returns the socket at once, as http.Agent wants.
 */
export function dial(
  o: DialOptions,
  onReady?: (s: Socket) => void,
  onFail?: (e: UpstreamFailure) => void,
): Socket | TLSSocket {
  let socket: Socket | TLSSocket;
  const lookup = o.dns ? { lookup: proxyDns.lookupHook(o.dns) } : {};
  const readyEvent = o.tls || o.originate ? 'secureConnect' : 'connect';
  if (o.originate && !o.tls) {
    const g = o.originate;
    socket = tlsConnect({
      host: o.address,
      port: o.port,
      ...lookup,
      secureContext: g.context,
      ...(g.servername ? { servername: g.servername } : {}),
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: g.rejectUnauthorized,
      checkServerIdentity: originationChecker(g),
    });
  } else if (o.tls) {
    const opts: ConnectionOptions = {
      host: o.address,
      port: o.port,
      ...lookup,
      secureContext: o.tls.mesh.current.client,
      ALPNProtocols: o.tls.alpn,
      rejectUnauthorized: true,
      checkServerIdentity: spiffeChecker(o.tls.expectedIdentity),
    };
    // SNI must be a DNS name; sidecars are dialed by IP, and identity is checked by SPIFFE ID.
    if (!o.address.includes(':') && !/^[0-9.]+$/.test(o.address)) opts.servername = o.address;
    socket = tlsConnect(opts);
  } else {
    socket = netConnect({ host: o.address, port: o.port, localAddress: o.localAddress, noDelay: true, ...lookup });
  }
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    const err = new UpstreamFailure(
      'connect-failure',
      `connect timeout after ${o.connectTimeoutMs}ms to ${o.address}:${o.port}`,
    );
    socket.destroy(err);
    onFail?.(err);
  }, o.connectTimeoutMs);
  socket.once(readyEvent, () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.setNoDelay(true);
    onReady?.(socket);
  });
  socket.once('error', (err) => {
    clearTimeout(timer);
    if (done) return;
    done = true;
    if (err instanceof UpstreamFailure) return onFail?.(err);
    const failure = new UpstreamFailure(
      'connect-failure',
      `connect to ${o.address}:${o.port} failed: ${describeSocketError(err)}`,
    );
    // The socket error stays reachable: a certificate's validity failure is handled apart (pool/handover.ts).
    failure.cause = err;
    onFail?.(failure);
  });
  return socket;
}

/** A short reason for a socket error, without stack or secrets. */
export function describeSocketError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}${err.message && !err.message.includes(code) ? ` (${err.message})` : ''}` : err.message;
}

/** Whether an error happened while connecting (before the upstream could see the request). */
export function isConnectError(err: unknown): boolean {
  if (err instanceof UpstreamFailure) return err.kind === 'connect-failure';
  const code = (err as NodeJS.ErrnoException).code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'EADDRNOTAVAIL' ||
    code === 'ERR_MESH_PEER_IDENTITY' ||
    (typeof code === 'string' && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.includes('CERT')))
  );
}
