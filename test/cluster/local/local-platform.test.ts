/** The local platform against a real control plane (in this process, on loopback ports the OS picks). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../../src/cluster/local/platform.js';
import { ConfigInvalidError, MeshError } from '../../../src/errors.js';
import { CaIdentitySource } from '../../../src/proxy-runtime/runtime/identity/ca-client.js';
import { grpcCertificateSigner } from '../../../src/proxy-runtime/runtime/identity/grpc-signer.js';
import { eventually } from '../../protocol/harness.js';

let home: string;
let cp: RunningControlPlane;
const logs: string[] = [];
const start = () => startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: (l) => logs.push(l) });

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-home-'));
  cp = await start();
});
afterAll(async () => {
  await cp.stop();
});

const reviewsVs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
`;

describe('local platform: config', () => {
  it('applies YAML into 0600 files, reports created/unchanged/configured, and lists it back', async () => {
    const p = new LocalPlatform(home);
    const first = await p.applyConfig([{ file: 'reviews.yaml', text: reviewsVs }], { defaultNamespace: 'default' });
    expect(first).toEqual([
      {
        key: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name: 'reviews' },
        apiVersion: 'networking.istio.io/v1',
        action: 'created',
      },
    ]);
    const file = join(home, 'store', 'networking.istio.io', 'VirtualService', 'default', 'reviews.yaml');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toContain('weight: 90');
    expect(
      (await p.applyConfig([{ file: 'reviews.yaml', text: reviewsVs }], { defaultNamespace: 'default' }))[0]!.action,
    ).toBe('unchanged');
    expect(
      (
        await p.applyConfig(
          [
            {
              file: 'reviews.yaml',
              text: reviewsVs.replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'),
            },
          ],
          { defaultNamespace: 'default' },
        )
      )[0]!.action,
    ).toBe('configured');
    const listed = await p.listConfig({ kind: 'VirtualService' });
    expect(listed.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['default/reviews']);
    // The change reaches the push pipeline (after the debounce window).
    await eventually(
      'the snapshot with the VirtualService',
      () => cp.pipeline.snapshot.configs('VirtualService').length === 1,
    );
  });

  it('rejects an apply with any invalid object, naming file, line and field, and changes nothing', async () => {
    const p = new LocalPlatform(home);
    const text = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - timeout: fast
    route:
    - destination: {host: ratings}
`;
    const err = await p
      .applyConfig([{ file: 'bad.yaml', text }], { defaultNamespace: 'default' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInvalidError);
    const msg = (err as ConfigInvalidError).message;
    expect(msg).toMatch(/bad\.yaml:14:\d+: spec\.http\[0\]\.timeout: .*duration/);
    expect(await p.listConfig({ kind: 'DestinationRule' })).toEqual([]);
  });

  it('refuses workload kinds with the command to use instead', async () => {
    const p = new LocalPlatform(home);
    const text =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: nginx}]}}}\n';
    await expect(p.applyConfig([{ file: 'deploy.yaml', text }], { defaultNamespace: 'default' })).rejects.toThrow(
      /Deployment is not mesh config.*meshctl run/,
    );
  });

  it('deletes by key and says when something was not there', async () => {
    const p = new LocalPlatform(home);
    await p.applyConfig([{ file: 'x.yaml', text: reviewsVs.replace('name: reviews', 'name: temp') }], {
      defaultNamespace: 'default',
    });
    const out = await p.deleteConfig([
      { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name: 'temp' },
      { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name: 'nope' },
    ]);
    expect(out.map((o) => o.action)).toEqual(['deleted', 'not found']);
  });
});

describe('local platform: workloads and identity', () => {
  it('registers a workload, whose token gets a certificate for its identity; unregistering revokes it', async () => {
    const p = new LocalPlatform(home);
    const reg = await p.registerWorkload({
      name: 'reviews-v1',
      namespace: 'default',
      serviceAccount: 'reviews',
      labels: { app: 'reviews', version: 'v1' },
      address: '127.0.0.1',
      ports: [9081],
      services: ['reviews'],
      servicePort: 9080,
    });
    expect(reg.streamAddress).toBe(cp.state.streamAddress);
    expect(await p.listWorkloads()).toEqual([expect.objectContaining({ name: 'reviews-v1', services: ['reviews'] })]);
    expect(cp.pipeline.snapshot.version).toBeDefined();
    const signer = await grpcCertificateSigner({
      address: reg.streamAddress,
      trustRoots: reg.trustRoots,
      credential: () => reg.token,
    });
    const id = await CaIdentitySource.start({ signer, trustRoots: reg.trustRoots });
    expect(id.status().spiffeId).toBe('spiffe://cluster.local/ns/default/sa/reviews');
    id.close();

    await p.unregisterWorkload('default', 'reviews-v1');
    const signer2 = await grpcCertificateSigner({
      address: reg.streamAddress,
      trustRoots: reg.trustRoots,
      credential: () => reg.token,
    });
    await expect(CaIdentitySource.start({ signer: signer2, trustRoots: reg.trustRoots })).rejects.toThrow(
      /credential rejected/,
    );
    expect(logs.join('\n')).not.toContain(reg.token);
  });

  it('refuses API calls without the admin token', async () => {
    const res = await fetch(`${cp.state.apiUrl}/api/v1/workloads`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    // The debug API is readable.
    expect((await fetch(`${cp.state.apiUrl}/debug/syncz`)).status).toBe(200);
  });
});

describe('local platform: restart', () => {
  it('keeps the CA, config and workloads across a control plane restart', async () => {
    const p = new LocalPlatform(home);
    await p.registerWorkload({
      name: 'ratings',
      namespace: 'default',
      serviceAccount: 'ratings',
      labels: { app: 'ratings' },
      address: '127.0.0.1',
      ports: [9082],
    });
    const root = cp.authority.rootPem;
    await cp.stop();
    await expect(p.listConfig()).rejects.toThrow(/not running.*|does not answer/);
    cp = await start();
    expect(cp.authority.rootPem).toBe(root);
    expect((await p.listConfig({ kind: 'VirtualService' })).map((o) => o.metadata.name)).toEqual(['reviews']);
    expect((await p.listWorkloads()).map((w) => w.name)).toContain('ratings');
    expect(cp.pipeline.snapshot.endpointsOf('reviews', 'default', 9080)).toEqual([]);
  });

  it('says how to start the control plane when it is not running', async () => {
    const p = new LocalPlatform(await mkdtemp(join(tmpdir(), 'meshctl-empty-')));
    const err = await p.listWorkloads().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshError);
    expect((err as MeshError).hint).toContain('meshctl install --local');
  });
});
