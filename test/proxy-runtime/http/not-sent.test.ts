/**
 * A request that reaches a peer sidecar whose app is gone (exited on SIGTERM while the peer's
 * endpoint was still in this proxy's config) never reached any application: the peer's local reply
 * says so (x-meshctl-upstream-not-sent) and the source sidecar retries it on another endpoint like a
 * connect failure, even a POST. The header is honoured only from a peer over mTLS and never
 * forwarded, so an app cannot make a sidecar replay its requests.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, makeTestLeaf } from '../../support/tls.js';
import { freePort, send, startProxy, startUpstream } from '../support.js';

const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/web';
const NOT_SENT = 'x-meshctl-upstream-not-sent';
let files: Record<'ca' | 'clientCert' | 'clientKey' | 'serverCert' | 'serverKey', string>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'not-sent-'));
  const ca = await makeTestCa();
  const client = await makeTestLeaf(ca, { uri: [CLIENT_ID] });
  const server = await makeTestLeaf(ca, { uri: [SERVER_ID] });
  const w = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  files = {
    ca: w('ca.pem', ca.cert),
    clientCert: w('c.pem', client.cert),
    clientKey: w('c.key', client.key),
    serverCert: w('s.pem', server.cert),
    serverKey: w('s.key', server.key),
  };
});

/** A destination sidecar: mTLS inbound to its app on `appPort`. */
function serverSidecar(name: string, appPort: number): Record<string, unknown> {
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: `${name}-1`,
    node: { workload: name, namespace: 'default', labels: { app: 'web' } },
    identity: { certChain: files.serverCert, privateKey: files.serverKey, trustRoots: files.ca },
    listeners: [
      {
        name: 'inbound',
        address: '127.0.0.1',
        port: 0,
        direction: 'inbound',
        chains: [{ routeConfig: 'inbound', tls: 'strict' }],
      },
    ],
    routes: [
      { name: 'inbound', virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] },
    ],
    clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: appPort }] }],
  };
}

/** The source sidecar: web's endpoints in this order, round robin, Istio's default retry policy on the route. */
function clientSidecar(endpoints: { port: number; mtls: boolean }[], retries = true): Record<string, unknown> {
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'client-1',
    node: { workload: 'client', namespace: 'default', labels: { app: 'client' } },
    identity: { certChain: files.clientCert, privateKey: files.clientKey, trustRoots: files.ca },
    listeners: [{ name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'out' }] }],
    routes: [
      {
        name: 'out',
        virtualHosts: [
          {
            name: 'web',
            domains: ['*'],
            routes: [
              {
                ...(retries
                  ? {
                      retries: {
                        attempts: 2,
                        retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
                        retriableStatusCodes: [503],
                      },
                    }
                  : {}),
                route: [{ cluster: 'web' }],
              },
            ],
          },
        ],
      },
    ],
    clusters: [
      {
        name: 'web',
        service: 'web.default.svc.cluster.local',
        loadBalancer: { simple: 'ROUND_ROBIN' },
        endpoints: endpoints.map((e) => ({
          address: '127.0.0.1',
          port: e.port,
          ...(e.mtls ? { identity: SERVER_ID, tls: 'mutual' } : {}),
          labels: { app: 'web' },
        })),
      },
    ],
  };
}

describe('a peer sidecar whose app is gone', () => {
  it('answers 503 UF marked not-sent, and the source sidecar retries a POST on the other endpoint', async () => {
    const live = await startUpstream('web-live');
    const gone = await startProxy(serverSidecar('web-gone', await freePort()));
    const alive = await startProxy(serverSidecar('web-live', live.port));
    const client = await startProxy(
      clientSidecar([
        { port: gone.proxy.listenerPort('inbound'), mtls: true },
        { port: alive.proxy.listenerPort('inbound'), mtls: true },
      ]),
    );
    const replies = [];
    for (let i = 0; i < 6; i++)
      replies.push(await send(client.proxy.listenerPort('out'), { method: 'POST', path: `/order/${i}`, body: 'x' }));
    expect(replies.map((r) => `${r.status} ${r.body}`)).toEqual(Array(6).fill('200 web-live'));
    expect(replies.every((r) => r.headers[NOT_SENT] === undefined)).toBe(true);
    expect(live.seen.map((s) => s.url)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `/order/${i}`));
    // The peer that could not reach its app said so, and only over its mTLS inbound.
    expect(gone.accessLog().filter((l) => l.response_flags === 'UF').length).toBeGreaterThan(0);
  });

  it('without retries the source answers 503 UF itself, and the header does not leave the mesh', async () => {
    const gone = await startProxy(serverSidecar('web-gone', await freePort()));
    const client = await startProxy(clientSidecar([{ port: gone.proxy.listenerPort('inbound'), mtls: true }], false));
    const r = await send(client.proxy.listenerPort('out'), { method: 'POST', body: 'x' });
    expect(r.status).toBe(503);
    expect(r.body).toContain('connection failure');
    expect(r.headers[NOT_SENT]).toBeUndefined();
    expect(client.accessLog().at(-1)).toMatchObject({ response_code: 503, response_flags: 'UF' });
  });

  it('an app (no mTLS peer) setting the header gets no retry: its 503 reaches the client as it is, without the header', async () => {
    const liar = await startUpstream('liar', (_req, res) => {
      res.writeHead(503, { [NOT_SENT]: '1' }).end('busy');
    });
    const other = await startUpstream('other');
    const client = await startProxy(
      clientSidecar([
        { port: liar.port, mtls: false },
        { port: other.port, mtls: false },
      ]),
    );
    const r = await send(client.proxy.listenerPort('out'), { method: 'POST', body: 'x' });
    expect(r.status).toBe(503);
    expect(r.body).toBe('busy');
    expect(r.headers[NOT_SENT]).toBeUndefined();
    expect(liar.seen).toHaveLength(1);
    expect(other.seen).toHaveLength(0);
  });
});
