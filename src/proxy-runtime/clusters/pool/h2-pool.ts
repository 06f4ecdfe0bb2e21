/**
 * HTTP/2 upstream sessions of one cluster: one multiplexed session per endpoint (h2c, or mTLS with
 * ALPN h2 between sidecars), replaced after maxRequestsPerConnection streams, on GOAWAY, or when
 * the identity rotates (the old session finishes its streams first: nothing in flight is dropped).
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import type { MeshTls } from '../../tls/contexts.js';
import { hostPort, type Endpoint } from '../../endpoints/endpoint.js';
import { UpstreamFailure, type HeaderMap, type ProxyResponse, type UpstreamRequestHead } from '../../http/types.js';
import { describeSocketError, dial } from './connect.js';
import type { InFlight } from './in-flight.js';

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
}

function toHeaderMap(h: IncomingHttpHeaders & IncomingHttpStatusHeader): HeaderMap {
  const out: HeaderMap = {};
  for (const k in h) if (k.charCodeAt(0) !== 58 /* ':' */) out[k] = h[k];
  return out;
}

/** The HTTP/2 sessions of one cluster. */
export class H2Pool {
  private readonly sessions = new Map<string, SessionEntry>();
  private retired = false;

  constructor(readonly options: H2PoolOptions) {}

  private session(ep: Endpoint): SessionEntry {
    const existing = this.sessions.get(ep.key);
    if (existing && !existing.session.closed && !existing.session.destroyed) return existing;
    const tls =
      ep.mtls && this.options.mesh
        ? { mesh: this.options.mesh, expectedIdentity: ep.identity, alpn: ['h2'] }
        : undefined;
    const entry: SessionEntry = {
      session: undefined as unknown as ClientHttp2Session,
      streamsStarted: 0,
      connected: false,
      connectError: undefined,
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
    this.sessions.set(ep.key, entry);
    return entry;
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
    return {
      response,
      cancel: (reason) => {
        cancelled = reason;
        if (stream && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      },
    };
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
