/**
 * Gateway API mesh routes (GAMMA) end to end on the local mesh: HTTPRoutes and a GRPCRoute whose
 * parentRefs name a Service, applied to a real control plane, pushed to real sidecars (mTLS between
 * them), observed by a client app through its sidecar and by the apps that answer: a weighted split
 * of backendRefs, a header match, a redirect, a rewrite with header filters, and a GRPCRoute method
 * match in front of a real gRPC server.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, LocalMeshForTest, SERVICE_PORT, send, versionsSeen, type Sidecar } from './support/local-mesh.js';

let mesh: LocalMeshForTest;
let client: Sidecar;
let v1: Sidecar;
let grpcLocalPort: number;
const servers: grpc.Server[] = [];

const id = (b: Buffer): Buffer => b;
const method = (name: string) => ({
  path: `/helloworld.Greeter/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const GREETER = { SayHello: method('SayHello'), SayGoodbye: method('SayGoodbye') } as unknown as grpc.ServiceDefinition;

/** A real gRPC server answering every method with `<who> <method>`. */
async function greeter(who: string): Promise<number> {
  const server = new grpc.Server();
  const answer = (m: string) => (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
    cb(null, Buffer.from(`${who} ${m}`));
  server.addService(GREETER, { SayHello: answer('SayHello'), SayGoodbye: answer('SayGoodbye') });
  servers.push(server);
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
}

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  v1 = await mesh.run('web-v1', { app: 'web', version: 'v1' }, { service: 'web', alsoServes: ['web-v1'] });
  await mesh.run('web-v2', { app: 'web', version: 'v2' }, { service: 'web', alsoServes: ['web-v2'] });
  await mesh.run(
    'greeter-v1',
    { app: 'greeter', version: 'v1' },
    { service: 'greeter', alsoServes: ['greeter-v1'], appPort: await greeter('greeter-v1') },
  );
  await mesh.run(
    'greeter-v2',
    { app: 'greeter', version: 'v2' },
    { service: 'greeter', alsoServes: ['greeter-v2'], appPort: await greeter('greeter-v2') },
  );
  grpcLocalPort = await freePort();
  client = await mesh.run(
    'frontend',
    { app: 'frontend' },
    { outboundPorts: [{ service: 'greeter', port: SERVICE_PORT, localPort: grpcLocalPort }] },
  );
  await mesh.settle();
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
});

const web = (path = '/'): string => `http://web:${SERVICE_PORT}${path}`;

describe('Gateway API HTTPRoute / GRPCRoute with a Service parentRef, through real sidecars', () => {
  it('backendRefs weights split web 80/20 between v1 and v2; a headers match sends canaries to v2 only', async () => {
    await mesh.applyAndSync(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web-split
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: web
    port: ${SERVICE_PORT}
  rules:
  - matches:
    - headers:
      - name: x-canary
        value: "true"
    backendRefs:
    - name: web-v2
      port: ${SERVICE_PORT}
  - backendRefs:
    - name: web-v1
      port: ${SERVICE_PORT}
      weight: 80
    - name: web-v2
      port: ${SERVICE_PORT}
      weight: 20
`);
    expect(await versionsSeen(client, 20, web('/'), { 'x-canary': 'true' })).toEqual({ 'web-v2 v2': 20 });
    // 200 draws at p = 0.2: mean 40, sd 5.7; [10, 80] is more than 5 sd away on both sides.
    const split = await versionsSeen(client, 200, web('/'));
    expect(Object.keys(split).sort()).toEqual(['web-v1 v1', 'web-v2 v2']);
    expect(split['web-v2 v2']).toBeGreaterThanOrEqual(10);
    expect(split['web-v2 v2']).toBeLessThanOrEqual(80);
  });

  it('requestRedirect (ReplacePrefixMatch, 301) and urlRewrite with requestHeaderModifier/responseHeaderModifier filters', async () => {
    await mesh.applyAndSync(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web-paths
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: web
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /old
    filters:
    - type: RequestRedirect
      requestRedirect:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /new
        statusCode: 301
  - matches:
    - path:
        type: PathPrefix
        value: /api/v1
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /v1
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: x-routed-by
          value: httproute
        remove:
        - x-internal
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add:
        - name: x-route
          value: web-paths
    backendRefs:
    - name: web-v1
      port: ${SERVICE_PORT}
`);
    const redirected = await send(client, web('/old/items?page=2'));
    expect(redirected.status).toBe(301);
    expect(redirected.headers.location).toBe(`http://web:${SERVICE_PORT}/new/items?page=2`);
    // PathPrefix matches whole segments: /older is not under /old, so web-split's catch-all serves it.
    const older = await send(client, web('/older'));
    expect([older.status, older.headers.location]).toEqual([200, undefined]);

    const before = v1.received.length;
    const rewritten = await send(client, web('/api/v1/users?id=7'), { headers: { 'x-internal': 'secret' } });
    expect(rewritten.status).toBe(200);
    expect(rewritten.body).toBe('web-v1 v1');
    expect(rewritten.headers['x-route']).toBe('web-paths');
    const seen = v1.received.slice(before);
    expect(seen.map((r) => r.url)).toEqual(['/v1/users?id=7']);
    expect(seen[0]!.headers['x-routed-by']).toBe('httproute');
    expect(seen[0]!.headers['x-internal']).toBeUndefined();
  });

  it('GRPCRoute method match: SayHello of helloworld.Greeter to v2, every other call to v1, on a real gRPC server', async () => {
    await mesh.applyAndSync(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: greeter
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: greeter
    port: ${SERVICE_PORT}
  rules:
  - matches:
    - method:
        service: helloworld.Greeter
        method: SayHello
    backendRefs:
    - name: greeter-v2
      port: ${SERVICE_PORT}
  - backendRefs:
    - name: greeter-v1
      port: ${SERVICE_PORT}
`);
    const Ctor = grpc.makeGenericClientConstructor(GREETER, 'Greeter');
    const c = new Ctor(`127.0.0.1:${grpcLocalPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client &
      Record<string, (m: Buffer, cb: (e: grpc.ServiceError | null, v?: Buffer) => void) => void>;
    const call = (m: string) =>
      new Promise<string>((resolve) =>
        c[m]!(Buffer.from('hi'), (e, v) => resolve(e ? `error ${e.code}: ${e.details}` : String(v))),
      );
    try {
      const answers: Record<string, number> = {};
      for (let i = 0; i < 10; i++)
        for (const m of ['SayHello', 'SayGoodbye']) {
          const a = await call(m);
          answers[a] = (answers[a] ?? 0) + 1;
        }
      expect(answers).toEqual({ 'greeter-v2 SayHello': 10, 'greeter-v1 SayGoodbye': 10 });
    } finally {
      c.close();
    }
  });
});
