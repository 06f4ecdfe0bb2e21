/**
 * The control plane never sends a config stream response larger than a proxy accepts (64 MiB):
 * the type shows NACKED with the size and the limit, nothing is queued (no memory held for it),
 * and the next response that fits goes out as usual. The state-of-the-world path makes the same
 * check; the test runs the incremental one proxies use.
 */
import { describe, expect, it } from 'vitest';
import { ProxyConnection, type StreamProtocol } from '../../../src/control-plane/stream/connection.js';
import { TypeUrl } from '../../../src/protocol/stream/messages.js';
import { MAX_STREAM_MESSAGE_BYTES } from '../../../src/config/limits.js';

const proxy = {
  id: 'web.default',
  workload: 'web',
  namespace: 'default',
  serviceAccount: 'web',
  labels: {},
  proxyVersion: 'test',
};

describe.each(['delta'] as StreamProtocol[])('an oversize response (%s; sotw shares the check)', (protocol) => {
  it('is not sent; the type is NACKED naming size and limit; a smaller one is sent next', () => {
    const sent: unknown[] = [];
    const conn = new ProxyConnection(
      proxy,
      'peer',
      'spiffe://cluster.local/ns/default/sa/web',
      undefined,
      (m) => sent.push(m),
      protocol,
    );
    conn.subscribe(TypeUrl.routes, {});
    const huge = [
      {
        name: 'outbound',
        virtualHosts: [{ name: 'x', domains: ['x'], routes: [{ name: 'y'.repeat(MAX_STREAM_MESSAGE_BYTES + 10) }] }],
      },
    ];
    expect(conn.push(TypeUrl.routes, { version: 'v1', resources: huge }, true)).toBe(false);
    expect(sent).toEqual([]);
    const st = conn.view().types[TypeUrl.routes]!;
    expect(st.status).toBe('NACKED');
    expect(st.lastNack?.message).toMatch(
      /^not sent by the control plane: the routes for this proxy are 64 MiB, above the 64 MiB a proxy accepts in one response; the proxy keeps its last config/,
    );
    expect(conn.push(TypeUrl.routes, { version: 'v2', resources: [{ name: 'outbound', virtualHosts: [] }] })).toBe(
      true,
    );
    expect(sent).toHaveLength(1);
    expect(conn.view().types[TypeUrl.routes]!.status).toBe('STALE');
  });
});
