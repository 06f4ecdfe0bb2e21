/**
 * A slow request head (slowloris) is answered 408 Request Timeout after REQUEST_HEAD_TIMEOUT_MS
 * (10 s, checked every second) and the connection closed, instead of being cut silently at ~63 s.
 * A complete request on the same kind of connection is served as usual.
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { cluster, send, simpleConfig, startProxy, startUpstream } from '../../support.js';
import { REQUEST_HEAD_TIMEOUT_MS } from '../../../../src/proxy-runtime/downstream/http1/server-connection.js';

/** Sends `bytes` and collects everything until the proxy closes the connection. */
function sendAndCollect(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('request head timeout', () => {
  it('answers 408 to a head still incomplete after the stated timeout, and closes', async () => {
    expect(REQUEST_HEAD_TIMEOUT_MS).toBe(10_000);
    const up = await startUpstream('up', (_req, res) => res.end('ok'));
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('up', [up.port])] }));
    const port = proxy.listenerPort('out');
    expect(await send(port)).toMatchObject({ status: 200, body: 'ok' });
    const reply = await sendAndCollect(port, 'GET / HTTP/1.1\r\nHost: up\r\nX-Slow: 1\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(reply).toContain('connection: close');
    expect(up.seen).toHaveLength(1);
  }, 30_000);
});
