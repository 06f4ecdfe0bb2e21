/**
 * The control plane's JWKS cache (the keys of each RequestAuthentication jwksUri) against a real
 * HTTPS issuer: fetch, change, issuer down (last good keys kept), bad answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { JwksCache, fetchJwks } from '../../../src/control-plane/jwks/jwks-cache.js';
import { makeTestCa, makeTestLeaf } from '../../support/tls.js';

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function issuer(answer: {
  status: number;
  body: string;
}): Promise<{ port: number; ca: string; server: Server; hits: () => number }> {
  const ca = await makeTestCa('issuer CA');
  const leaf = await makeTestLeaf(ca, { dns: ['issuer.test'] });
  let hits = 0;
  const server = createServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => {
    hits++;
    res.statusCode = answer.status;
    res.end(answer.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as AddressInfo).port, ca: ca.cert, server, hits: () => hits };
}

async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

const KEYS_A = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', kid: 'a' }] });
const KEYS_B = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'c', y: 'd', kid: 'b' }] });

describe('JwksCache', () => {
  it('fetches over HTTPS (verifying the issuer name), reports changes, and keeps the last good keys while the issuer is down', async () => {
    const answer = { status: 200, body: KEYS_A };
    const iss = await issuer(answer);
    const changes: string[] = [];
    const logs: string[] = [];
    const uri = 'https://issuer.test/jwks.json';
    const cache = new JwksCache({
      ca: iss.ca,
      connectTo: { 'issuer.test:443': `127.0.0.1:${iss.port}` },
      refreshMs: 20,
      onChange: (u) => changes.push(u),
      log: (l) => logs.push(l),
    });
    cleanup.push(() => cache.close());
    cache.track([{ uri, timeoutMs: 2000 }]);
    await until('first keys', () => cache.get(uri) !== undefined);
    expect(JSON.parse(cache.get(uri)!)).toEqual(JSON.parse(KEYS_A));
    expect(changes).toEqual([uri]);
    answer.body = KEYS_B;
    await until('rotated keys', () => changes.length === 2);
    expect(cache.get(uri)).toBe(JSON.stringify(JSON.parse(KEYS_B)));
    answer.status = 503;
    const hits = iss.hits();
    await until('a failed refresh', () => iss.hits() > hits + 1 && cache.status()[0]!.lastError !== undefined);
    expect(cache.get(uri)).toBe(JSON.stringify(JSON.parse(KEYS_B)));
    expect(cache.status()[0]).toMatchObject({ uri, hasKeys: true, lastError: 'HTTP 503' });
    expect(logs.some((l) => l.includes('keeping the last good keys'))).toBe(true);
    expect(changes).toHaveLength(2);
    cache.track([]);
    expect(cache.get(uri)).toBeUndefined();
  });

  it('an unknown kid from a sidecar fetches the issuer keys again, without waiting for the 20-minute refresh', async () => {
    const answer = { status: 200, body: KEYS_A };
    const iss = await issuer(answer);
    const changes: string[] = [];
    const uri = 'https://issuer.test/jwks.json';
    const cache = new JwksCache({
      ca: iss.ca,
      connectTo: { 'issuer.test:443': `127.0.0.1:${iss.port}` },
      unknownKidMinIntervalMs: 0,
      onChange: (u) => changes.push(u),
      log: () => undefined,
    });
    cleanup.push(() => cache.close());
    cache.track([{ uri, timeoutMs: 2000, issuers: ['https://issuer.test'] }]);
    await until('first keys', () => changes.length === 1);
    // Known kid (the sidecar is only behind a push), another issuer: nothing to fetch.
    expect(cache.unknownKey('https://issuer.test', 'a')).toBe(0);
    expect(cache.unknownKey('https://other.test', 'b')).toBe(0);
    expect(iss.hits()).toBe(1);
    answer.body = KEYS_B;
    expect(cache.unknownKey('https://issuer.test', 'b')).toBe(1);
    // More tokens with that kid while the fetch is on its way add nothing.
    for (let i = 0; i < 20; i++) expect(cache.unknownKey('https://issuer.test', 'b')).toBe(0);
    await until('rotated keys', () => changes.length === 2);
    expect(cache.get(uri)).toBe(JSON.stringify(JSON.parse(KEYS_B)));
    expect(iss.hits()).toBe(2);
    // The issuer down: a hint fetches, fails, and the last good keys stay.
    answer.status = 503;
    expect(cache.unknownKey('https://issuer.test', 'c')).toBe(1);
    await until('the failed fetch', () => cache.status()[0]!.lastError === 'HTTP 503');
    expect(cache.get(uri)).toBe(JSON.stringify(JSON.parse(KEYS_B)));
    expect(changes).toHaveLength(2);
  });

  it('at most one fetch a minute per URI for unknown kids: a hint inside the minute is kept for when it is up', async () => {
    const iss = await issuer({ status: 200, body: KEYS_A });
    const logs: string[] = [];
    const uri = 'https://issuer.test/jwks.json';
    const cache = new JwksCache({
      ca: iss.ca,
      connectTo: { 'issuer.test:443': `127.0.0.1:${iss.port}` },
      onChange: () => undefined,
      log: (l) => logs.push(l),
    });
    cleanup.push(() => cache.close());
    cache.track([{ uri, timeoutMs: 2000, issuers: ['https://issuer.test'] }]);
    await until('first keys', () => cache.get(uri) !== undefined);
    // A flood of made-up kids right after a fetch: one fetch scheduled for when the minute is up, none now.
    expect(cache.unknownKey('https://issuer.test', 'made-up-0')).toBe(1);
    for (let i = 1; i < 100; i++) expect(cache.unknownKey('https://issuer.test', `made-up-${i}`)).toBe(0);
    expect(iss.hits()).toBe(1);
    expect(logs.filter((l) => l.includes('made-up'))).toEqual([
      expect.stringMatching(/kid "made-up-0" .*; fetching in (59|60)s$/),
    ]);
  });

  it('refuses what is not a key set, a certificate for another name, and a non-http URL', async () => {
    const notJwks = await issuer({ status: 200, body: '{"keys": "nope"}' });
    const to = { 'issuer.test:443': `127.0.0.1:${notJwks.port}` };
    await expect(fetchJwks('https://issuer.test/x', 2000, { ca: notJwks.ca, connectTo: to })).rejects.toThrow(
      /not a JSON Web Key Set/,
    );
    await expect(
      fetchJwks('https://other.test/x', 2000, {
        ca: notJwks.ca,
        connectTo: { 'other.test:443': `127.0.0.1:${notJwks.port}` },
      }),
    ).rejects.toThrow(/altnames|other\.test/i);
    await expect(fetchJwks('https://issuer.test/x', 2000, { connectTo: to })).rejects.toThrow();
    await expect(fetchJwks('file:///etc/passwd', 2000)).rejects.toThrow(/not an http/);
  });
});
