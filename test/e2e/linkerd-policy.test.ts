/**
 * Linkerd's policy kinds end to end on the local platform, in the style of emojivoto's policy: a
 * Server makes its port deny-by-default, an AuthorizationPolicy with a MeshTLSAuthentication (or a
 * ServerAuthorization) lets named identities in, the server's accessPolicy and the default inbound
 * policy decide the rest. Callers are real sidecars with real SPIFFE identities.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { LocalMeshForTest, SERVICE_PORT, send, type Sidecar } from './support/local-mesh.js';

const URL_WEB = `http://emoji-svc:${SERVICE_PORT}/list`;
let mesh: LocalMeshForTest;
let emoji: Sidecar;
let web: Sidecar;
let vote: Sidecar;
/** The port emoji's app listens on: a Server names the container port, as on Kubernetes. */
let appPort: number;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  emoji = await mesh.run('emoji', { app: 'emoji-svc' }, { service: 'emoji-svc', serviceAccount: 'emoji' });
  web = await mesh.run('web', { app: 'web-svc' }, { serviceAccount: 'web' });
  vote = await mesh.run('voting', { app: 'voting-svc' }, { serviceAccount: 'voting' });
  appPort = (emoji.app!.address() as AddressInfo).port;
  await mesh.settle();
});
afterAll(async () => {
  await mesh?.stop();
});

const status = async (from: Sidecar) => (await send(from, URL_WEB)).status;

describe('Linkerd Server + AuthorizationPolicy + MeshTLSAuthentication', () => {
  it('a Server with accessPolicy deny refuses every caller with 403 until an authorization allows one', async () => {
    expect(await status(vote)).toBe(200);
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: emoji-http
  labels: {app: emoji-svc}
spec:
  podSelector:
    matchLabels:
      app: emoji-svc
  port: ${appPort}
  proxyProtocol: HTTP/1
  accessPolicy: deny
`);
    const before = emoji.received.length;
    expect(await status(web)).toBe(403);
    expect(await status(vote)).toBe(403);
    expect(emoji.received.length).toBe(before);
  });

  it('AuthorizationPolicy -> MeshTLSAuthentication (identities and identityRefs) admits web only', async () => {
    await mesh.applyAndSync(
      `apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: emoji-http
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: emoji-http
  requiredAuthenticationRefs:
  - name: web-only
    kind: MeshTLSAuthentication
    group: policy.linkerd.io
`,
      `apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: web-only
spec:
  identities:
  - "web.default.serviceaccount.identity.linkerd.cluster.local"
`,
    );
    expect(await status(web)).toBe(200);
    expect(await status(vote)).toBe(403);
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: web-only
spec:
  identityRefs:
  - kind: ServiceAccount
    name: voting
`);
    expect(await status(web)).toBe(403);
    expect(await status(vote)).toBe(200);
  });

  it('a ServerAuthorization for a service account, and accessPolicy all-authenticated for everyone with a mesh identity', async () => {
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata:
  name: web-too
spec:
  server:
    name: emoji-http
  client:
    meshTLS:
      serviceAccounts:
      - name: web
`);
    expect(await status(web)).toBe(200);
    expect(await status(vote)).toBe(200);
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: web-only
spec:
  identities: ["nobody.default.serviceaccount.identity.linkerd.cluster.local"]
`);
    expect(await status(vote)).toBe(403);
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: emoji-http
  labels: {app: emoji-svc}
spec:
  podSelector:
    matchLabels:
      app: emoji-svc
  port: ${appPort}
  accessPolicy: all-authenticated
`);
    expect(await status(vote)).toBe(200);
  });
});
