/**
 * Authorization end to end on the local platform: the seed's two AuthorizationPolicies and its
 * RequestAuthentication exactly as written, applied as YAML, pushed by the control plane, and
 * enforced by product-service's sidecar on calls from sidecars with real SPIFFE identities. The
 * seed's issuer (https://auth.example.com) is a real HTTPS server this test starts; the control
 * plane reaches it through a connect-to mapping (like curl's --connect-to), verifying TLS for
 * auth.example.com, and pushes the keys inline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { LocalMeshForTest, eventually, send, type Sidecar } from './support/local-mesh.js';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';

const URL_PRODUCTS = 'http://product-service:9080';
let mesh: LocalMeshForTest;
let product: Sidecar;
let user: Sidecar;
let cart: Sidecar;
let issuer: Server;
let jwks: { keys: JWK[] } = { keys: [] };
const keys: Record<string, Awaited<ReturnType<typeof generateKeyPair>>['privateKey']> = {};

async function addKey(kid: string, only = false): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  keys[kid] = privateKey;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  jwks = { keys: only ? [jwk] : [...jwks.keys, jwk] };
}

function token(kid: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer('https://auth.example.com')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(keys[kid]!);
}

beforeAll(async () => {
  const ca = await makeTestCa('issuer CA');
  const leaf = await makeTestLeaf(ca, { dns: ['auth.example.com'] });
  await addKey('k1');
  issuer = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
  const port = (issuer.address() as AddressInfo).port;
  mesh = await LocalMeshForTest.start({
    jwks: { ca: ca.cert, connectTo: { 'auth.example.com:443': `127.0.0.1:${port}` }, refreshMs: 200 },
  });
  product = await mesh.run(
    'product-service',
    { app: 'product-service' },
    { service: 'product-service', handler: (req, res) => res.end(`product-service saw ${req.method} ${req.url}`) },
  );
  user = await mesh.run('user-service', { app: 'user-service' });
  cart = await mesh.run('cart', { app: 'cart' });
  await mesh.settle();
});
afterAll(async () => {
  await mesh?.stop();
  issuer?.closeAllConnections();
  await new Promise((r) => issuer?.close(r));
});

const status = async (from: Sidecar, path: string, o: { method?: string; token?: string } = {}) =>
  (
    await send(from, `${URL_PRODUCTS}${path}`, {
      ...(o.method ? { method: o.method } : {}),
      ...(o.token ? { headers: { authorization: `Bearer ${o.token}` } } : {}),
    })
  ).status;

describe('the seed AuthorizationPolicies and JWT example, end to end', () => {
  it('without a policy every caller is allowed', async () => {
    expect(await status(cart, '/products/1')).toBe(200);
  });

  it('first policy: only user-service, only GET and POST; denials are 403 RBAC: access denied and never reach the app', async () => {
    await mesh.applyAndSync(`apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: product-service-policy
spec:
  selector:
    matchLabels:
      app: product-service
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/user-service"]
    to:
    - operation:
        methods: ["GET", "POST"]
`);
    const before = product.received.length;
    expect(await status(user, '/products/1')).toBe(200);
    expect(await status(user, '/products/1', { method: 'POST' })).toBe(200);
    const del = await send(user, `${URL_PRODUCTS}/products/1`, { method: 'DELETE' });
    expect({ status: del.status, body: del.body }).toEqual({ status: 403, body: 'RBAC: access denied' });
    expect(await status(cart, '/products/1')).toBe(403);
    expect(await status(user, '/admin')).toBe(200);
    // Without a RequestAuthentication a token proves nothing: still denied.
    expect(await status(cart, '/products/public/list', { token: await token('k1') })).toBe(403);
    expect(product.received.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /products/1',
      'POST /products/1',
      'GET /admin',
    ]);
    const denied = product.accessLog.filter((e) => e.response_code === 403);
    expect(denied.at(-1)).toMatchObject({ response_code_details: 'rbac_access_denied_matched_policy[none]' });
  });

  it('second policy + RequestAuthentication: user-service on /products/*, any valid JWT on GET /products/public/*, invalid tokens 401', async () => {
    await mesh.applyAndSync(
      `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: product-service-policy
spec:
  selector:
    matchLabels:
      app: product-service
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/user-service"]
    to:
    - operation:
        methods: ["GET", "POST"]
        paths: ["/products/*"]
  - from:
    - source:
        requestPrincipals: ["*"]
    to:
    - operation:
        methods: ["GET"]
        paths: ["/products/public/*"]
`,
      `apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: jwt-auth
spec:
  selector:
    matchLabels:
      app: product-service
  jwtRules:
  - issuer: "https://auth.example.com"
    jwksUri: "https://auth.example.com/.well-known/jwks.json"
    fromHeaders:
    - name: Authorization
      prefix: "Bearer "
`,
    );
    const good = await token('k1');
    // The control plane fetches the issuer's keys over HTTPS and pushes them: tokens verify once they arrive.
    await eventually(
      'the issuer keys pushed to product-service',
      async () => (await status(cart, '/products/public/list', { token: good })) === 200,
      30_000,
    );
    expect(await status(user, '/products/1')).toBe(200);
    expect(await status(user, '/admin')).toBe(403);
    expect(await status(cart, '/products/public/list')).toBe(403);
    expect(await status(cart, '/products/1', { token: good })).toBe(403);
    expect(await status(cart, '/products/public/list', { method: 'POST', token: good })).toBe(403);
    const forged = await new SignJWT({ sub: 'mallory' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://auth.example.com')
      .setExpirationTime('5m')
      .sign((await generateKeyPair('ES256')).privateKey);
    const r = await send(cart, `${URL_PRODUCTS}/products/public/list`, {
      headers: { authorization: `Bearer ${forged}` },
    });
    expect({ status: r.status, body: r.body }).toEqual({ status: 401, body: 'Jwt verification fails' });
    expect(product.received.every((q) => q.headers.authorization === undefined)).toBe(true);
  });

  it('a key rotation at the issuer reaches the sidecar: tokens signed with the new key verify', async () => {
    await addKey('k2', true);
    const rotated = await token('k2');
    await eventually(
      'the rotated keys pushed',
      async () => (await status(cart, '/products/public/list', { token: rotated })) === 200,
      30_000,
    );
    expect(await status(cart, '/products/public/list', { token: await token('k1') })).toBe(401);
  });

  it('a DENY policy in the root namespace applies mesh-wide and wins over the ALLOW', async () => {
    await mesh.applyAndSync(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-secret
  namespace: mesh-system
spec:
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/products/secret*"]
`);
    expect(await status(user, '/products/1')).toBe(200);
    expect(await status(user, '/products/secret/plans')).toBe(403);
    expect(await status(user, '/products/x/../secret')).toBe(403);
    expect(product.accessLog.at(-1)).toMatchObject({
      response_code_details: 'rbac_access_denied_matched_policy[ns[mesh-system]-policy[deny-secret]-rule[0]]',
    });
  });
});
