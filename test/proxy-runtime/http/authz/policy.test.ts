/**
 * The per-connection shortcut of HTTP decisions (AuthzPolicies.decideRequest: what a rule reads of the
 * connection evaluated once per connection) answers exactly as the full evaluation (decide) for every
 * combination of connection and request facts, across ALLOW, DENY and AUDIT policies mixing connection
 * fields (principals, namespaces, ipBlocks, ports, source.* / destination.* / connection.sni conditions)
 * with request fields (paths, methods, hosts, headers, remote.ip, requestPrincipals).
 */
import { describe, expect, it } from 'vitest';
import { AuthzPolicies, type AuthzFacts, type HttpFacts } from '../../../../src/proxy-runtime/http/authz/policy.js';
import type { AuthzPolicyConfig } from '../../../../src/protocol/proxy-config/index.js';

const POLICIES: AuthzPolicyConfig[] = [
  {
    name: 'ns[a]-policy[audit]',
    action: 'AUDIT',
    rules: [{ to: [{ operation: { paths: ['/audit*'] } }] }, { from: [{ source: { namespaces: ['shop'] } }] }],
  },
  {
    name: 'ns[a]-policy[deny]',
    action: 'DENY',
    rules: [
      {
        from: [{ source: { principals: ['cluster.local/ns/shop/sa/cart'] } }],
        to: [{ operation: { paths: ['/secret*'] } }],
      },
      { from: [{ source: { ipBlocks: ['10.9.0.0/16'] } }] },
      { when: [{ key: 'connection.sni', values: ['evil.example'] }] },
      { from: [{ source: { remoteIpBlocks: ['192.0.2.0/24'] } }] },
    ],
  },
  {
    name: 'ns[a]-policy[allow]',
    action: 'ALLOW',
    rules: [
      ...Array.from({ length: 5 }, (_, i) => ({
        from: [{ source: { principals: [`cluster.local/ns/other/sa/client-${i}`], notIpBlocks: ['203.0.113.0/24'] } }],
        to: [{ operation: { methods: ['GET', 'POST'], paths: [`/api/v${i}/*`] } }],
        when: [{ key: 'request.headers[x-tenant]', values: [`t${i}`] }],
      })),
      { from: [{ source: { namespaces: ['default'] } }], to: [{ operation: { methods: ['GET'], ports: ['8080'] } }] },
      { to: [{ operation: { hosts: ['api.example.com'] } }], when: [{ key: 'destination.port', values: ['9090'] }] },
      { from: [{ source: { requestPrincipals: ['issuer/*'] } }] },
      { when: [{ key: 'source.principal', values: ['cluster.local/ns/ops/sa/admin'] }] },
    ],
  },
];

interface Conn {
  principal: string | undefined;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
  sni: string | undefined;
}

interface Req {
  method: string;
  path: string;
  authority: string;
  headers: Record<string, string>;
  requestPrincipal: string | undefined;
  remoteIp: string | undefined;
}

function facts(c: Conn, r: Req): AuthzFacts {
  const http: HttpFacts = {
    method: r.method,
    authority: r.authority,
    path: r.path,
    header: (n) => r.headers[n],
    requestPrincipal: r.requestPrincipal,
    claims: undefined,
  };
  return { ...c, remoteIp: r.remoteIp ?? c.sourceIp, http };
}

const CONNS: Conn[] = [];
for (const principal of [
  undefined,
  'cluster.local/ns/shop/sa/cart',
  'cluster.local/ns/default/sa/web',
  'cluster.local/ns/other/sa/client-3',
  'cluster.local/ns/ops/sa/admin',
])
  for (const sourceIp of ['10.0.0.1', '10.9.1.1', '203.0.113.7'])
    for (const destinationPort of [8080, 9090])
      for (const sni of [undefined, 'evil.example'])
        CONNS.push({ principal, sourceIp, destinationIp: '10.0.0.2', destinationPort, sni });

const REQS: Req[] = [];
for (const method of ['GET', 'POST', 'DELETE'])
  for (const path of ['/', '/secret/x', '/api/v3/items', '/audit/log'])
    for (const authority of ['api.example.com', 'web:8080'])
      for (const headers of [{}, { 'x-tenant': 't3' }] as Record<string, string>[])
        for (const requestPrincipal of [undefined, 'issuer/alice'])
          for (const remoteIp of [undefined, '192.0.2.9'])
            REQS.push({ method, path, authority, headers, requestPrincipal, remoteIp });

describe('authorization decisions per connection', () => {
  it('match the full evaluation for every connection and request', () => {
    const policies = new AuthzPolicies(POLICIES);
    let allowed = 0;
    let denied = 0;
    for (const c of CONNS) {
      const conn = {};
      for (const r of REQS) {
        const f = facts(c, r);
        const full = policies.decide(f);
        expect(policies.decideRequest(conn, f)).toEqual(full);
        if (full.allowed) allowed++;
        else denied++;
      }
    }
    // both outcomes and several deciding rules are exercised
    expect(allowed).toBeGreaterThan(100);
    expect(denied).toBeGreaterThan(100);
  });

  it('keeps connections apart: a denied peer does not inherit an allowed peer decision', () => {
    const policies = new AuthzPolicies(POLICIES);
    const get: Req = {
      method: 'GET',
      path: '/',
      authority: 'web:8080',
      headers: {},
      requestPrincipal: undefined,
      remoteIp: undefined,
    };
    const web = {
      ...CONNS.find(
        (c) => c.principal?.endsWith('/sa/web') && c.destinationPort === 8080 && c.sourceIp === '10.0.0.1' && !c.sni,
      )!,
    };
    const stranger = { ...web, principal: 'cluster.local/ns/stranger/sa/x' };
    expect(policies.decideRequest(web, facts(web, get)).allowed).toBe(true);
    expect(policies.decideRequest(stranger, facts(stranger, get))).toEqual({
      allowed: false,
      details: 'rbac_access_denied_matched_policy[none]',
      audit: undefined,
    });
    expect(policies.decideRequest(web, facts(web, { ...get, method: 'DELETE' })).allowed).toBe(false);
  });
});
