/**
 * A config that passes validation but a proxy refuses, end to end on the local platform: a
 * DestinationRule originating TLS to a ServiceEntry host whose `tls.caCertificates` names a file
 * the sidecars do not have (Istio's file-based field: neither meshctl nor istiod can know what a
 * sidecar's filesystem holds, and Envoy refuses such a cluster too). Every sidecar importing the
 * host NACKs its clusters; `meshctl apply` prints
 * the refusal naming the DestinationRule and the file:line it was applied from, and exits 1;
 * `meshctl proxy-status` shows NACKED with the same reason; the proxy keeps its last good config
 * and steady traffic through it fails nothing. Deleting the object clears the refusal.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/protocol/stream/messages.js';
import { runCli } from '../support/cli.js';
import { LocalMeshForTest, eventually, steadyLoad, type Sidecar } from './support/local-mesh.js';

let mesh: LocalMeshForTest;
let product: Sidecar;
const cli = (...argv: string[]) =>
  runCli(['--local', ...argv], { env: { MESHCTL_HOME: mesh.home, PATH: process.env.PATH } });

// Line 1 is a comment: the object starts on line 2, which is what the refusal must name.
const REFUSED_DR = `# the CA file is missing from the sidecars' filesystem
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: external-api}
spec:
  host: api.external.com
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /etc/meshctl-test/no-such-ca.pem, sni: api.external.com}
`;
const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-api}
spec:
  hosts: [api.external.com]
  ports: [{number: 443, name: https, protocol: HTTP}]
  location: MESH_EXTERNAL
  resolution: DNS
  endpoints: [{address: localhost}]
`;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  product = await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await mesh.settle();
  await mesh.applyAndSync(SERVICE_ENTRY);
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

describe('a config a proxy refuses', () => {
  it('is named by apply and proxy-status with its object and file:line; traffic fails nothing', async () => {
    const file = join(mesh.home, 'reviews-tls.yaml');
    await writeFile(file, REFUSED_DR);
    const load = steadyLoad(product);
    const applied = await cli('apply', '-f', file, '--wait', '60s');
    const reason = new RegExp(
      String.raw`DestinationRule external-api\.default \(${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2\): ` +
        String.raw`.*clusters\[\d+\] \(cluster "outbound\|443\|\|api\.external\.com"\): ` +
        String.raw`upstreamTls\.caCertificates: cannot read /etc/meshctl-test/no-such-ca\.pem \(ENOENT\)`,
    );
    expect(applied.stdout).toContain('destinationrule.networking.istio.io/external-api created');
    expect(applied.stderr).toMatch(
      new RegExp(
        String.raw`✖ proxy productpage\.default refused the clusters \(keeps its last good config\): ` + reason.source,
      ),
    );
    expect(applied.stderr).toMatch(/✖ proxy reviews-v1\.default refused the clusters/);
    expect(applied.stderr).toContain('the config was stored, but 2 proxies refuse it');
    expect(applied.code).toBe(1);

    // What the control plane recorded (its log and check --proxy print the same).
    const view = mesh.cp.server.ads.views().find((v) => v.proxy.workload === 'productpage')!;
    expect(view.types[TypeUrl.clusters]!.status).toBe('NACKED');
    expect(view.types[TypeUrl.clusters]!.lastNack!.message).toMatch(new RegExp('^' + reason.source));

    const status = await cli('proxy-status');
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/productpage\.default\s.*NACKED/);
    expect(status.stdout + status.stderr).toMatch(reason);

    // The proxy serves on with its last good config: wait for more traffic, then count failures.
    const seen = product.accessLog.length;
    await eventually(
      '100 more requests through the client sidecar',
      () => product.accessLog.length >= seen + 100,
      60_000,
    );
    const { ok, failed } = await load.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(100);

    const deleted = await cli('delete', '-f', file);
    expect(deleted.code).toBe(0);
    await eventually('the refusal cleared', () => mesh.allSynced(), 60_000);
  }, 180_000);
});
