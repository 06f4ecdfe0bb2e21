/**
 * Every DestinationRule of the seed, applied exactly as written, serves traffic: steady requests
 * from a client sidecar to `product-service` (two versions, v1 and v2) are all answered 200. The
 * seed's circuit-breaking rule caps `http2MaxRequests: 2`, so the load stays within it (two at a
 * time): a request above the cap is refused 503 UO by design, as Envoy does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { LocalMeshForTest, SERVICE_PORT, versionsSeen, type Sidecar } from './support/local-mesh.js';
import { SEED_FILE, seedDocuments } from '../config/seed-documents.js';

const rules = seedDocuments(readFileSync(SEED_FILE, 'utf8')).filter((d) => /^kind: DestinationRule$/m.test(d.text));

let mesh: LocalMeshForTest;
let client: Sidecar;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  await mesh.run('product-v1', { app: 'product-service', version: 'v1' }, { service: 'product-service' });
  await mesh.run('product-v2', { app: 'product-service', version: 'v2' }, { service: 'product-service' });
  client = await mesh.run('frontend', { app: 'frontend', version: 'v1' });
  await mesh.settle();
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

describe('the seed DestinationRules, as written', () => {
  it('are the four rules of the seed', () => {
    expect(rules.map((r) => (parseDocument(r.text).toJS() as { spec: { host: string } }).spec.host)).toEqual([
      'product-service',
      'product-service',
      'product-service',
      '*.local',
    ]);
  });

  for (const [i, rule] of rules.entries()) {
    it(`rule ${i + 1} (seed line ${rule.line}) serves every request`, async () => {
      await mesh.applyAndSync(rule.text);
      const seen = await versionsSeen(client, 120, `http://product-service:${SERVICE_PORT}/`, undefined, 2);
      const failed = Object.entries(seen).filter(([k]) => !k.startsWith('product-'));
      expect(failed).toEqual([]);
      expect(seen['product-v1 v1']! + seen['product-v2 v2']!).toBe(120);
      // Both versions keep answering: nothing was ejected.
      expect(seen['product-v1 v1']).toBeGreaterThan(0);
      expect(seen['product-v2 v2']).toBeGreaterThan(0);
    }, 90_000);
  }
});
