/** The access log filter subset of CEL (Telemetry accessLogging[].filter.expression): what it selects, what it refuses. */
import { describe, expect, it } from 'vitest';
import { compileLogFilter, type LogFilterInput } from '../../src/config/log-filter.js';

const req = (o: Partial<LogFilterInput> & { headers?: Record<string, string> } = {}): LogFilterInput => ({
  responseCode: o.responseCode ?? 200,
  method: o.method ?? 'GET',
  path: o.path ?? '/',
  host: o.host ?? 'reviews:9080',
  protocol: o.protocol ?? 'HTTP/1.1',
  header: (n) => o.headers?.[n],
});

describe('access log filter', () => {
  it('selects by response code, method, path, host and headers, with && || ! and parentheses', () => {
    const errors = compileLogFilter('response.code >= 400');
    expect([200, 302, 404, 503].map((c) => errors(req({ responseCode: c })))).toEqual([false, false, true, true]);
    const posts = compileLogFilter('request.method == "POST" && request.url_path != \'/healthz\'');
    expect(posts(req({ method: 'POST', path: '/orders?x=1' }))).toBe(true);
    expect(posts(req({ method: 'POST', path: '/healthz?probe=1' }))).toBe(false);
    expect(posts(req({ method: 'GET', path: '/orders' }))).toBe(false);
    const debug = compileLogFilter('!(response.code < 500) || request.headers[\'X-Debug\'] == "1"');
    expect(debug(req({ responseCode: 200, headers: { 'x-debug': '1' } }))).toBe(true);
    expect(debug(req({ responseCode: 200 }))).toBe(false);
    expect(debug(req({ responseCode: 502 }))).toBe(true);
    expect(compileLogFilter('request.host == "reviews:9080" && request.protocol == "HTTP/1.1"')(req())).toBe(true);
  });

  it('refuses what it cannot evaluate, saying what is supported (never a filter that silently logs all or nothing)', () => {
    expect(() => compileLogFilter('response.duration > 100')).toThrow(
      /"response.duration" is not supported; use response.code/,
    );
    expect(() => compileLogFilter('request.path.startsWith("/api")')).toThrow(/not supported/);
    expect(() => compileLogFilter('response.code >=')).toThrow(/expected more at the end/);
    expect(() => compileLogFilter('')).toThrow(/empty/);
    expect(() => compileLogFilter('('.repeat(40) + 'true' + ')'.repeat(40))).toThrow(/nests too deeply/);
    expect(() => compileLogFilter('x'.repeat(5000))).toThrow(/longer than 4096/);
  });
});
