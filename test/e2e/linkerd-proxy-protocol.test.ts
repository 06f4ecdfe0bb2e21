/**
 * A Linkerd Server's proxyProtocol on real traffic (local platform): it sets the inbound protocol
 * of the workload's sidecar for its port. HTTP/1: parsed as HTTP without detection, so HTTP rules
 * apply. opaque and TLS: never parsed; the bytes pass as they are and only L4 authorization
 * applies (an ALLOW rule that needs an HTTP field never matches, as Istio's TCP semantics). The
 * Server denies by default; Istio AuthorizationPolicies on the same workload admit the callers.
 * HTTP/2 and gRPC: HTTP/2 without detection, also to the app (an h2c-only app answers HTTP/1.1 callers).
 * Each protocol has its own workload, so no caller holds a connection made under another config
 * (authorization, as Envoy's, decides when a TCP connection opens).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createServer as createHttp2Server } from 'node:http2';
import { LocalMeshForTest, SERVICE_PORT, send, type Sidecar } from './support/local-mesh.js';

const PROTOCOLS = { 'HTTP/1': 'http1', opaque: 'opaque', TLS: 'tls' } as const;
type Protocol = keyof typeof PROTOCOLS;
let mesh: LocalMeshForTest;
let web: Sidecar;
const servers = {} as Record<Protocol, Sidecar>;

const server = (protocol: Protocol) => {
  const app = `${PROTOCOLS[protocol]}-svc`;
  return `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: ${app}
spec:
  podSelector:
    matchLabels:
      app: ${app}
  port: ${(servers[protocol].app!.address() as AddressInfo).port}
  proxyProtocol: ${protocol}
  accessPolicy: deny
`;
};

/** An Istio ALLOW rule on an HTTP field (`methods`) or, the same policy rewritten, on the caller's identity only. */
const allow = (protocol: Protocol, rule: 'GET' | 'web') => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${PROTOCOLS[protocol]}-allow
spec:
  selector:
    matchLabels:
      app: ${PROTOCOLS[protocol]}-svc
  rules:
${
  rule === 'GET'
    ? `  - to:
    - operation:
        methods: ["GET"]`
    : `  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/web"]`
}
`;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  for (const p of Object.keys(PROTOCOLS) as Protocol[]) {
    const app = `${PROTOCOLS[p]}-svc`;
    servers[p] = await mesh.run(PROTOCOLS[p], { app }, { service: app });
  }
  web = await mesh.run('web', { app: 'web-svc' }, { serviceAccount: 'web' });
  await mesh.settle();
});
afterAll(async () => {
  await mesh?.stop();
});

const call = (p: Protocol) => send(web, `http://${PROTOCOLS[p]}-svc:${SERVICE_PORT}/list`);
/** HTTP requests the server's sidecar parsed (its access log has one line per HTTP request). */
const parsed = (p: Protocol) => servers[p].accessLog.filter((e) => e.method !== undefined).length;

describe('Linkerd Server proxyProtocol', () => {
  it('HTTP/1: the sidecar parses the requests, so an ALLOW rule on the method admits GET', async () => {
    await mesh.applyAndSync(server('HTTP/1'), allow('HTTP/1', 'GET'));
    expect((await call('HTTP/1')).status).toBe(200);
    expect(parsed('HTTP/1')).toBe(1);
    expect(servers['HTTP/1'].accessLog.at(-1)).toMatchObject({ method: 'GET', path: '/list', response_code: 200 });
  });

  for (const p of ['opaque', 'TLS'] as const) {
    it(`${p}: never parsed, so the rule on the method cannot match (refused) and one on the identity admits the bytes as they are`, async () => {
      await mesh.applyAndSync(server(p), allow(p, 'GET'));
      expect((await call(p)).status).not.toBe(200);
      expect(servers[p].received).toHaveLength(0);
      await mesh.applyAndSync(allow(p, 'web'));
      expect(await call(p)).toMatchObject({ status: 200 });
      expect(servers[p].received.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /list']);
      // The server's sidecar proxied a TCP stream: it parsed no HTTP request.
      expect(parsed(p)).toBe(0);
    });
  }
});

describe('Linkerd Server proxyProtocol HTTP/2 and gRPC', () => {
  it('the sidecar speaks HTTP/2 to the app without detection: an h2c-only app answers an HTTP/1.1 caller', async () => {
    const h2 = createHttp2Server((req, res) => res.end(`h2 ${req.httpVersion}`));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    const port = (h2.address() as AddressInfo).port;
    try {
      const app = await mesh.run('h2', { app: 'h2-svc' }, { service: 'h2-svc', appPort: port });
      await mesh.settle();
      const get = () => send(web, `http://h2-svc:${SERVICE_PORT}/`);
      // Detected (no Server): the caller's HTTP/1.1 goes on as HTTP/1.1, which an h2c-only app refuses.
      expect((await get()).status).toBe(503);
      for (const protocol of ['HTTP/2', 'gRPC']) {
        await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: h2-svc
spec:
  podSelector:
    matchLabels:
      app: h2-svc
  port: ${port}
  proxyProtocol: ${protocol}
  accessPolicy: all-unauthenticated
`);
        expect(await get(), protocol).toMatchObject({ status: 200, body: 'h2 2.0' });
      }
      expect(app.accessLog.at(-1)).toMatchObject({ response_code: 200, protocol: 'HTTP/1.1' });
    } finally {
      h2.close();
    }
  });
});
