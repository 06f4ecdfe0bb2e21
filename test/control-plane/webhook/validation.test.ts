/**
 * The validating webhook (`POST /validate`) over real TLS, as the API server calls it: a mesh object
 * meshctl refuses is denied with the field and the reason in the message kubectl prints; a field
 * accepted but not enforced is admitted with an admission warning (MESH0002); a kind of a mesh
 * group that meshctl does not implement is admitted with a warning; a malformed review is admitted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeTestCa, makeTestLeaf } from '../../support/tls.js';
import { startWebhookServer, type WebhookServer } from '../../../src/control-plane/webhook/server.js';
import { defaultInjectOptions } from '../../../src/inject/index.js';
import type { AdmissionResponse } from '../../../src/control-plane/webhook/admission.js';
import { decideValidation } from '../../../src/control-plane/webhook/validation.js';

const HOST = 'meshctl-control-plane.mesh-system.svc';
let server: WebhookServer;
let ca: string;
const summaries: string[] = [];

beforeAll(async () => {
  const testCa = await makeTestCa();
  ca = testCa.cert;
  const leaf = await makeTestLeaf(testCa, { dns: [HOST] });
  server = await startWebhookServer(
    {
      ...leaf,
      injectOptions: () => defaultInjectOptions('1.0.0', 'img:1'),
      onValidation: (s) => summaries.push(s),
    },
    0,
    '127.0.0.1',
  );
});
afterAll(async () => {
  await server.close();
});

function validate(object: unknown, uid = 'u-1'): Promise<AdmissionResponse> {
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, namespace: 'shop', operation: 'CREATE', object },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: (server.server.address() as AddressInfo).port,
        path: '/validate',
        method: 'POST',
        agent: false,
        ca,
        servername: HOST,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d));
        res.on('end', () => {
          expect(res.statusCode).toBe(200);
          const review = JSON.parse(b) as { apiVersion: string; response: AdmissionResponse };
          expect(review.apiVersion).toBe('admission.k8s.io/v1');
          resolve(review.response);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const virtualService = (spec: unknown) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews', uid: 'x', managedFields: [{ manager: 'kubectl' }] },
  spec,
});

describe('validating webhook', () => {
  it('denies a regex RE2 cannot compile, naming the field', async () => {
    const r = await validate(
      virtualService({
        hosts: ['reviews'],
        http: [{ match: [{ uri: { regex: '(?<=v)1' } }], route: [{ destination: { host: 'reviews' } }] }],
      }),
      'deny-1',
    );
    expect(r.uid).toBe('deny-1');
    expect(r.allowed).toBe(false);
    expect(r.status?.message).toMatch(/^meshctl validation: VirtualService shop\/reviews: /);
    expect(r.status?.message).toContain('spec.http[0].match[0].uri.regex');
    expect(r.status?.message).toContain('RE2');
    expect(summaries.at(-1)).toMatch(/^VirtualService shop\/reviews: denied/);
  });

  it('admits a valid object; a field accepted but not enforced comes back as an admission warning', async () => {
    const ok = await validate(
      virtualService({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] }),
    );
    expect(ok).toEqual({ uid: 'u-1', allowed: true });
    const warned = await validate({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'reviews' },
      spec: { host: 'reviews', trafficPolicy: { tls: { mode: 'SIMPLE', sni: 'reviews' } } },
    });
    expect(warned.allowed).toBe(true);
    expect(warned.warnings?.length).toBeGreaterThan(0);
    expect(warned.warnings?.join('\n')).toMatch(
      /\[MESH0002\] DestinationRule shop\/reviews: spec\.trafficPolicy\.tls\.mode: /,
    );
  });

  it('admits, with a warning, a kind of a mesh group that meshctl does not implement; and a review without object', async () => {
    const r = await validate({
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'EnvoyFilter',
      metadata: { name: 'lua' },
      spec: {},
    });
    expect(r.allowed).toBe(true);
    expect(r.warnings?.[0]).toMatch(/EnvoyFilter shop\/lua: not a kind meshctl implements/);
    expect(await validate(null, 'u-2')).toMatchObject({ uid: 'u-2', allowed: true });
  });

  it('adds the semantic findings about a valid object as warnings; a failing analyzer admits it all the same', () => {
    const review = (object: unknown) => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u-3', namespace: 'shop', object },
    });
    const vs = virtualService({
      hosts: ['reviews'],
      http: [{ route: [{ destination: { host: 'reviews', subset: 'v3' } }] }],
    });
    const seen: unknown[] = [];
    const found = decideValidation(review(vs), (o) => {
      seen.push(o);
      return ['Error [MESH0101] (VirtualService reviews.shop) no subset v3'];
    });
    expect(found.review.response).toEqual({
      uid: 'u-3',
      allowed: true,
      warnings: ['Error [MESH0101] (VirtualService reviews.shop) no subset v3'],
    });
    // The analyzers see the object as validation does: server-set metadata left out, the namespace filled in.
    expect(seen[0]).toMatchObject({ metadata: { name: 'reviews', namespace: 'shop' } });
    expect((seen[0] as { metadata: Record<string, unknown> }).metadata.managedFields).toBeUndefined();
    const failing = decideValidation(review(vs), () => {
      throw new Error('analyzer bug');
    });
    expect(failing.review.response).toEqual({ uid: 'u-3', allowed: true });
  });
});
