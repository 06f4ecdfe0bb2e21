/**
 * External services end to end on the local platform: an app calls hosts outside the mesh through
 * its sidecar's HTTP_PROXY listener. ALLOW_ANY (the default) passes unknown hosts through;
 * REGISTRY_ONLY (a Sidecar) answers them 502 with flag NR while a ServiceEntry host still works;
 * DestinationRule tls SIMPLE/MUTUAL makes the sidecar speak HTTPS to a server the test starts for
 * `http://api.external.com`; and the egress-gateway pattern of Istio's docs (sidecar -> egress
 * gateway over mTLS -> external host, TLS originated at the gateway) works as written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { LocalMeshForTest, eventually, send, type Sidecar } from './support/local-mesh.js';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';

interface Seen {
  host: string;
  servername: string | false;
  clientCert: string | undefined;
  url: string;
}

describe('ServiceEntry, outbound traffic policy and TLS origination (local platform)', () => {
  let mesh: LocalMeshForTest;
  let client: Sidecar;
  let plain: HttpServer;
  let secure: HttpsServer;
  const seen: Seen[] = [];
  let ca: Awaited<ReturnType<typeof makeTestCa>>;
  let clientCa: Awaited<ReturnType<typeof makeTestCa>>;
  let client1: { cert: string; key: string };
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  beforeAll(async () => {
    ca = await makeTestCa('external test CA');
    clientCa = await makeTestCa('external client CA');
    client1 = await makeTestLeaf(clientCa, { dns: ['sleep.default'] });
    const serving = await makeTestLeaf(ca, { dns: ['api.external.com'] });
    plain = createHttpServer((req, res) => res.end(`plain ${req.headers.host}`));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    secure = createHttpsServer(
      { cert: serving.cert, key: serving.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const tls = req.socket as TLSSocket;
        seen.push({
          host: req.headers.host ?? '',
          servername: (tls as TLSSocket & { servername?: string | false }).servername ?? false,
          clientCert: tls.getPeerCertificate()?.subject?.CN
            ? String(tls.getPeerCertificate().subjectaltname)
            : undefined,
          url: req.url ?? '',
        });
        res.end(`external over ${tls.getProtocol()}`);
      },
    );
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
    mesh = await LocalMeshForTest.start();
    client = await mesh.run('sleep', { app: 'sleep' });
    await mesh.settle();
  }, 120_000);

  afterAll(async () => {
    await mesh?.stop();
    plain?.close();
    secure?.closeAllConnections();
    secure?.close();
  });

  const plainPort = (): number => (plain.address() as AddressInfo).port;
  const securePort = (): number => (secure.address() as AddressInfo).port;

  it('ALLOW_ANY (default): a host outside the registry is passed through', async () => {
    const r = await send(client, `http://localhost:${plainPort()}/`);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`plain localhost:${plainPort()}`);
  });

  it('REGISTRY_ONLY: unknown hosts get 502 with flag NR; a ServiceEntry host (DNS resolution) still works', async () => {
    await mesh.applyAndSync(
      `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: plain-external}
spec:
  hosts: [plain.external.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  location: MESH_EXTERNAL
  resolution: DNS
  endpoints: [{address: localhost, ports: {http: ${plainPort()}}}]
`,
    );
    const refused = await send(client, `http://localhost:${plainPort()}/`);
    expect(refused.status).toBe(502);
    await eventually('the access log entry of the refused request', () =>
      client.accessLog.some((e) => e.response_code === 502 && String(e.response_flags).includes('NR')),
    );
    const allowed = await send(client, 'http://plain.external.com/');
    expect(allowed.status).toBe(200);
    expect(allowed.body).toBe('plain plain.external.com');
  });

  it('TLS origination: DestinationRule tls SIMPLE (CA from a Secret, sni) turns http://api.external.com into HTTPS', async () => {
    await mesh.applyAndSync(
      `apiVersion: v1
kind: Secret
metadata: {name: external-ca}
type: Opaque
data: {ca.crt: ${b64(ca.cert)}}
`,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-api}
spec:
  hosts: [api.external.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${securePort()}}]
  location: MESH_EXTERNAL
  resolution: DNS
  endpoints: [{address: localhost}]
`,
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: external-api}
spec:
  host: api.external.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, credentialName: external-ca, sni: api.external.com}
`,
    );
    const r = await send(client, 'http://api.external.com/orders');
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^external over TLSv1\.[23]$/);
    expect(seen.at(-1)).toMatchObject({ servername: 'api.external.com', url: '/orders', clientCert: undefined });
  });

  it('TLS origination MUTUAL sends the client certificate; a wrong CA fails the request (503), not silently plaintext', async () => {
    await mesh.applyAndSync(
      `apiVersion: v1
kind: Secret
metadata: {name: external-client}
type: kubernetes.io/tls
data: {tls.crt: ${b64(client1.cert)}, tls.key: ${b64(client1.key)}, ca.crt: ${b64(ca.cert)}}
`,
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: external-api}
spec:
  host: api.external.com
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: external-client, sni: api.external.com}
`,
    );
    const r = await send(client, 'http://api.external.com/mutual');
    expect(r.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ url: '/mutual', clientCert: 'DNS:sleep.default' });

    const other = await makeTestCa('not the server CA');
    await mesh.applyAndSync(`apiVersion: v1
kind: Secret
metadata: {name: external-client}
type: kubernetes.io/tls
data: {tls.crt: ${b64(client1.cert)}, tls.key: ${b64(client1.key)}, ca.crt: ${b64(other.cert)}}
`);
    const before = seen.length;
    const refused = await send(client, 'http://api.external.com/mutual');
    expect(refused.status).toBe(503);
    expect(seen.length).toBe(before);
  });

  it('egress gateway (Istio docs pattern): sidecar -> egress gateway over mTLS -> TLS originated to the external host', async () => {
    const egressPort = (await import('./support/local-mesh.js')).freePort;
    const local80 = await egressPort();
    const egress = await mesh.gateway('egressgateway', { istio: 'egressgateway' }, { 80: local80 });
    // The gateway is reached as a mesh service (as istio-egressgateway.istio-system is in Istio's docs).
    await mesh.applyAndSync(
      `apiVersion: v1
kind: Secret
metadata: {name: external-client}
type: kubernetes.io/tls
data: {tls.crt: ${b64(client1.cert)}, tls.key: ${b64(client1.key)}, ca.crt: ${b64(ca.cert)}}
`,
      `apiVersion: v1
kind: Service
metadata: {name: egressgateway}
spec:
  selector: {istio: egressgateway}
  ports: [{name: http, port: 80, targetPort: 80}]
`,
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [api.external.com]
`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-api-through-egress-gateway}
spec:
  hosts: [api.external.com]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route: [{destination: {host: egressgateway.default.svc.cluster.local, port: {number: 80}}}]
  - match: [{gateways: [istio-egressgateway], port: 80}]
    route: [{destination: {host: api.external.com, port: {number: 80}}}]
`,
    );
    const before = seen.length;
    const r = await send(client, 'http://api.external.com/via-egress');
    expect(r.status).toBe(200);
    expect(seen.length).toBe(before + 1);
    expect(seen.at(-1)!.url).toBe('/via-egress');
    // It went through the gateway: the gateway's access log has the request, to the external cluster.
    // (The sidecar dials the gateway with mTLS: its endpoint is a meshed workload, and the gateway's plain chain is permissive.)
    const atGateway = await eventually('the egress gateway logged the request', () =>
      egress.accessLog.find((e) => e.path === '/via-egress'),
    );
    expect(atGateway.upstream_cluster).toBe('outbound|80||api.external.com');
    const atSidecar = await eventually('the sidecar logged the request', () =>
      client.accessLog.find((e) => e.path === '/via-egress'),
    );
    expect(atSidecar.upstream_cluster).toBe('outbound|80||egressgateway.default.svc.cluster.local');
  });
});
