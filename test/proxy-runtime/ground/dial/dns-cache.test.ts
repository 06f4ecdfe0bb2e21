/**
 * The proxy's DNS cache against a real DNS server on loopback (test/support/dns-server.ts), with a
 * clock the test moves: an answer is kept for its TTL and resolved again after it; a failed
 * re-resolution keeps the last good addresses; names the DNS servers do not know go to the system
 * resolver (/etc/hosts); strict mode hands out every address in turn, logical mode the first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsCache } from '../../../../src/proxy-runtime/ground/dial/dns-cache.js';
import { TestDnsServer } from '../../../support/dns-server.js';

let dns: TestDnsServer;
beforeAll(async () => {
  dns = await TestDnsServer.start();
});
afterAll(async () => {
  await dns?.close();
});

function cacheAt(clock: { now: number }): DnsCache {
  const cache = new DnsCache(() => clock.now);
  cache.setServers([dns.address]);
  return cache;
}

const lookup = (cache: DnsCache, mode: 'strict' | 'logical', name: string): Promise<string> =>
  new Promise((resolve, reject) =>
    cache.lookupHook(mode)(name, {}, (err, address) => (err ? reject(err) : resolve(address as string))),
  );

describe('the proxy DNS cache', () => {
  it('keeps an answer for its TTL, then resolves again and follows the changed record', async () => {
    const clock = { now: 1_000_000 };
    const cache = cacheAt(clock);
    dns.set('ttl.cache.test', ['127.0.0.1'], 30);
    expect((await cache.addresses('ttl.cache.test')).map((a) => a.address)).toEqual(['127.0.0.1']);
    dns.set('ttl.cache.test', ['127.0.0.2'], 30);
    clock.now += 29_000;
    expect((await cache.addresses('ttl.cache.test')).map((a) => a.address)).toEqual(['127.0.0.1']);
    expect(dns.aQueries.get('ttl.cache.test')).toBe(1);
    expect(cache.stillServes('ttl.cache.test', '127.0.0.1')).toBe(true);
    clock.now += 2_000;
    expect((await cache.addresses('ttl.cache.test')).map((a) => a.address)).toEqual(['127.0.0.2']);
    expect(dns.aQueries.get('ttl.cache.test')).toBe(2);
    expect(cache.stillServes('ttl.cache.test', '127.0.0.1')).toBe(false);
    expect(cache.stillServes('ttl.cache.test', '::ffff:127.0.0.2')).toBe(true);
  });

  it('strict hands out every address in turn; logical always the first', async () => {
    const cache = cacheAt({ now: 0 });
    dns.set('pair.cache.test', ['127.0.0.1', '127.0.0.2'], 600);
    const strict = [];
    for (let i = 0; i < 4; i++) strict.push(await lookup(cache, 'strict', 'pair.cache.test'));
    expect(strict).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.1', '127.0.0.2']);
    const logical = [];
    for (let i = 0; i < 3; i++) logical.push(await lookup(cache, 'logical', 'pair.cache.test'));
    expect(logical).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    // An address needs no resolution.
    expect(await lookup(cache, 'strict', '127.0.0.9')).toBe('127.0.0.9');
  });

  it('a name the DNS server does not know goes to the system resolver (/etc/hosts: localhost)', async () => {
    const cache = cacheAt({ now: 0 });
    const addresses = (await cache.addresses('localhost')).map((a) => a.address);
    expect(addresses.some((a) => a === '127.0.0.1' || a === '::1')).toBe(true);
  });

  it('keeps the last good addresses when the DNS server stops answering', async () => {
    const clock = { now: 0 };
    const quiet = await TestDnsServer.start();
    const cache = new DnsCache(() => clock.now);
    cache.setServers([quiet.address]);
    quiet.set('stale.cache.test', ['127.0.0.3'], 5);
    expect((await cache.addresses('stale.cache.test')).map((a) => a.address)).toEqual(['127.0.0.3']);
    await quiet.close();
    clock.now += 10_000;
    // The query times out (the resolver's timeouts, not the test's): the old answer stays.
    expect((await cache.addresses('stale.cache.test')).map((a) => a.address)).toEqual(['127.0.0.3']);
    expect(await lookup(cache, 'strict', 'stale.cache.test')).toBe('127.0.0.3');
  }, 30_000);
});
