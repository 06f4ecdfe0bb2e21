/**
 * JWKS refresh end to end on the local platform: the issuer is a real HTTPS server this test
 * starts, the control plane keeps its 20-minute refresh (istiod's default), and a key rotation at
 * the issuer still reaches product-service's sidecar within seconds: the sidecar meets a token
 * whose kid it lacks, tells the control plane on its config stream, the control plane fetches the
 * keys again and pushes them. No restart of anything. With the issuer down the last good keys stay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { LocalMeshForTest, eventually, send, type Sidecar } from './support/local-mesh.js';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';

const ISSUER = 'https://auth.example.com';
let mesh: LocalMeshForTest;
let product: Sidecar;
let cart: Sidecar;
let issuer: Server;
const served = { status: 200, jwks: { keys: [] as JWK[] } };
let fetches = 0;
const keys: Record<string, Awaited<ReturnType<typeof generateKeyPair>>['privateKey']> = {};

/** Makes key `kid`; the issuer then serves only it (a rotation that drops the old key). */
async function rotateTo(kid: string): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  keys[kid] = privateKey;
  served.jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] };
}

function token(kid: string): Promise<string> {
  return new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(ISSUER)
    .setExpirationTime('5m')
    .sign(keys[kid]!);
}

const call = async (t: string) =>
  send(cart, 'http://product-service:9080/orders', { headers: { authorization: `Bearer ${t}` } });

beforeAll(async () => {
  const ca = await makeTestCa('issuer CA');
  const leaf = await makeTestLeaf(ca, { dns: ['auth.example.com'] });
  await rotateTo('k1');
  issuer = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => {
    fetches++;
    res.statusCode = served.status;
    res.setHeader('content-type', 'application/json');
    res.end(served.status === 200 ? JSON.stringify(served.jwks) : 'unavailable');
  });
  await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
  const port = (issuer.address() as AddressInfo).port;
  mesh = await LocalMeshForTest.start({
    // The default 20-minute refresh: only an unknown kid can bring a rotation in this test's time.
    // Unknown-kid fetches at most once a second here (a minute by default) so the test need not wait.
    log: (l) => process.env.JWKS_TEST_LOG && process.stderr.write(l + '\n'),
    jwks: { ca: ca.cert, connectTo: { 'auth.example.com:443': `127.0.0.1:${port}` }, unknownKidMinIntervalMs: 1000 },
  });
  product = await mesh.run(
    'product-service',
    { app: 'product-service' },
    { service: 'product-service', handler: (_req, res) => res.end('orders') },
  );
  cart = await mesh.run('cart', { app: 'cart' });
  await mesh.settle();
  await mesh.applyAndSync(
    `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
spec:
  selector:
    matchLabels:
      app: product-service
  jwtRules:
  - issuer: "${ISSUER}"
    jwksUri: "${ISSUER}/.well-known/jwks.json"
`,
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
spec:
  selector:
    matchLabels:
      app: product-service
  rules:
  - from:
    - source:
        requestPrincipals: ["*"]
`,
  );
});
afterAll(async () => {
  await mesh?.stop();
  issuer?.closeAllConnections();
  await new Promise((r) => issuer?.close(r));
});

describe('JWKS refresh on an unknown kid', () => {
  it('a rotation at the issuer reaches the sidecar through the unknown kid, without a restart; the old key stops working', async () => {
    const first = await token('k1');
    await eventually('the first keys pushed', async () => (await call(first)).status === 200, 30_000);
    expect(fetches).toBe(1);
    await rotateTo('k2');
    const rotated = await token('k2');
    // The sidecar has only k1: refused, and the control plane is told.
    expect(await call(rotated)).toMatchObject({ status: 401, body: 'Jwt verification fails' });
    await eventually('the rotated keys pushed', async () => (await call(rotated)).status === 200, 30_000);
    // One fetch brought the new key: the tokens refused while it was on its way asked for no more.
    expect(fetches).toBe(2);
    expect(await call(first)).toMatchObject({ status: 401 });
    expect(product.received.filter((r) => r.url === '/orders').length).toBeGreaterThan(0);
  }, 90_000);

  it('with the issuer down, an unknown kid makes a fetch that fails and the last good keys stay in force', async () => {
    const good = await token('k2');
    served.status = 503;
    const before = fetches;
    await rotateTo('k3');
    const unknown = await token('k3');
    expect((await call(unknown)).status).toBe(401);
    await eventually('the control plane tried the issuer', () => Promise.resolve(fetches > before), 30_000);
    expect((await call(good)).status).toBe(200);
    expect((await call(unknown)).status).toBe(401);
    // Back up: the next unknown-kid token brings k3.
    served.status = 200;
    await eventually('k3 pushed once the issuer is back', async () => (await call(unknown)).status === 200, 30_000);
  }, 90_000);
});
