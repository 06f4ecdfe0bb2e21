/**
 * Every complete YAML document of the seed (the checked-in copy under test/fixtures/config/seed)
 * parses and validates without error. Non-mesh kinds (Pod, NetworkPolicy, IstioOperator) are
 * passed over with a note; excerpts such as a lone `weight: 50` are not documents.
 */
import { describe, expect, it } from 'vitest';
import { formatIssue, manifestObjects, parseDocuments, validateResource } from '../../src/config/index.js';
import { seedDocuments } from './seed-documents.js';

const docs = seedDocuments();
const results = docs.map((d) => {
  const objects = manifestObjects(parseDocuments(d.text, `seed:${d.line}`));
  return { d, results: objects.map((o) => validateResource(o)) };
});

describe('seed documents', () => {
  it('finds every complete document of the seed (and no excerpt)', () => {
    const kinds = results.flatMap((r) => r.results.map((v) => v.identity.kind));
    expect(kinds.length).toBe(28);
    expect(new Set(kinds)).toEqual(
      new Set([
        'Pod',
        'VirtualService',
        'DestinationRule',
        'Gateway',
        'ServiceEntry',
        'PeerAuthentication',
        'AuthorizationPolicy',
        'ServiceProfile',
        'TrafficSplit',
        'Server',
        'RequestAuthentication',
        'NetworkPolicy',
        'IstioOperator',
      ]),
    );
  });

  it.each(results.map((r) => [`line ${r.d.line}`, r] as const))(
    'validates the document at %s without error',
    (_name, r) => {
      for (const v of r.results) expect(v.errors.map(formatIssue)).toEqual([]);
    },
  );

  it('passes over the kinds that are not mesh kinds, with a note', () => {
    const passed = results.flatMap((r) => r.results).filter((v) => v.notes.some((n) => n.rule === 'not-mesh-kind'));
    expect(passed.map((v) => v.identity.kind).sort()).toEqual(['IstioOperator', 'IstioOperator', 'NetworkPolicy']);
  });

  it('reads the seed DestinationRule written with security.istio.io as a DestinationRule, with a warning', () => {
    const dr = results
      .flatMap((r) => r.results)
      .find((v) => v.identity.apiVersion === 'security.istio.io/v1beta1' && v.identity.kind === 'DestinationRule');
    expect(dr?.resource?.kind).toBe('DestinationRule');
    expect(dr?.warnings.map((w) => w.rule)).toEqual(['wrong-group']);
  });

  it('accepts the Server of policy.linkerd.io/v1alpha1 and the seed ServiceProfile (ignoring its route-level "retries")', () => {
    const all = results.flatMap((r) => r.results);
    expect(all.find((v) => v.identity.kind === 'Server')?.resource?.spec).toEqual({
      podSelector: { matchLabels: { app: 'product-service' } },
      port: 8080,
      proxyProtocol: 'HTTP/1',
    });
    const sp = all.find((v) => v.identity.kind === 'ServiceProfile');
    expect(sp?.warnings.map((w) => w.field)).toEqual(['spec.routes[0].retries']);
  });
});
