import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { makeTestCa, makeTestLeaf } from '../../support/tls.js';
import { startWebhookServer, type WebhookServer } from '../../../src/control-plane/webhook/server.js';
import { applyPatch, defaultInjectOptions } from '../../../src/inject/index.js';
import type { AdmissionDecision, AdmissionReview } from '../../../src/control-plane/webhook/admission.js';
import { validateKubernetesObject } from '../../inject/kubernetes-schema.js';

const options = defaultInjectOptions('1.0.0', 'ghcr.io/meshctl/meshctl:1.0.0');
let server: WebhookServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function review(pod: Record<string, unknown>, uid = 'u-1'): AdmissionReview {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      namespace: 'shop',
      operation: 'CREATE',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      object: pod,
    },
  };
}

function post(
  port: number,
  ca: string,
  body: string,
  path = '/inject',
): Promise<{ status: number; json: any; peerCert: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: false,
        ca,
        servername: 'meshctl-control-plane.mesh-system.svc',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let b = '';
        const peerCert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(b), peerCert }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-5f7-', labels: { app: 'web' } },
  spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'web:1', ports: [{ containerPort: 8080 }] }] },
};

describe('injection webhook over real TLS', () => {
  it('answers an AdmissionReview with a JSONPatch that injects the pod, and logs the decision', async () => {
    const ca = await makeTestCa();
    const leaf = await makeTestLeaf(ca, { dns: ['meshctl-control-plane.mesh-system.svc'] });
    const decisions: AdmissionDecision[] = [];
    server = await startWebhookServer(
      { ...leaf, injectOptions: () => options, onDecision: (d) => decisions.push(d) },
      0,
      '127.0.0.1',
    );
    const { port } = server.server.address() as AddressInfo;
    const r = await post(port, ca.cert, JSON.stringify(review(pod)));
    expect(r.status).toBe(200);
    expect(r.json.response).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    const patched = applyPatch(pod, JSON.parse(Buffer.from(r.json.response.patch, 'base64').toString()));
    validateKubernetesObject(patched as Record<string, unknown>);
    expect((patched as any).spec.initContainers.map((c: any) => c.name)).toEqual(['mesh-init', 'mesh-proxy']);
    expect(decisions.map((d) => d.summary)).toEqual(['injected']);
  });

  it('admits pods it cannot inject unchanged, with a warning; opt-outs without a patch', async () => {
    const ca = await makeTestCa();
    const leaf = await makeTestLeaf(ca, { dns: ['meshctl-control-plane.mesh-system.svc'] });
    server = await startWebhookServer({ ...leaf, injectOptions: () => options }, 0, '127.0.0.1');
    const { port } = server.server.address() as AddressInfo;
    const hostNet = await post(
      port,
      ca.cert,
      JSON.stringify(review({ ...pod, spec: { ...pod.spec, hostNetwork: true } })),
    );
    expect(hostNet.json.response.allowed).toBe(true);
    expect(hostNet.json.response.patch).toBeUndefined();
    expect(hostNet.json.response.warnings[0]).toContain('hostNetwork: true');
    const optOut = await post(
      port,
      ca.cert,
      JSON.stringify(
        review({ ...pod, metadata: { ...pod.metadata, annotations: { 'meshctl.dev/inject': 'disabled' } } }),
      ),
    );
    expect(optOut.json.response).toEqual({ uid: 'u-1', allowed: true });
  });

  it('rejects non-JSON bodies and other paths, and swaps its serving certificate without a restart', async () => {
    const ca = await makeTestCa();
    const first = await makeTestLeaf(ca, { dns: ['meshctl-control-plane.mesh-system.svc'] });
    server = await startWebhookServer({ ...first, injectOptions: () => options }, 0, '127.0.0.1');
    const { port } = server.server.address() as AddressInfo;
    expect((await post(port, ca.cert, '{not json')).status).toBe(400);
    expect((await post(port, ca.cert, '{}', '/other')).status).toBe(404);
    const before = (await post(port, ca.cert, JSON.stringify(review(pod)))).peerCert;
    const second = await makeTestLeaf(ca, { dns: ['meshctl-control-plane.mesh-system.svc'] });
    server.setCertificate(second.cert, second.key);
    const after = (await post(port, ca.cert, JSON.stringify(review(pod)))).peerCert;
    expect(before).toBe(new X509Certificate(first.cert).fingerprint256);
    expect(after).toBe(new X509Certificate(second.cert).fingerprint256);
  });
});
