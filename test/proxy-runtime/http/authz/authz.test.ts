/**
 * Authorization and JWT authentication in the destination sidecar, on real traffic: client
 * sidecars with real SPIFFE identities (mTLS) call a server sidecar whose inbound listener carries
 * the policies; JWTs are signed with jose and verified against the inline key set.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { makeTestCa, makeTestLeaf } from '../../../support/tls.js';
import { client as grpcClient, startGrpcServer, unary } from '../../grpc-support.js';
import { authzPolicies } from '../../../../src/control-plane/translate/authorization.js';
import type { AuthorizationPolicy } from '../../../../src/config/index.js';
import {
  Agent,
  closeAfter,
  eventually,
  freePort,
  metricValue,
  send,
  startProxy,
  startUpstream,
} from '../../support.js';

const USER_ID = 'spiffe://cluster.local/ns/default/sa/user-service';
const OTHER_ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/product-service';
let files: Record<string, string>;
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let signer: { key: SigningKey; jwks: string };

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'authz-'));
  const ca = await makeTestCa();
  const w = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  files = { ca: w('ca.pem', ca.cert) };
  for (const [name, id] of [
    ['user', USER_ID],
    ['other', OTHER_ID],
    ['server', SERVER_ID],
  ] as const) {
    const leaf = await makeTestLeaf(ca, { uri: [id] });
    files[`${name}Cert`] = w(`${name}.pem`, leaf.cert);
    files[`${name}Key`] = w(`${name}.key`, leaf.key);
  }
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  signer = {
    key: privateKey,
    jwks: JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] }),
  };
});

function token(
  claims: Record<string, unknown>,
  o: { iss?: string; exp?: string | number; kid?: string } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? 'k1' })
    .setIssuer(o.iss ?? 'https://auth.example.com')
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
    .sign(signer.key);
}

function serverSidecar(appPort: number, tcpPort: number, inboundPort: number, authz: unknown) {
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'server-1',
    node: { workload: 'product-service', namespace: 'default', labels: { app: 'product-service' } },
    identity: { certChain: files.serverCert, privateKey: files.serverKey, trustRoots: files.ca },
    listeners: [
      {
        name: 'inbound',
        address: '127.0.0.1',
        port: inboundPort,
        direction: 'inbound',
        chains: [{ routeConfig: 'inbound', tcpCluster: 'app-tcp', tls: 'strict' }],
        authz,
      },
    ],
    routes: [
      { name: 'inbound', virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] },
    ],
    clusters: [
      { name: 'app', endpoints: [{ address: '127.0.0.1', port: appPort }] },
      { name: 'app-tcp', endpoints: [{ address: '127.0.0.1', port: tcpPort }] },
    ],
  };
}

function clientSidecar(who: 'user' | 'other', inboundPort: number) {
  const ep = {
    address: '127.0.0.1',
    port: inboundPort,
    identity: SERVER_ID,
    labels: { app: 'product-service', namespace: 'default' },
  };
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'client-1',
    node: { workload: who, namespace: who === 'user' ? 'default' : 'shop', labels: { app: who } },
    identity: { certChain: files[`${who}Cert`]!, privateKey: files[`${who}Key`]!, trustRoots: files.ca },
    listeners: [
      { name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'out' }] },
      { name: 'out-tcp', port: 0, direction: 'outbound', chains: [{ protocol: 'tcp', tcpCluster: 'product' }] },
    ],
    routes: [
      {
        name: 'out',
        virtualHosts: [{ name: 'product', domains: ['*'], routes: [{ route: [{ cluster: 'product' }] }] }],
      },
    ],
    clusters: [
      { name: 'product', service: 'product-service.default.svc.cluster.local', tls: 'mutual', endpoints: [ep] },
    ],
  };
}

async function tcpEcho(): Promise<number> {
  const s = createNetServer((c) => c.on('data', (d) => c.write(`echo:${d.toString()}`)));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closeAfter({ close: () => new Promise<void>((r) => s.close(() => r())) });
  return (s.address() as { port: number }).port;
}

/** Sends `text` through a TCP port; resolves with what came back before the connection closed. */
function tcpExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const c = netConnect(port, '127.0.0.1', () => c.write(text));
    c.on('data', (d) => {
      got += d.toString();
      if (got.length >= text.length + 5) c.end();
    });
    c.on('error', () => undefined);
    c.on('close', () => resolve(got));
  });
}

async function mesh(authz: unknown, port?: number) {
  const app = await startUpstream('product', (req, res) => res.end(`app saw ${req.method} ${req.url}`));
  const inboundPort = port ?? (await freePort());
  const server = await startProxy(serverSidecar(app.port, await tcpEcho(), inboundPort, authz));
  const user = await startProxy(clientSidecar('user', inboundPort));
  const other = await startProxy(clientSidecar('other', inboundPort));
  return {
    app,
    server,
    inboundPort,
    user: user.proxy.listenerPort('out'),
    other: other.proxy.listenerPort('out'),
    userTcp: user.proxy.listenerPort('out-tcp'),
    otherTcp: other.proxy.listenerPort('out-tcp'),
  };
}

// The seed's second AuthorizationPolicy, as the control plane sends it.
const SEED_POLICY = {
  name: 'ns[default]-policy[product-service-policy]',
  action: 'ALLOW',
  rules: [
    {
      from: [{ source: { principals: ['cluster.local/ns/default/sa/user-service'] } }],
      to: [{ operation: { methods: ['GET', 'POST'], paths: ['/products/*'] } }],
    },
    {
      from: [{ source: { requestPrincipals: ['*'] } }],
      to: [{ operation: { methods: ['GET'], paths: ['/products/public/*'] } }],
    },
  ],
};

describe('AuthorizationPolicy in the destination sidecar', () => {
  it('the seed policy: user-service may GET/POST /products/*, another caller is denied 403 with the rule in the access log and the metric', async () => {
    const m = await mesh({ policies: [SEED_POLICY] });
    expect(await send(m.user, { path: '/products/1' })).toMatchObject({ status: 200, body: 'app saw GET /products/1' });
    expect(await send(m.user, { method: 'POST', path: '/products/1' })).toMatchObject({ status: 200 });
    expect(await send(m.user, { method: 'DELETE', path: '/products/1' })).toMatchObject({
      status: 403,
      body: 'RBAC: access denied',
    });
    expect(await send(m.user, { path: '/admin' })).toMatchObject({ status: 403 });
    expect(await send(m.other, { path: '/products/1' })).toMatchObject({ status: 403, body: 'RBAC: access denied' });
    expect(await send(m.other, { method: 'DELETE', path: '/products/1' })).toMatchObject({ status: 403 });
    expect(m.app.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /products/1', 'POST /products/1']);
    const denied = m.server.accessLog().filter((e) => e.response_code === 403);
    expect(denied).toHaveLength(4);
    expect(denied[0]).toMatchObject({ response_code_details: 'rbac_access_denied_matched_policy[none]' });
    const labels = { reporter: 'destination', response_code: '403', source_principal: OTHER_ID };
    expect(await metricValue(m.server.proxy, 'istio_requests_total', labels)).toBe(2);
  });

  it('the seed policy: any valid JWT may GET /products/public/*, no token or a bad one may not', async () => {
    const m = await mesh({
      policies: [SEED_POLICY],
      jwtRules: [
        {
          issuer: 'https://auth.example.com',
          jwks: signer.jwks,
          fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
        },
      ],
    });
    const good = await token({ sub: 'alice' });
    expect(
      await send(m.other, { path: '/products/public/list', headers: { authorization: `Bearer ${good}` } }),
    ).toMatchObject({ status: 200 });
    // the token is verified, then not forwarded (forwardOriginalToken: false)
    expect(m.app.seen.at(-1)!.headers.authorization).toBeUndefined();
    expect(await send(m.other, { path: '/products/public/list' })).toMatchObject({ status: 403 });
    expect(
      await send(m.other, {
        method: 'POST',
        path: '/products/public/list',
        headers: { authorization: `Bearer ${good}` },
      }),
    ).toMatchObject({ status: 403 });
    const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(
      await send(m.other, { path: '/products/public/list', headers: { authorization: `Bearer ${forged}` } }),
    ).toMatchObject({ status: 401, body: 'Jwt verification fails' });
    const expired = await token({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 3600 });
    expect(
      await send(m.other, { path: '/products/public/list', headers: { authorization: `Bearer ${expired}` } }),
    ).toMatchObject({ status: 401, body: 'Jwt is expired' });
    const stranger = await token({ sub: 'alice' }, { iss: 'https://evil.example.com' });
    expect(
      await send(m.other, { path: '/products/public/list', headers: { authorization: `Bearer ${stranger}` } }),
    ).toMatchObject({ status: 401 });
    expect(m.app.seen).toHaveLength(1);
  });

  it('DENY on /secret* wins over ALLOW, on the normalized path (no bypass with dot segments or escapes)', async () => {
    const m = await mesh({
      policies: [
        {
          name: 'ns[default]-policy[deny-secret]',
          action: 'DENY',
          rules: [{ to: [{ operation: { paths: ['/secret*'] } }] }],
        },
        { name: 'ns[default]-policy[allow-all]', action: 'ALLOW', rules: [{}] },
      ],
    });
    expect(await send(m.user, { path: '/public' })).toMatchObject({ status: 200 });
    for (const path of ['/secret', '/secret/x', '/a/../secret', '/%73ecret', '/./secret?x=1']) {
      expect(await send(m.user, { path }), path).toMatchObject({ status: 403, body: 'RBAC: access denied' });
    }
    expect(m.server.accessLog().filter((e) => e.response_code === 403)[0]).toMatchObject({
      response_code_details: 'rbac_access_denied_matched_policy[ns[default]-policy[deny-secret]-rule[0]]',
    });
    expect(m.app.seen.map((s) => s.url)).toEqual(['/public']);
  });

  it('a policy change applies to the next request on a kept-alive connection; the request in flight completes', async () => {
    const inbound = await freePort();
    let release: () => void = () => undefined;
    const app = await startUpstream('product', (req, res) => {
      if (req.url === '/slow') release = () => res.end('slow done');
      else res.end('ok');
    });
    const tcp = await tcpEcho();
    const server = await startProxy(serverSidecar(app.port, tcp, inbound, { policies: [] }));
    const user = await startProxy(clientSidecar('user', inbound));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    closeAfter({ close: () => agent.destroy() });
    const port = user.proxy.listenerPort('out');
    expect(await send(port, { agent })).toMatchObject({ status: 200 });
    const slow = send(port, { path: '/slow' });
    await eventually(() => app.seen.some((s) => s.url === '/slow'), 'the slow request reached the app');
    const denyAll = serverSidecar(app.port, tcp, inbound, {
      policies: [{ name: 'ns[default]-policy[deny-all]', action: 'ALLOW', rules: [] }],
    });
    expect(await server.proxy.applyConfig({ ...denyAll, version: 'server-2' })).toMatchObject({ ok: true });
    expect(await send(port, { agent })).toMatchObject({ status: 403 });
    release();
    expect(await slow).toMatchObject({ status: 200, body: 'slow done' });
  });

  it('CUSTOM fails closed: with no external authorizer the requests its rules match are denied (first), others pass', async () => {
    // As the control plane translates it: the CUSTOM policy (Istio's ext_authz example) becomes a DENY of its rules.
    const policy = (name: string, spec: Record<string, unknown>) =>
      ({
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name, namespace: 'default' },
        spec,
      }) as unknown as AuthorizationPolicy;
    const policies = authzPolicies([
      policy('allow-all', { rules: [{}] }),
      policy('ext-authz', {
        action: 'CUSTOM',
        provider: { name: 'sample-ext-authz-http' },
        rules: [{ to: [{ operation: { paths: ['/headers'] } }] }],
      }),
    ]);
    expect(policies.map((p) => `${p.action} ${p.name}`)).toEqual([
      'DENY ns[default]-policy[ext-authz]',
      'ALLOW ns[default]-policy[allow-all]',
    ]);
    const m = await mesh({ policies });
    expect(await send(m.user, { path: '/ip' })).toMatchObject({ status: 200 });
    expect(await send(m.user, { path: '/headers' })).toMatchObject({ status: 403, body: 'RBAC: access denied' });
    expect(await send(m.other, { path: '/headers' })).toMatchObject({ status: 403 });
    expect(m.server.accessLog().filter((e) => e.response_code === 403)[0]).toMatchObject({
      response_code_details: 'rbac_access_denied_matched_policy[ns[default]-policy[ext-authz]-rule[0]]',
    });
    // A CUSTOM policy with no rules matches nothing (as in Istio): it blocks nothing, and allows nothing either.
    const empty = await mesh({
      policies: authzPolicies([policy('ext-none', { action: 'CUSTOM', provider: { name: 'x' } })]),
    });
    expect(await send(empty.user, { path: '/headers' })).toMatchObject({ status: 200 });
    expect(m.app.seen.map((s) => s.url)).toEqual(['/ip']);
  });

  it('spec: {} (ALLOW without rules) denies everything; no policy allows everything', async () => {
    const denyAll = await mesh({ policies: [{ name: 'ns[default]-policy[deny-all]', action: 'ALLOW', rules: [] }] });
    expect(await send(denyAll.user)).toMatchObject({ status: 403 });
    const none = await mesh({ policies: [] });
    expect(await send(none.other)).toMatchObject({ status: 200 });
  });

  it('source namespaces / notPrincipals, operation notMethods / hosts / ports, and when conditions on headers and source.namespace', async () => {
    const m = await mesh({
      policies: [
        {
          name: 'ns[default]-policy[a]',
          action: 'ALLOW',
          rules: [
            {
              from: [{ source: { namespaces: ['default'] } }],
              to: [{ operation: { notMethods: ['DELETE'], hosts: ['product-service*'] } }],
            },
          ],
        },
        {
          name: 'ns[default]-policy[b]',
          action: 'ALLOW',
          rules: [
            {
              from: [{ source: { notPrincipals: ['cluster.local/ns/default/*'] } }],
              when: [
                { key: 'request.headers[x-team]', values: ['cart'] },
                { key: 'source.namespace', values: ['shop'] },
              ],
            },
          ],
        },
      ],
    });
    expect(await send(m.user, { host: 'product-service:8080' })).toMatchObject({ status: 200 });
    expect(await send(m.user, { host: 'other-host' })).toMatchObject({ status: 403 });
    expect(await send(m.user, { method: 'DELETE', host: 'product-service' })).toMatchObject({ status: 403 });
    expect(await send(m.other, { host: 'product-service' })).toMatchObject({ status: 403 });
    expect(await send(m.other, { headers: { 'x-team': 'cart' } })).toMatchObject({ status: 200 });
    expect(await send(m.user, { headers: { 'x-team': 'cart' }, host: 'nope' })).toMatchObject({ status: 403 });
  });

  it('TCP: an L4 ALLOW rule admits its principal; an ALLOW rule needing HTTP fields never matches TCP; a DENY rule with HTTP fields still denies', async () => {
    const l4 = await mesh({
      policies: [
        {
          name: 'ns[default]-policy[tcp]',
          action: 'ALLOW',
          rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/user-service'] } }] }],
        },
      ],
    });
    expect(await tcpExchange(l4.userTcp, 'hello')).toBe('echo:hello');
    expect(await tcpExchange(l4.otherTcp, 'hello')).toBe('');
    const log = l4.server.accessLog().filter((e) => e.protocol === 'tcp');
    expect(log.some((e) => e.connection_termination_details === 'rbac_access_denied_matched_policy[none]')).toBe(true);

    const httpOnly = await mesh({
      policies: [
        {
          name: 'ns[default]-policy[get-only]',
          action: 'ALLOW',
          rules: [{ to: [{ operation: { methods: ['GET'] } }] }],
        },
      ],
    });
    expect(await tcpExchange(httpOnly.userTcp, 'hello')).toBe('');
    expect(await send(httpOnly.user)).toMatchObject({ status: 200 });

    const denyHttp = await mesh({
      policies: [
        {
          name: 'ns[default]-policy[deny-get]',
          action: 'DENY',
          rules: [{ from: [{ source: { namespaces: ['shop'] } }], to: [{ operation: { methods: ['GET'] } }] }],
        },
      ],
    });
    expect(await tcpExchange(denyHttp.otherTcp, 'hello')).toBe('');
    expect(await tcpExchange(denyHttp.userTcp, 'hello')).toBe('echo:hello');
    expect(await send(denyHttp.other, { method: 'POST' })).toMatchObject({ status: 200 });
    expect(await send(denyHttp.other)).toMatchObject({ status: 403 });
  });

  it('ports, ipBlocks and AUDIT: audit rules are logged and never block', async () => {
    const inbound = await freePort();
    const app = await startUpstream('product');
    const server = await startProxy(
      serverSidecar(app.port, await tcpEcho(), inbound, {
        policies: [
          {
            name: 'ns[default]-policy[audit]',
            action: 'AUDIT',
            rules: [{ to: [{ operation: { paths: ['/audited'] } }] }],
          },
          {
            name: 'ns[default]-policy[port]',
            action: 'ALLOW',
            rules: [
              { from: [{ source: { ipBlocks: ['127.0.0.0/8'] } }], to: [{ operation: { ports: [String(inbound)] } }] },
            ],
          },
        ],
      }),
    );
    const user = await startProxy(clientSidecar('user', inbound));
    expect(await send(user.proxy.listenerPort('out'), { path: '/audited' })).toMatchObject({ status: 200 });
    expect(server.accessLog().at(-1)).toMatchObject({ rbac_audit_matched_policy: 'ns[default]-policy[audit]-rule[0]' });
    const elsewhere = await startProxy(
      serverSidecar(app.port, await tcpEcho(), await freePort(), {
        policies: [
          {
            name: 'ns[default]-policy[port]',
            action: 'ALLOW',
            rules: [
              { to: [{ operation: { ports: ['1'] } }] },
              { from: [{ source: { notIpBlocks: ['127.0.0.0/8'] } }] },
            ],
          },
        ],
      }),
    );
    const user2 = await startProxy(clientSidecar('user', elsewhere.proxy.listenerPort('inbound')));
    expect(await send(user2.proxy.listenerPort('out'))).toMatchObject({ status: 403 });
  });

  it('the other source, operation and when fields decide on real traffic', async () => {
    const deny = (name: string, rule: unknown) => ({
      name: `ns[default]-policy[${name}]`,
      action: 'DENY',
      rules: [rule],
    });
    const m0 = { port: await freePort() };
    const m = await mesh(
      {
        numTrustedProxies: 1,
        policies: [
          deny('sa', {
            from: [{ source: { serviceAccounts: ['shop/cart'] } }],
            to: [{ operation: { paths: ['/sa'] } }],
          }),
          deny('not-ns', {
            from: [{ source: { notNamespaces: ['default'] } }],
            to: [{ operation: { paths: ['/not-ns'] } }],
          }),
          deny('remote', { from: [{ source: { remoteIpBlocks: ['203.0.113.0/24'] } }] }),
          deny('not-remote', { from: [{ source: { notRemoteIpBlocks: ['127.0.0.0/8', '198.51.100.0/24'] } }] }),
          deny('not-hosts', { to: [{ operation: { notHosts: ['product-service', 'product-service.*'] } }] }),
          deny('not-paths', { to: [{ operation: { notPaths: ['/sa', '/not-ns', '/ok*', '/cond/*'] } }] }),
          deny('not-ports', { to: [{ operation: { notPorts: [String(m0.port)] } }] }),
          deny('source-ip', {
            to: [{ operation: { paths: ['/cond/source-ip'] } }],
            when: [{ key: 'source.ip', values: ['127.0.0.1/32'] }],
          }),
          deny('remote-ip', {
            to: [{ operation: { paths: ['/cond/remote-ip'] } }],
            when: [{ key: 'remote.ip', notValues: ['198.51.100.7'] }],
          }),
          deny('dest-ip', {
            to: [{ operation: { paths: ['/cond/dest-ip'] } }],
            when: [{ key: 'destination.ip', values: ['127.0.0.1'] }],
          }),
          deny('dest-port', {
            to: [{ operation: { paths: ['/cond/dest-port'] } }],
            when: [{ key: 'destination.port', values: [String(m0.port)] }],
          }),
          deny('source-principal', {
            to: [{ operation: { paths: ['/cond/principal'] } }],
            when: [{ key: 'source.principal', values: ['cluster.local/ns/shop/*'] }],
          }),
          deny('td', {
            from: [{ source: { trustDomains: ['cluster.local'] } }],
            to: [{ operation: { paths: ['/cond/td'] } }],
          }),
          deny('not-td', { from: [{ source: { notTrustDomains: ['cluster.local'] } }] }),
          deny('not-sa', {
            from: [{ source: { notServiceAccounts: ['default/user-service'] } }],
            to: [{ operation: { paths: ['/cond/not-sa'] } }],
          }),
        ],
      },
      m0.port,
    );
    const ok = { host: 'product-service', headers: { 'x-forwarded-for': '198.51.100.7' } };
    expect(await send(m.user, { ...ok, path: '/ok' })).toMatchObject({ status: 200 });
    expect(await send(m.other, { ...ok, path: '/sa' })).toMatchObject({ status: 403 });
    expect(await send(m.user, { ...ok, path: '/sa' })).toMatchObject({ status: 200 });
    expect(await send(m.other, { ...ok, path: '/not-ns' })).toMatchObject({ status: 403 });
    expect(await send(m.user, { ...ok, path: '/not-ns' })).toMatchObject({ status: 200 });
    expect(await send(m.user, { ...ok, path: '/ok', headers: { 'x-forwarded-for': '203.0.113.9' } })).toMatchObject({
      status: 403,
    });
    expect(await send(m.user, { ...ok, path: '/ok', headers: { 'x-forwarded-for': '192.0.2.1' } })).toMatchObject({
      status: 403,
    });
    expect(await send(m.user, { ...ok, path: '/ok', host: 'elsewhere' })).toMatchObject({ status: 403 });
    expect(await send(m.user, { ...ok, path: '/other' })).toMatchObject({ status: 403 });
    for (const c of ['source-ip', 'dest-ip', 'dest-port'])
      expect(await send(m.user, { ...ok, path: `/cond/${c}` }), c).toMatchObject({ status: 403 });
    expect(await send(m.user, { ...ok, path: '/cond/remote-ip' })).toMatchObject({ status: 200 });
    expect(
      await send(m.user, { ...ok, path: '/cond/remote-ip', headers: { 'x-forwarded-for': '198.51.100.8' } }),
    ).toMatchObject({ status: 403 });
    expect(await send(m.user, { ...ok, path: '/cond/principal' })).toMatchObject({ status: 200 });
    expect(await send(m.other, { ...ok, path: '/cond/principal' })).toMatchObject({ status: 403 });
    expect(await send(m.user, { ...ok, path: '/cond/td' })).toMatchObject({ status: 403 });
    expect(await send(m.user, { ...ok, path: '/cond/not-sa' })).toMatchObject({ status: 200 });
    expect(await send(m.other, { ...ok, path: '/cond/not-sa' })).toMatchObject({ status: 403 });
  });

  it('gRPC callers get PERMISSION_DENIED (7) in trailers, as Envoy converts the 403 for them', async () => {
    const grpcPort = await startGrpcServer();
    const inbound = await freePort();
    const policy = {
      name: 'ns[default]-policy[users-only]',
      action: 'ALLOW',
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/user-service'] } }] }],
    };
    const server = await startProxy(serverSidecar(grpcPort, await tcpEcho(), inbound, { policies: [policy] }));
    const user = await startProxy(clientSidecar('user', inbound));
    const other = await startProxy(clientSidecar('other', inbound));
    const allowed = await unary(grpcClient(user.proxy.listenerPort('out')), 'Echo', 'hi');
    expect(allowed.err).toBeNull();
    const refused = await unary(grpcClient(other.proxy.listenerPort('out')), 'Echo', 'hi');
    expect(refused.err?.code).toBe(7);
    expect(refused.err?.details).toBe('RBAC: access denied');
    expect(server.accessLog().at(-1)).toMatchObject({
      response_code_details: 'rbac_access_denied_matched_policy[none]',
    });
  });

  it('presence: REQUIRED refuses a request without a token (401 Jwt is missing)', async () => {
    const m = await mesh({
      jwtRules: [{ issuer: 'https://auth.example.com', jwks: signer.jwks, presence: 'REQUIRED' }],
    });
    expect(await send(m.user)).toMatchObject({ status: 401, body: 'Jwt is missing' });
    expect(await send(m.user, { headers: { authorization: `Bearer ${await token({ sub: 'alice' })}` } })).toMatchObject(
      { status: 200 },
    );
  });

  it('JWT rule fields and request.auth conditions: audiences, fromParams, fromCookies, forwarding and output headers, claims', async () => {
    const m = await mesh({
      jwtRules: [
        {
          issuer: 'https://auth.example.com',
          jwks: signer.jwks,
          audiences: ['shop'],
          fromHeaders: [{ name: 'x-jwt' }],
          fromParams: ['token'],
          fromCookies: ['session'],
          forwardOriginalToken: true,
          outputPayloadToHeader: 'x-jwt-payload',
          outputClaimToHeaders: [{ header: 'x-user', claim: 'sub' }],
          spaceDelimitedClaims: ['roles'],
        },
      ],
      policies: [
        {
          name: 'ns[default]-policy[jwt]',
          action: 'ALLOW',
          rules: [
            {
              from: [{ source: { requestPrincipals: ['https://auth.example.com/alice'] } }],
              to: [{ operation: { paths: ['/alice'] } }],
            },
            { from: [{ source: { notRequestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/anonymous'] } }] },
            {
              to: [{ operation: { paths: ['/claims'] } }],
              when: [
                { key: 'request.auth.claims[org][team]', values: ['payments'] },
                { key: 'request.auth.claims[roles]', values: ['admin'] },
                { key: 'request.auth.audiences', values: ['shop'] },
                { key: 'request.auth.presenter', values: ['web-*'] },
                { key: 'request.auth.principal', values: ['*/bob'] },
              ],
            },
          ],
        },
      ],
    });
    const alice = await token({ sub: 'alice', aud: 'shop' });
    expect(await send(m.user, { path: '/alice', headers: { 'x-jwt': alice } })).toMatchObject({ status: 200 });
    const seen = m.app.seen.at(-1)!;
    expect(seen.headers['x-jwt']).toBe(alice);
    expect(seen.headers['x-user']).toBe('alice');
    expect(JSON.parse(Buffer.from(String(seen.headers['x-jwt-payload']), 'base64url').toString())).toMatchObject({
      sub: 'alice',
      iss: 'https://auth.example.com',
    });
    expect(await send(m.user, { path: `/alice?token=${alice}` })).toMatchObject({ status: 200 });
    expect(await send(m.user, { path: '/alice', headers: { cookie: `a=b; session=${alice}` } })).toMatchObject({
      status: 200,
    });
    expect(
      await send(m.user, { path: '/alice', headers: { 'x-jwt': await token({ sub: 'alice', aud: 'other' }) } }),
    ).toMatchObject({ status: 401, body: 'Audiences in Jwt are not allowed' });
    expect(
      await send(m.user, { path: '/alice', headers: { 'x-jwt': await token({ sub: 'bob', aud: 'shop' }) } }),
    ).toMatchObject({ status: 403 });
    expect(await send(m.user, { path: '/anonymous' })).toMatchObject({ status: 200 });
    expect(await send(m.user, { path: '/anonymous', headers: { 'x-jwt': alice } })).toMatchObject({ status: 403 });
    const bob = await token({
      sub: 'bob',
      aud: ['shop', 'x'],
      azp: 'web-app',
      roles: 'reader admin',
      org: { team: 'payments' },
    });
    expect(await send(m.user, { path: '/claims', headers: { 'x-jwt': bob } })).toMatchObject({ status: 200 });
    const notAdmin = await token({
      sub: 'bob',
      aud: 'shop',
      azp: 'web-app',
      roles: 'reader',
      org: { team: 'payments' },
    });
    expect(await send(m.user, { path: '/claims', headers: { 'x-jwt': notAdmin } })).toMatchObject({ status: 403 });
    const otherTeam = await token({ sub: 'bob', aud: 'shop', azp: 'web-app', roles: 'admin', org: { team: 'growth' } });
    expect(await send(m.user, { path: '/claims', headers: { 'x-jwt': otherTeam } })).toMatchObject({ status: 403 });
  });

  it('connection.sni: the SNI a TLS client with a mesh certificate asked for', async () => {
    const m = await mesh({
      policies: [
        {
          name: 'ns[default]-policy[sni]',
          action: 'ALLOW',
          rules: [{ when: [{ key: 'connection.sni', values: ['product.internal'] }] }],
        },
      ],
    });
    const viaTls = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        const c = tlsConnect(
          {
            host: '127.0.0.1',
            port: m.inboundPort,
            servername,
            ca: readFileSync(files.ca!),
            cert: readFileSync(files.userCert!),
            key: readFileSync(files.userKey!),
            ALPNProtocols: ['http/1.1'],
            checkServerIdentity: () => undefined,
          },
          () => c.write('GET / HTTP/1.1\r\nhost: product-service\r\nconnection: close\r\n\r\n'),
        );
        let got = '';
        c.on('data', (d) => (got += d.toString()));
        c.on('end', () => resolve(got.slice(0, 12)));
        c.on('error', reject);
      });
    expect(await viaTls('product.internal')).toBe('HTTP/1.1 200');
    expect(await viaTls('elsewhere.internal')).toBe('HTTP/1.1 403');
  });

  it('a config with a bad CIDR or a JWKS that is not one is refused (NACK), naming the field', async () => {
    const { proxy } = await startProxy(serverSidecar(1, 1, await freePort(), { policies: [] }));
    const bad = serverSidecar(1, 1, await freePort(), {
      policies: [{ name: 'p', action: 'ALLOW', rules: [{ from: [{ source: { ipBlocks: ['10.0.0.300/8'] } }] }] }],
    });
    const r = await proxy.applyConfig({ ...bad, version: 'bad-1' });
    expect(r).toMatchObject({ ok: false });
    expect(JSON.stringify(r)).toContain('ipBlocks[0]');
    const badJwks = serverSidecar(1, 1, await freePort(), { jwtRules: [{ issuer: 'x', jwks: '{"nokeys": true}' }] });
    expect(JSON.stringify(await proxy.applyConfig({ ...badJwks, version: 'bad-2' }))).toContain('jwtRules[0].jwks');
  });
});
