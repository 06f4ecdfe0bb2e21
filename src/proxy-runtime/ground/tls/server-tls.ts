/**
 * TLS a gateway terminates itself (Gateway servers HTTPS/TLS with SIMPLE or MUTUAL): certificates
 * chosen by SNI, optional client certificates, protocol versions and cipher suites. One terminator
 * per chain and config version: a changed Secret arrives as a new config, new handshakes use the
 * new certificate while connections already established keep theirs (nothing is dropped).
 * Handshakes go through a never-listening tls.Server, as the mesh's own mTLS termination does.
 */
import type { Socket } from 'node:net';
import { createSecureContext, createServer, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import type { ServerTlsConfig } from '../../../protocol/proxy-config/index.js';
import { pemOrFile } from './pem.js';

/** Whether `name` is served by a certificate for `pattern` (exact, or `*.suffix` for one or more labels). */
export function serverNameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return n.endsWith(p.slice(1)) && n.length > p.length - 1;
  return p === n;
}

/** Compiled server TLS of one chain. */
export class ServerTlsTerminator {
  private readonly server: Server;
  private readonly byName: { names: readonly string[]; context: SecureContext }[] = [];
  private readonly pending = new WeakMap<Socket, (tls: TLSSocket) => void>();
  /** Where failed handshakes are reported (the listener sets its logger). */
  onError: (message: string) => void = () => undefined;

  /** Builds every SecureContext now: a bad certificate or key refuses the config (NACK), not a handshake. */
  constructor(
    readonly cfg: ServerTlsConfig,
    alpn: string[],
  ) {
    const common = {
      ...(cfg.minProtocolVersion ? { minVersion: cfg.minProtocolVersion } : { minVersion: 'TLSv1.2' as const }),
      ...(cfg.maxProtocolVersion ? { maxVersion: cfg.maxProtocolVersion } : {}),
      ...(cfg.cipherSuites?.length ? { ciphers: cfg.cipherSuites.join(':') } : {}),
      ...(cfg.mode === 'mutual' && cfg.caCertificates
        ? { ca: pemOrFile(cfg.caCertificates, 'serverTls.caCertificates') }
        : {}),
    };
    let fallback: { context: SecureContext; cert: string; key: string } | undefined;
    let first: typeof fallback;
    for (const c of cfg.certificates) {
      let context: SecureContext;
      const cert = pemOrFile(c.certChain, c.name);
      const key = pemOrFile(c.privateKey, c.name);
      try {
        context = createSecureContext({ ...common, cert, key });
      } catch (err) {
        throw new Error(`certificate ${c.name}: ${(err as Error).message}`);
      }
      first ??= { context, cert, key };
      if (c.serverNames?.length) this.byName.push({ names: c.serverNames, context });
      else fallback ??= { context, cert, key };
    }
    // Clients without SNI (an IP address) get the default certificate: the first without serverNames.
    const chosen = fallback ?? first!;
    const defaultContext = chosen.context;
    this.server = createServer({
      ...common,
      cert: chosen.cert,
      key: chosen.key,
      requestCert: cfg.mode === 'mutual',
      rejectUnauthorized: cfg.mode === 'mutual',
      ALPNProtocols: alpn,
      SNICallback: (servername, cb) => cb(null, this.contextFor(servername) ?? defaultContext),
    });
    this.server.on('secureConnection', (tls: TLSSocket) => {
      const raw = (tls as TLSSocket & { _parent?: Socket })._parent;
      const next = raw ? this.pending.get(raw) : undefined;
      if (!next) return void tls.destroy();
      if (cfg.mode === 'mutual' && cfg.subjectAltNames?.length && !sanAccepted(tls, cfg.subjectAltNames)) {
        this.onError('client certificate SAN not accepted');
        return void tls.destroy();
      }
      next(tls);
    });
    this.server.on('tlsClientError', (err) => this.onError(err.message));
  }

  /** The context whose server names cover `name`, most specific (exact) first. */
  contextFor(name: string): SecureContext | undefined {
    let wildcard: SecureContext | undefined;
    for (const e of this.byName) {
      for (const n of e.names) {
        if (n.toLowerCase() === name.toLowerCase()) return e.context;
        if (!wildcard && serverNameMatches(n, name)) wildcard = e.context;
      }
    }
    return wildcard;
  }

  /** Runs the handshake on `socket`; `onSecure` gets the TLS socket once it succeeded (else the socket is closed). */
  terminate(socket: Socket, onSecure: (tls: TLSSocket) => void): void {
    this.pending.set(socket, onSecure);
    this.server.emit('connection', socket);
  }
}

function sanAccepted(tls: TLSSocket, accepted: readonly string[]): boolean {
  const san = tls.getPeerCertificate()?.subjectaltname ?? '';
  const values = san.split(',').map((s) => s.trim().replace(/^(DNS|URI|IP Address|email):/, ''));
  return values.some((v) => accepted.includes(v));
}
