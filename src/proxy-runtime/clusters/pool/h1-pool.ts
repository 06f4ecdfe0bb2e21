/**
 * HTTP/1.1 upstream connections of one cluster: a keep-alive http.Agent (LIFO, so hot connections
 * stay hot) whose sockets come from `dial` (connect timeout, mTLS with peer identity check), capped
 * at tcp.maxConnections, closed after maxRequestsPerConnection and after idleTimeout.
 */
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { MeshTls } from '../../tls/contexts.js';
import type { Endpoint } from '../../endpoints/endpoint.js';
import { UpstreamFailure, stripHopByHop, type HeaderMap, type ProxyResponse, type UpstreamRequestHead } from '../../http/types.js';
import { describeSocketError, dial, isConnectError } from './connect.js';
import type { InFlight } from './in-flight.js';

/** Settings of an HTTP/1.1 pool. */
export interface H1PoolOptions {
  maxConnections: number;
  maxRequestsPerConnection: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  mesh: MeshTls | undefined;
}

const REQUESTS = Symbol('meshRequestsOnSocket');
type CountedSocket = Socket & { [REQUESTS]?: number };

interface MeshRequestOptions {
  meshEndpoint: Endpoint;
}

class MeshAgent extends Agent {
  retired = false;
  constructor(private readonly o: H1PoolOptions) {
    super({
      keepAlive: true,
      scheduling: 'lifo',
      maxSockets: o.maxConnections,
      maxTotalSockets: o.maxConnections,
      timeout: o.idleTimeoutMs,
    });
  }

  override createConnection(options: object): Duplex {
    const ep = (options as MeshRequestOptions).meshEndpoint;
    return dial({
      address: ep.address,
      port: ep.port,
      connectTimeoutMs: this.o.connectTimeoutMs,
      tls: ep.mtls && this.o.mesh ? { mesh: this.o.mesh, expectedIdentity: ep.identity, alpn: ['http/1.1'] } : undefined,
    });
  }

  override keepSocketAlive(socket: Socket): boolean {
    if (this.retired) return false;
    const s = socket as CountedSocket;
    const n = (s[REQUESTS] ?? 0) + 1;
    s[REQUESTS] = n;
    if (this.o.maxRequestsPerConnection > 0 && n >= this.o.maxRequestsPerConnection) return false;
    // Node's implementation returns a boolean; its typings say void.
    return (super.keepSocketAlive(socket) as unknown) !== false;
  }
}

function emptyToUndefined(t: HeaderMap): HeaderMap | undefined {
  for (const _ in t) return t;
  return undefined;
}

/** Builds the ProxyResponse of an HTTP/1.1 upstream response. */
export function fromIncoming(res: IncomingMessage): ProxyResponse {
  return {
    status: res.statusCode ?? 502,
    headers: stripHopByHop(res.headers as HeaderMap),
    body: res,
    trailers: () => emptyToUndefined(res.trailers as HeaderMap),
  };
}

/** The HTTP/1.1 connections of one cluster. */
export class H1Pool {
  private readonly agent: MeshAgent;

  constructor(readonly options: H1PoolOptions) {
    this.agent = new MeshAgent(options);
  }

  /** Sends a request; `body` is piped into it (null: none). */
  send(ep: Endpoint, head: UpstreamRequestHead, body: NodeJS.ReadableStream | null): InFlight {
    let req: ClientRequest | undefined;
    let cancelled: Error | undefined;
    const response = new Promise<ProxyResponse>((resolve, reject) => {
      const start = (retryOnStale: boolean): void => {
        const headers = head.headers as Record<string, string | string[]>;
        headers.host = head.authority;
        const r = request({
          agent: this.agent,
          host: ep.address,
          port: ep.port,
          method: head.method,
          path: head.path,
          headers,
          setHost: false,
          meshEndpoint: ep,
        } as unknown as Parameters<typeof request>[0]);
        delete headers.host;
        req = r;
        let responded = false;
        r.on('response', (res) => {
          responded = true;
          resolve(fromIncoming(res));
        });
        r.on('error', (err) => {
          if (responded) return;
          if (cancelled) return reject(cancelled);
          // A kept-alive connection the upstream closed just as we reused it: the request never
          // reached the application, so a bodyless request is simply sent again on a new one.
          if (retryOnStale && r.reusedSocket && body === null && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return start(false);
          reject(isConnectError(err) ? asConnectFailure(err) : new UpstreamFailure('reset', `upstream reset: ${describeSocketError(err)}`));
        });
        if (body === null) r.end();
        else body.pipe(r);
      };
      start(true);
    });
    return {
      response,
      cancel: (reason) => {
        cancelled = reason;
        req?.destroy(reason);
      },
    };
  }

  /** Stops reusing connections (config or identity changed): they close as their requests finish. */
  retire(): void {
    this.agent.retired = true;
    for (const list of Object.values(this.agent.freeSockets)) for (const s of list ?? []) s.destroy();
  }

  /** Open connections (active and idle), for /clusters. */
  connectionCount(): number {
    let n = 0;
    for (const l of Object.values(this.agent.sockets)) n += l?.length ?? 0;
    for (const l of Object.values(this.agent.freeSockets)) n += l?.length ?? 0;
    return n;
  }

  close(): void {
    this.agent.destroy();
  }
}

function asConnectFailure(err: Error): UpstreamFailure {
  return err instanceof UpstreamFailure ? err : new UpstreamFailure('connect-failure', `upstream connect error: ${describeSocketError(err)}`);
}
