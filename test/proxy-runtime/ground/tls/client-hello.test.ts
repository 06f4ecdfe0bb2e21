/** The SNI a gateway routes PASSTHROUGH connections on, read from real ClientHellos and from hostile bytes. */
import { describe, expect, it } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { serverNameOf } from '../../../../src/proxy-runtime/ground/tls/client-hello.js';

/** The first bytes Node's TLS client sends for `servername` (captured by a plain TCP server). */
async function realHello(servername: string | undefined): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) =>
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      }),
    ),
  );
  const c = connect({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    ...(servername ? { servername } : {}),
    rejectUnauthorized: false,
  });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

describe('ClientHello server name', () => {
  it('reads the name of a real ClientHello, and waits (undefined) on every prefix of it', async () => {
    const hello = await realHello('Secure.Example.com');
    expect(serverNameOf(hello)).toBe('secure.example.com');
    for (let n = 1; n < hello.length; n++) expect(serverNameOf(hello.subarray(0, n))).toBeUndefined();
  });

  it('says null (no name) for a hello without SNI, plaintext HTTP, and other record types', async () => {
    expect(serverNameOf(await realHello(undefined))).toBeNull();
    expect(serverNameOf(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBeNull();
    expect(serverNameOf(Buffer.from([0x17, 0x03, 0x03, 0x00, 0x01, 0x00]))).toBeNull();
  });

  it('never throws on corrupted hellos (every byte flipped in turn, lengths inflated)', async () => {
    const hello = await realHello('a.example.com');
    for (let i = 0; i < hello.length; i++) {
      for (const v of [0x00, 0xff, hello[i]! ^ 0x55]) {
        const b = Buffer.from(hello);
        b[i] = v;
        const r = serverNameOf(b);
        expect(r === undefined || r === null || typeof r === 'string').toBe(true);
        if (typeof r === 'string') expect(r).toMatch(/^[a-z0-9*][a-z0-9.-]*$/);
      }
    }
  });
});
