/** `meshctl authz check`: the policies and JWT rules a real sidecar runs, read from its admin API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshWithAdmin } from './mesh-with-admin.js';
import { eventually } from '../protocol/harness.js';

let mesh: MeshWithAdmin;

const rows = (stdout: string): string[][] =>
  stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{3,}/));

beforeAll(async () => {
  mesh = await MeshWithAdmin.start();
  await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  await mesh.run('ratings-v1', { app: 'ratings', version: 'v1' }, { service: 'ratings' });
  await mesh.apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewers}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/productpage"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/reviews/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin*"]}}]
    when: [{key: "request.headers[x-debug]", values: ["1"]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  selector: {matchLabels: {app: reviews}}
  jwtRules:
  - issuer: https://issuer.example
    jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"WbbIsq9fEsP4lJo6bT-Aa8QAw_m6FCBbKAUDxbJ9hAA","y":"8B0jgO3tQmhhTMqGn1fbgyHb3HS8nCzIsIu9h2lpODg","kid":"k1"}]}'
`);
  await eventually('the policies on every proxy', () => mesh.synced('proxy.meshctl.dev/v1/listeners'), 20_000);
});

afterAll(async () => {
  await mesh.stop();
});

describe('meshctl authz check', () => {
  it('lists DENY then ALLOW rules and the JWT issuers of a workload, as its sidecar runs them', async () => {
    const r = await mesh.cli('authz', 'check', 'reviews-v1');
    expect(r.code).toBe(0);
    const t = rows(r.stdout);
    expect(t[0]).toEqual(['ACTION', 'POLICY', 'RULE', 'FROM', 'TO', 'WHEN']);
    expect(t[1]).toEqual(['DENY', 'no-admin.default', '0', '*', 'paths=/admin*', 'request.headers[x-debug] in=1']);
    expect(t[2]).toEqual([
      'ALLOW',
      'reviews-viewers.default',
      '0',
      'principals=cluster.local/ns/default/sa/productpage',
      'methods=GET paths=/reviews/*',
      '-',
    ]);
    expect(r.stdout).toContain('a request no DENY rule and no ALLOW rule matches is denied (403)');
    expect(t).toContainEqual(['JWT ISSUER', 'AUDIENCES', 'TOKEN FROM', 'KEYS']);
    expect(t).toContainEqual(['https://issuer.example', '-', 'Authorization: Bearer, ?access_token', 'k1']);
  });

  it('-o json: the authz block of each inbound listener, key sets summarized', async () => {
    const r = await mesh.cli('authz', 'check', 'reviews-v1.default', '-o', 'json');
    const j = JSON.parse(r.stdout) as {
      proxy: string;
      inbound: {
        authz: { policies: { name: string; action: string }[]; jwtRules: { issuer: string; keys: string[] }[] };
      }[];
    };
    expect(j.proxy).toBe('reviews-v1.default');
    expect(j.inbound[0]!.authz.policies.map((p) => `${p.action} ${p.name}`)).toEqual([
      'DENY ns[default]-policy[no-admin]',
      'ALLOW ns[default]-policy[reviews-viewers]',
    ]);
    expect(j.inbound[0]!.authz.jwtRules).toEqual([{ issuer: 'https://issuer.example', keys: ['k1'] }]);
  });

  it('a workload only the namespace-wide DENY selects: that rule, and no default deny', async () => {
    const r = await mesh.cli('authz', 'check', 'ratings-v1');
    expect(r.code).toBe(0);
    expect(rows(r.stdout).slice(1)).toEqual([
      ['DENY', 'no-admin.default', '0', '*', 'paths=/admin*', 'request.headers[x-debug] in=1'],
    ]);
    expect(r.stdout).not.toContain('is denied (403)');
  });
});
