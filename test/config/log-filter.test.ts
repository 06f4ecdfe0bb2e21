/** The access log filter subset of CEL (Telemetry accessLogging[].filter.expression): what it selects, what it refuses. */
import { describe, expect, it } from 'vitest';
import {
  compileLogFilter,
  compileTagValue,
  type LogFilterInput,
  type TagValueInput,
} from '../../src/config/log-filter.js';

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

describe('metric tag values (Telemetry tagOverrides value)', () => {
  const attrs = (o: Partial<TagValueInput> = {}): TagValueInput => ({
    ...req(),
    sourceAddress: '127.0.0.1',
    sourcePort: 40000,
    destinationAddress: '198.18.0.7',
    destinationPort: 9080,
    mtls: true,
    nodeMetadata: (n) => (n === 'NAMESPACE' ? 'shop' : undefined),
    ...o,
  });

  it('reads attributes, headers, node metadata and literals; string() + and ?: compose them', () => {
    expect(compileTagValue('request.method')(attrs())).toBe('GET');
    expect(
      compileTagValue("request.headers['User-Agent']")(
        attrs({ header: (n) => (n === 'user-agent' ? 'curl' : undefined) }),
      ),
    ).toBe('curl');
    expect(compileTagValue('"books"')(attrs())).toBe('books');
    expect(compileTagValue("node.metadata['NAMESPACE']")(attrs())).toBe('shop');
    expect(compileTagValue('destination.address + ":" + string(destination.port)')(attrs())).toBe('198.18.0.7:9080');
    const kind = compileTagValue('response.code >= 500 ? "error" : (request.url_path == "/health" ? "probe" : "ok")');
    expect([kind(attrs({ responseCode: 503 })), kind(attrs({ path: '/health?x=1' })), kind(attrs())]).toEqual([
      'error',
      'probe',
      'ok',
    ]);
    expect(compileTagValue('connection.mtls')(attrs())).toBe('true');
  });

  it('gives no value (the proxy writes unknown) for what the traffic lacks or a type error', () => {
    expect(compileTagValue("request.headers['x-missing']")(attrs())).toBeUndefined();
    expect(compileTagValue("node.metadata['MESH_ID']")(attrs())).toBeUndefined();
    expect(compileTagValue('request.method + response.code')(attrs())).toBeUndefined();
    // a TCP connection has no request attributes
    const tcp = attrs({ method: undefined as unknown as string, path: undefined as unknown as string });
    expect(compileTagValue('request.url_path')(tcp)).toBeUndefined();
  });

  it("refuses what it cannot evaluate, naming it (Istio's peer metadata, functions it does not know)", () => {
    expect(() => compileTagValue("upstream_peer.labels['app'].value")).toThrow(
      /"upstream_peer.labels" is not supported/,
    );
    expect(() => compileTagValue('size(request.path)')).toThrow(/"size" is not supported/);
    expect(() => compileTagValue('a ? "x"')).toThrow(/not supported|expected/);
    // the access log filter keeps to request attributes
    expect(() => compileLogFilter('destination.port == 9080')).toThrow(/"destination.port" is not supported/);
  });
});
