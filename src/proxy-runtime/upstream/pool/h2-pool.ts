/**
 * HTTP/2 upstream sessions of one cluster: one multiplexed session per endpoint (h2c, or mTLS with
 * ALPN h2 between sidecars), replaced after maxRequestsPerConnection streams, on GOAWAY, or when
 * the identity rotates: make-before-break, the old session serves until one made with the new
 * certificate has connected (handover.ts), then finishes its streams (nothing in flight is dropped).
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import type { MeshTls } from '../../ground/tls/contexts.js';
import { hostPort, type Endpoint } from '../../ground/endpoint.js';
import { UpstreamFailure, type HeaderMap, type ProxyResponse, type UpstreamRequestHead } from '../../ground/types.js';
import { describeSocketError, dial } from '../../ground/dial/connect.js';
import type { InFlight } from './in-flight.js';
import { HANDOVER_RETRY_MS, ownCertificateExpired } from './handover.js';

/** Settings of an HTTP/2 pool. */
export interface H2PoolOptions {
  maxRequestsPerConnection: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  mesh: MeshTls | undefined;
}

interface SessionEntry {
  session: ClientHttp2Session;
  streamsStarted: number;
  connected: boolean;
  connectError: UpstreamFailure | undefined;
  /** mTLS to a peer sidecar (replaced when the certificate is renewed) */
  mtls: boolean;
  /** made before the last certificate renewal */
  stale: boolean;
}

function toHeaderMap(h: IncomingHttpHeaders & IncomingHttpStatusHeader): HeaderMap {
  const out: HeaderMap = {};
  for (const k in h) if (k.charCodeAt(0) !== 58 /* ':' */) out[k] = h[k];
  return out;
}

/**
 * The header maps an h2 request keeps while it runs: the send's scope keeps `headers`, and node:http2 a copy
 * (stream.sentHeaders), for the stream's life. Shared by every request (a method, not a closure per request).
 */
function sentHeadersOf(this: {
  readonly headers: Record<string, string | string[]>;
  readonly stream: ClientHttp2Stream | undefined;
}): Record<string, unknown>[] {
  return this.stream ? [this.headers, this.stream.sentHeaders] : [this.headers];
}

/** The HTTP/2 sessions of one cluster. */
export class H2Pool {
  private readonly sessions = new Map<string, SessionEntry>();
  private retired = false;
  /** Endpoints with a session being made to replace a stale one. */
  private readonly probing = new Set<string>();
  /** Per endpoint: no replacement attempt before this time (the last one failed). */
  private readonly holdOffUntil = new Map<string, number>();

  constructor(readonly options: H2PoolOptions) {}

  private session(ep: Endpoint): SessionEntry {
    const existing = this.sessions.get(ep.key);
    if (existing && !existing.session.closed && !existing.session.destroyed) {
      if (existing.stale) this.probe(ep, existing);
      return existing;
    }
    const entry = this.open(ep);
    this.sessions.set(ep.key, entry);
    return entry;
  }

  /** Makes a session with the current certificate; it replaces `old` once connected, else `old` keeps serving. */
  private probe(ep: Endpoint, old: SessionEntry): void {
    const now = Date.now();
    if (
      this.probing.has(ep.key) ||
      now < (this.holdOffUntil.get(ep.key) ?? 0) ||
      ownCertificateExpired(this.options.mesh)
    )
      return;
    this.probing.add(ep.key);
    const next = this.open(ep);
    next.session.once('connect', () => {
      this.probing.delete(ep.key);
      this.holdOffUntil.delete(ep.key);
      if (this.retired || this.sessions.get(ep.key) !== old) return void next.session.close();
      this.sessions.set(ep.key, next);
      old.session.close();
    });
    next.session.once('close', () => {
      if (next.connected) return;
      this.probing.delete(ep.key);
      this.holdOffUntil.set(ep.key, Date.now() + HANDOVER_RETRY_MS);
    });
  }

  /** Opens a session to `ep` (not yet registered). */
  private open(ep: Endpoint): SessionEntry {
    const tls =
      ep.mtls && this.options.mesh
        ? { mesh: this.options.mesh, expectedIdentity: ep.identity, alpn: ['h2'] }
        : undefined;
    const entry: SessionEntry = {
      session: undefined as unknown as ClientHttp2Session,
      streamsStarted: 0,
      connected: false,
      connectError: undefined,
      mtls: tls !== undefined,
      stale: false,
    };
    const session = connect(`${tls ? 'https' : 'http'}://${hostPort(ep.address, ep.port)}`, {
      createConnection: () =>
        dial(
          {
            address: ep.address,
            port: ep.port,
            localAddress: ep.localAddress,
            dns: ep.dns,
            connectTimeoutMs: this.options.connectTimeoutMs,
            tls,
          },
          undefined,
          (e) => {
            entry.connectError = e;
          },
        ),
      settings: { enablePush: false, initialWindowSize: 1 << 20 },
    });
    entry.session = session;
    session.on('connect', () => {
      entry.connected = true;
      // A session's own window limits throughput of every stream on it; widen it.
      try {
        session.setLocalWindowSize(8 << 20);
      } catch {
        // not fatal
      }
    });
    session.on('error', () => undefined);
    const forget = (): void => {
      if (this.sessions.get(ep.key) === entry) this.sessions.delete(ep.key);
    };
    session.on('close', forget);
    session.on('goaway', forget);
    if (this.options.idleTimeoutMs > 0) {
      session.setTimeout(this.options.idleTimeoutMs, () => {
        forget();
        session.close();
      });
    }
    session.unref();
    return entry;
  }

  /** The workload certificate was renewed: each session is replaced once a new one connects (handover.ts). */
  renew(): void {
    for (const e of this.sessions.values()) if (e.mtls && !e.connectError) e.stale = true;
    this.holdOffUntil.clear();
  }

  /** Sends a request on the endpoint's session; `body` is piped into the stream (null: none). */
  send(ep: Endpoint, head: UpstreamRequestHead, body: NodeJS.ReadableStream | null): InFlight {
    const entry = this.session(ep);
    entry.streamsStarted++;
    // The session's last permitted stream: the next request opens a new session. This one closes
    // once that stream is done; closing it earlier (before it connected) would make node:http2
    // refuse the queued stream with ERR_HTTP2_GOAWAY_SESSION, failing every request at 1 per connection.
    const last =
      this.options.maxRequestsPerConnection > 0 && entry.streamsStarted >= this.options.maxRequestsPerConnection;
    if (last) this.sessions.delete(ep.key);
    const headers: Record<string, string | string[]> = {
      ':method': head.method,
      ':path': head.path,
      ':authority': head.authority,
      ':scheme': head.scheme,
    };
    for (const k in head.headers) {
      const v = head.headers[k];
      if (v !== undefined) headers[k] = v;
    }
    let stream: ClientHttp2Stream | undefined;
    let cancelled: Error | undefined;
    const response = new Promise<ProxyResponse>((resolve, reject) => {
      try {
        stream = entry.session.request(headers, { endStream: body === null });
      } catch (err) {
        if (last) entry.session.close();
        reject(
          entry.connectError ??
            new UpstreamFailure('connect-failure', `upstream h2 session unusable: ${(err as Error).message}`),
        );
        return;
      }
      const s = stream;
      if (last) s.once('close', () => entry.session.close());
      let trailers: HeaderMap | undefined;
      let responded = false;
      s.on('trailers', (t) => {
        trailers = toHeaderMap(t);
      });
      s.on('response', (h, flags) => {
        responded = true;
        const status = Number(h[':status'] ?? 502);
        resolve({
          status,
          headers: toHeaderMap(h),
          body: s,
          trailers: () => trailers,
          trailersOnly: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0,
        });
      });
      s.on('error', (err) => {
        if (responded) return;
        if (cancelled) return reject(cancelled);
        reject(classifyStreamError(err, entry));
      });
      s.on('close', () => {
        if (responded) return;
        if (cancelled) return reject(cancelled);
        if (entry.connectError) return reject(entry.connectError);
        if (s.rstCode === constants.NGHTTP2_REFUSED_STREAM)
          return reject(new UpstreamFailure('refused-stream', 'upstream refused the stream'));
        reject(
          entry.connected
            ? new UpstreamFailure('reset', `upstream reset the stream (code ${s.rstCode})`)
            : new UpstreamFailure('connect-failure', 'upstream connect error'),
        );
      });
      if (body !== null) body.pipe(s);
    });
    const inFlight = {
      response,
      headers,
      stream,
      sentHeaders: sentHeadersOf,
      cancel: (reason: Error) => {
        cancelled = reason;
        if (stream && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      },
    };
    return inFlight;
  }

  /** Sessions close once their streams finish; new requests get new sessions. */
  retire(): void {
    this.retired = true;
    for (const e of this.sessions.values()) e.session.close();
    this.sessions.clear();
  }

  get isRetired(): boolean {
    return this.retired;
  }

  connectionCount(): number {
    return this.sessions.size;
  }

  close(): void {
    for (const e of this.sessions.values()) e.session.destroy();
    this.sessions.clear();
  }
}

function classifyStreamError(err: Error, entry: SessionEntry): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  if (entry.connectError) return entry.connectError;
  if (!entry.connected)
    return new UpstreamFailure('connect-failure', `upstream connect error: ${describeSocketError(err)}`);
  if (/REFUSED_STREAM/.test(err.message)) return new UpstreamFailure('refused-stream', 'upstream refused the stream');
  return new UpstreamFailure('reset', `upstream reset: ${describeSocketError(err)}`);
}
