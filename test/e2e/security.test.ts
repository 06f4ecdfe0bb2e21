/**
 * The mesh's security promises end to end: PeerAuthentication from the seed switches a workload
 * from PERMISSIVE to STRICT (plaintext refused, sidecar-to-sidecar mTLS kept); a peer whose
 * certificate names another identity than the endpoint's is refused by the calling sidecar; a
 * workload without a valid token (never issued, or revoked when `meshctl run` exited) gets no
 * certificate from the mesh CA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { connect } from 'node:net';
import { LocalMeshForTest, SERVICE_PORT, eventually, freePort, send, type Sidecar } from './support/local-mesh.js';
import { startCaIdentity } from '../../src/proxy-runtime/runtime/xds-client/sidecar-stream.js';

let mesh: LocalMeshForTest;
let client: Sidecar;
let reviews: Sidecar;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  reviews = await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  client = await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await mesh.settle();
});
afterAll(async () => {
  await mesh?.stop();
});

/** A plaintext HTTP request straight to a sidecar's inbound port, as a client outside the mesh sends it. */
function plaintext(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', headers: { host: `reviews:${SERVICE_PORT}` }, agent: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
    req.end();
  });
}

describe('mesh security end to end', () => {
  it('PERMISSIVE by default accepts plaintext; the seed PeerAuthentication STRICT refuses it while sidecar-to-sidecar mTLS keeps working', async () => {
    expect(await plaintext(reviews.proxyPort!)).toBe('200 reviews-v1 v1');
    const before = reviews.received.length;
    await mesh.applyAndSync(`apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
`);
    const answer = await plaintext(reviews.proxyPort!);
    expect(answer).toMatch(/^refused: /);
    expect(reviews.received.length).toBe(before);
    // Raw bytes get no HTTP answer either.
    const raw = await new Promise<string>((resolve) => {
      const sock = connect(reviews.proxyPort!, '127.0.0.1', () =>
        sock.write('GET / HTTP/1.1\r\nhost: reviews\r\n\r\n'),
      );
      let data = '';
      sock.on('data', (d: Buffer) => (data += d));
      sock.on('close', () => resolve(data));
      sock.on('error', () => resolve(data));
    });
    expect(raw).not.toMatch(/^HTTP\/1\.1/);
    expect(reviews.received.length).toBe(before);

    const viaMesh = await send(client, `http://reviews:${SERVICE_PORT}/`);
    expect({ status: viaMesh.status, body: viaMesh.body }).toEqual({ status: 200, body: 'reviews-v1 v1' });
  });

  it('refuses a peer whose certificate names another identity than the endpoint expects', async () => {
    // payments-v1 is registered (identity sa/payments) but what answers on its sidecar port is
    // another workload's sidecar, with a valid mesh certificate for sa/impostor.
    const port = await freePort();
    await mesh.platform.registerWorkload({
      name: 'payments-v1',
      namespace: 'default',
      serviceAccount: 'payments',
      labels: { app: 'payments', version: 'v1' },
      address: '127.0.0.1',
      ports: [await freePort()],
      services: ['payments'],
      servicePort: SERVICE_PORT,
      proxyPort: port,
    });
    const impostor = await mesh.run(
      'impostor',
      { app: 'impostor', version: 'v1' },
      {
        service: 'impostor',
        serviceAccount: 'impostor',
        proxyPort: port,
        handler: (_req, res) => res.end('impostor answered'),
      },
    );
    await mesh.settle();
    expect(impostor.identity.status().spiffeId).toBe('spiffe://cluster.local/ns/default/sa/impostor');
    // The impostor's own service works over mTLS: its certificate is valid, only the identity is wrong for payments.
    expect((await send(client, `http://impostor:${SERVICE_PORT}/`)).body).toBe('impostor answered');
    const seenBefore = impostor.received.length;

    const r = await send(client, `http://payments:${SERVICE_PORT}/charge`);
    expect(r.status).toBe(503);
    expect(r.body).not.toContain('impostor');
    expect(impostor.received.length).toBe(seenBefore);
    const entry = await eventually('the access log line', () => client.accessLog.find((e) => e.path === '/charge'));
    expect(entry).toMatchObject({
      response_code: 503,
      upstream_cluster: 'outbound|9080||payments.default.svc.cluster.local',
    });
    // The default retry policy retried the connect failure (2 more times, same refusal): URX as well.
    expect(entry.response_flags).toBe('URX,UF');
    expect(entry).toMatchObject({ attempts: 3 });
  });

  it('gives no certificate to a workload without a valid token: a forged one, or the token of a workload that stopped (meshctl run unregisters on exit)', async () => {
    const reg = await mesh.platform.registerWorkload({
      name: 'ratings-v1',
      namespace: 'default',
      serviceAccount: 'ratings',
      labels: { app: 'ratings' },
      address: '127.0.0.1',
      ports: [await freePort()],
    });
    // While registered, its token gets a certificate for its own identity.
    const valid = await startCaIdentity({
      address: reg.streamAddress,
      trustRoots: reg.trustRoots,
      token: () => reg.token,
    });
    expect(valid.status().spiffeId).toBe('spiffe://cluster.local/ns/default/sa/ratings');
    valid.close();

    await mesh.platform.unregisterWorkload('default', 'ratings-v1');
    await expect(
      startCaIdentity({ address: reg.streamAddress, trustRoots: reg.trustRoots, token: () => reg.token }),
    ).rejects.toThrow(/credential rejected/);
    const forged = `${reg.token.slice(0, -4)}${reg.token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    await expect(
      startCaIdentity({ address: reg.streamAddress, trustRoots: reg.trustRoots, token: () => forged }),
    ).rejects.toThrow(/credential rejected/);
    await expect(
      startCaIdentity({ address: reg.streamAddress, trustRoots: reg.trustRoots, token: () => '' }),
    ).rejects.toThrow(/credential|token/i);
  });
});
