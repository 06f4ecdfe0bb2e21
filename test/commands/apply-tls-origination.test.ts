/**
 * `meshctl apply` judges DestinationRule TLS origination (tls SIMPLE/MUTUAL) with the whole config,
 * as Istio's analyzer does: towards a ServiceEntry host (in the same apply or already stored) it is
 * enforced, so no MESH0002; towards a mesh Service host it is not applied, so MESH0002, printed once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { runCli } from '../support/cli.js';

let home: string;
let cp: RunningControlPlane;
const cli = (...argv: string[]) =>
  runCli(['--local', ...argv, '--wait', '0'], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });

const serviceEntry = (name: string, host: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
`;
const tlsRule = (name: string, host: string, tls: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}}
spec:
  host: ${host}
  trafficPolicy:
    tls: ${tls}
`;
const count = (text: string, what: RegExp) => text.match(new RegExp(what.source, 'g'))?.length ?? 0;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-apply-tls-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
});
afterAll(async () => {
  await cp.stop();
  await rm(home, { recursive: true, force: true });
});

describe('apply: TLS origination warnings see the ServiceEntries', () => {
  it('no MESH0002 for tls SIMPLE to a ServiceEntry host applied in the same file', async () => {
    const file = join(home, 'api.yaml');
    await writeFile(
      file,
      `${serviceEntry('api-ext', 'api.external.com')}---\n${tlsRule('api-ext', 'api.external.com', '{mode: SIMPLE, sni: api.external.com, caCertificates: /etc/ssl/ca.pem}')}`,
    );
    const r = await cli('apply', '-f', file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('destinationrule.networking.istio.io/api-ext created');
    expect(r.stderr).not.toContain('MESH0002');
  });

  it('no MESH0002 for tls MUTUAL to a ServiceEntry host that is already stored', async () => {
    const se = join(home, 'pay-se.yaml');
    const dr = join(home, 'pay-dr.yaml');
    await writeFile(se, serviceEntry('pay-ext', 'pay.external.com'));
    await writeFile(
      dr,
      tlsRule('pay-ext', 'pay.external.com', '{mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}'),
    );
    expect((await cli('apply', '-f', se)).code).toBe(0);
    const r = await cli('apply', '-f', dr);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('MESH0002');
  });

  it('still warns, once per field, for TLS origination towards a mesh Service host', async () => {
    const file = join(home, 'reviews.yaml');
    await writeFile(file, tlsRule('reviews', 'reviews', '{mode: SIMPLE, sni: reviews.example}'));
    const r = await cli('apply', '-f', file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('destinationrule.networking.istio.io/reviews created');
    expect(
      count(r.stderr, /MESH0002\] \(DestinationRule reviews\.default\)[^\n]*spec\.trafficPolicy\.tls\.mode:/),
    ).toBe(1);
    expect(count(r.stderr, /MESH0002\] \(DestinationRule reviews\.default\)[^\n]*spec\.trafficPolicy\.tls\.sni:/)).toBe(
      1,
    );
    expect(count(r.stderr, /MESH0002/)).toBe(2);
    expect(r.stderr).toContain('applies to ServiceEntry hosts only');
  });

  it('meshctl analyze --offline judges the same way: the ServiceEntry host is quiet, the mesh host warns', async () => {
    const quiet = await runCli(['analyze', '--offline', '-f', join(home, 'api.yaml')]);
    expect(quiet.stdout + quiet.stderr).not.toContain('MESH0002');
    const loud = await runCli(['analyze', '--offline', '-f', join(home, 'reviews.yaml'), '-o', 'json']);
    const codes = (JSON.parse(loud.stdout) as { code: string; field?: string }[])
      .filter((f) => f.code === 'MESH0002')
      .map((f) => f.field);
    expect(codes.sort()).toEqual(['spec.trafficPolicy.tls.mode', 'spec.trafficPolicy.tls.sni']);
  });
});
