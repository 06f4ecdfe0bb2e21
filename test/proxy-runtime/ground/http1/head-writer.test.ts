/**
 * The head assembler of the fast path (http1/head-writer WireHead): what it puts on the wire, and
 * that no field it cannot send safely (a name that is not a token; a value with CR, LF, NUL or a
 * character beyond latin1) gets there, over a real loopback connection.
 */
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { wire } from '../../../../src/proxy-runtime/ground/http1/head-writer.js';
import { closeAfter } from '../../support.js';

async function socketPair(): Promise<{ client: Socket; received: () => string }> {
  let got = '';
  const server = createServer((s) => s.on('data', (d: Buffer) => (got += d.toString('latin1'))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  closeAfter({
    close: () =>
      new Promise<void>((r) => {
        client.destroy();
        server.close(() => r());
      }),
  });
  return { client, received: () => got };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('WireHead', () => {
  it('assembles a head with repeated fields and a body behind it, sent as one write', async () => {
    const { client, received } = await socketPair();
    const ok = wire
      .start()
      .raw('HTTP/1.1 200 OK\r\n')
      .fields({ 'content-length': '5', 'set-cookie': ['a=1', 'b=2'], 'x-latin1': 'caf\u00e9' });
    expect(ok).toBe(true);
    wire.raw('\r\n').bytes(Buffer.from('hello')).send(client);
    const want =
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nx-latin1: caf\u00e9\r\n\r\nhello';
    await until(() => received().length >= want.length);
    expect(received()).toBe(want);
  });

  it('refuses names that are not tokens and values with CR, LF, NUL or characters beyond latin1', () => {
    for (const bad of [
      { 'x a': '1' },
      { 'x:a': '1' },
      { '': '1' },
      { 'x\u0100': '1' },
      { x: 'a\r\nInjected: 1' },
      { x: 'a\nb' },
      { x: 'a\u0000b' },
      { x: 'snow\u2603' },
      { x: ['ok', 'bad\r'] },
    ]) {
      expect({ bad, ok: wire.start().raw('GET / HTTP/1.1\r\n').fields(bad) }).toEqual({ bad, ok: false });
    }
    expect(wire.start().value('/path with space', true)).toBe(false);
    expect(wire.start().value('/path?q=1', true)).toBe(true);
  });

  it('grows for a head larger than its buffer', async () => {
    const { client, received } = await socketPair();
    const big = 'v'.repeat(40_000);
    expect(wire.start().raw('GET / HTTP/1.1\r\n').fields({ 'x-big': big, 'x-after': 'end' })).toBe(true);
    wire.raw('\r\n').send(client);
    const want = `GET / HTTP/1.1\r\nx-big: ${big}\r\nx-after: end\r\n\r\n`;
    await until(() => received().length >= want.length);
    expect(received()).toBe(want);
  });
});
