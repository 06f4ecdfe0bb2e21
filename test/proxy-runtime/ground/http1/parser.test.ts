/**
 * The fast path's HTTP/1.1 head parser and chunked decoder on their own: what they accept, every
 * request-smuggling shape they must refuse (RFC 9112), and fast-check fuzzing (never throws,
 * never accepts a framing that could be read two ways, chunked bodies decode the same however
 * the bytes are split).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  isHeadError,
  parseHead,
  MAX_HEAD_BYTES,
  type HeadResult,
  type MessageHead,
} from '../../../../src/proxy-runtime/ground/http1/head-parser.js';
import { ChunkedDecoder, Feed } from '../../../../src/proxy-runtime/ground/http1/body-decoder.js';

const req = (s: string): HeadResult => parseHead(Buffer.from(s, 'latin1'), 0, true);
const ok = (s: string): MessageHead => {
  const r = req(s);
  if (r === undefined || isHeadError(r)) throw new Error(`refused: ${JSON.stringify(r)}`);
  return r;
};
const status = (s: string): number | 'incomplete' | 'accepted' => {
  const r = req(s);
  if (r === undefined) return 'incomplete';
  return isHeadError(r) ? r.error : 'accepted';
};

describe('request head parser', () => {
  it('parses method, target, version, lowercase names, repeated fields and framing', () => {
    const h = ok(
      'POST /a?b=1 HTTP/1.1\r\nHost: svc\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    );
    expect(h).toMatchObject({
      method: 'POST',
      target: '/a?b=1',
      versionMinor: 1,
      contentLength: 5,
      chunked: false,
      close: true,
    });
    expect(h.host).toBe('svc');
    expect(h.headers).toEqual({ 'x-a': ['1', '2'], 'content-length': '5' });
    expect(h.end).toBe(
      h.end > 0
        ? Buffer.byteLength(
            'POST /a?b=1 HTTP/1.1\r\nHost: svc\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\n',
          )
        : -1,
    );
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n').chunked).toBe(true);
    expect(ok('GET / HTTP/1.0\r\n\r\n')).toMatchObject({ versionMinor: 0, close: true });
    expect(ok('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').close).toBe(false);
    expect(ok('GET http://reviews:9080/x HTTP/1.1\r\nHost: reviews:9080\r\n\r\n').target).toBe('http://reviews:9080/x');
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n').contentLength).toBe(7);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n').upgrade).toBe(true);
    expect(ok('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n').expectContinue).toBe(
      true,
    );
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Pad: \t v \t\r\n\r\n').headers).toMatchObject({
      'x-empty': '',
      'x-pad': 'v',
    });
  });

  it('leaves hop-by-hop fields, and the fields Connection names, out of the header map', () => {
    const h = ok(
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-End: 2\r\nExpect: 100-continue\r\n\r\n',
    );
    expect(h.headers).toEqual({ 'x-end': '2' });
    expect(h.expectContinue).toBe(true);
    const r = parseHead(
      Buffer.from('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n'),
      0,
      false,
    ) as MessageHead;
    expect(r.headers).toEqual({ 'x-a': '1' });
    expect(r.chunked).toBe(true);
  });

  it('waits for more bytes while the head is incomplete', () => {
    expect(status('GET / HTTP/1.1\r\nHost: a\r\n')).toBe('incomplete');
    expect(status('GET / HTT')).toBe('incomplete');
  });

  it('waits (never refuses) on every prefix of a valid head, request or response', () => {
    const heads: [string, boolean][] = [
      ['POST /p?q=1 HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\nX-Tag: a b\r\nX-Empty:\r\n\r\n', true],
      ['GET / HTTP/1.0\r\n\r\n', true],
      ['PROPFIND /dav HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n', true],
      ['HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 1024\r\nConnection: keep-alive\r\n\r\n', false],
      ['HTTP/1.1 204\r\n\r\n', false],
      ['HTTP/1.0 404 Not Found\r\nX-B3-TraceId: 0af7651916cd43dd8448eb211c80319c\r\n\r\n', false],
    ];
    for (const [head, request] of heads) {
      const whole = parseHead(Buffer.from(head, 'latin1'), 0, request);
      expect(whole !== undefined && !isHeadError(whole) && whole.end === head.length).toBe(true);
      for (let k = 0; k < head.length; k++) {
        expect({ prefix: head.slice(0, k), r: parseHead(Buffer.from(head.slice(0, k), 'latin1'), 0, request) }).toEqual(
          { prefix: head.slice(0, k), r: undefined },
        );
      }
    }
  });

  it('reads known field names in any case, and unknown ones lowercased', () => {
    const h = ok(
      'GET / HTTP/1.1\r\nHOST: a\r\nCoNtEnT-TyPe: x\r\nX-B3-TRACEID: 1\r\nX-Custom-Thing: y\r\nAccept-Encodinx: z\r\n\r\n',
    );
    expect(h.host).toBe('a');
    expect(h.headers).toEqual({
      'content-type': 'x',
      'x-b3-traceid': '1',
      'x-custom-thing': 'y',
      'accept-encodinx': 'z',
    });
    expect(ok('PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n').method).toBe('PROPFIND');
    expect(status('get / HTTP/1.1\r\nHost: a\r\n\r\n')).toBe('accepted');
    expect(ok('get / HTTP/1.1\r\nHost: a\r\n\r\n').method).toBe('get');
  });

  it('refuses every ambiguous or malformed framing (RFC 9112 6.3, 7.1, 5.2, 3.2)', () => {
    const refusals: [string, number][] = [
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 5\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 501],
      ['POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n', 400],
      ['POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n', 400],
      ['GET / HTTP/1.1\nHost: a\n\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\nX: b\u0000c\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nX: y\r\n\r\n', 400],
      ['GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
      ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 400],
      ['GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 400],
      ['G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
      ['GET /a\u007fb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
      [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`, 431],
      [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}`, 431],
      [`GET / HTTP/1.1\r\nHost: a\r\n${'X: y\r\n'.repeat(300)}\r\n`, 431],
    ];
    for (const [head, expected] of refusals) expect({ head, got: status(head) }).toEqual({ head, got: expected });
  });

  it('parses response heads and their framing', () => {
    const r = parseHead(
      Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nabc'),
      0,
      false,
    ) as MessageHead;
    expect(r).toMatchObject({ status: 200, contentLength: 3, headers: { 'set-cookie': ['a=1', 'b=2'] } });
    expect((parseHead(Buffer.from('HTTP/1.1 204\r\n\r\n'), 0, false) as MessageHead).status).toBe(204);
    expect(
      (parseHead(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), 0, false) as MessageHead)
        .otherEncoding,
    ).toBe(true);
    expect(
      parseHead(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'), 0, false),
    ).toMatchObject({ error: 502 });
    expect(parseHead(Buffer.from('HTTP/1.1 2x0 OK\r\n\r\n'), 0, false)).toMatchObject({ error: 502 });
    expect(parseHead(Buffer.from('HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n'), 0, false)).toMatchObject({ error: 502 });
  });
});

/** Header lines that decide framing, in any combination and order. */
const framingLine = fc.oneof(
  fc.constantFrom(
    'Content-Length: 5',
    'Content-Length: 0',
    'content-length: 7',
    'Content-Length: 5, 5',
    'Content-Length:5 ',
    'Content-Length: 05',
  ),
  fc.constantFrom(
    'Transfer-Encoding: chunked',
    'transfer-encoding: CHUNKED',
    'Transfer-Encoding: gzip',
    'Transfer-Encoding: gzip, chunked',
    'Transfer-Encoding: chunked, identity',
  ),
  fc.constantFrom(
    'Content-Length : 5',
    ' Transfer-Encoding: chunked',
    'Transfer-Encoding:\tchunked',
    'X-Other: 1',
    'Host: second',
  ),
);

describe('request head parser, fuzzed', () => {
  it('never throws on arbitrary bytes, and an accepted head always has one well-defined framing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, asRequest) => {
        const buf = Buffer.from(bytes);
        const r = parseHead(buf, 0, asRequest);
        if (r === undefined || isHeadError(r)) return;
        expect(r.chunked && r.contentLength >= 0).toBe(false);
        expect(r.end).toBeLessThanOrEqual(buf.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('never accepts Content-Length with Transfer-Encoding, conflicting lengths, or a non-chunked final coding', () => {
    fc.assert(
      fc.property(fc.array(framingLine, { maxLength: 4 }), fc.string({ maxLength: 20 }), (lines, tail) => {
        const head = `POST / HTTP/1.1\r\nHost: a\r\n${lines.map((l) => l + '\r\n').join('')}\r\n${tail}`;
        const r = req(head);
        expect(r).not.toBeUndefined();
        const hasTe = lines.some((l) => /^transfer-encoding\s*:/i.test(l.trimStart()));
        const lengths = new Set(
          lines
            .filter((l) => /^content-length:/i.test(l))
            .flatMap((l) =>
              l
                .slice(l.indexOf(':') + 1)
                .split(',')
                .map((v) => Number(v.trim())),
            ),
        );
        if (isHeadError(r!)) return;
        const h = r as MessageHead;
        // accepted: exactly one reading of the body length
        expect(hasTe && lengths.size > 0).toBe(false);
        expect(lengths.size).toBeLessThanOrEqual(1);
        if (hasTe) expect(h.chunked).toBe(true);
        if (lengths.size === 1) expect(h.contentLength).toBe([...lengths][0]);
        if (!hasTe && lengths.size === 0) expect([h.chunked, h.contentLength]).toEqual([false, -1]);
        expect(lines.some((l) => l.startsWith(' ') || l.includes(' :') || l === 'Host: second')).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses any single-byte corruption of a head into CR, LF, NUL or SP-before-colon rather than guessing', () => {
    const base = 'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Y: z\r\n\r\n';
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 5 }), fc.constantFrom('\r', '\n', '\u0000'), (at, ch) => {
        const s = base.slice(0, at) + ch + base.slice(at + 1);
        if (s === base) return;
        const r = req(s);
        if (r === undefined) return; // the terminator itself was broken: still waiting for it
        if (!isHeadError(r)) {
          // accepted only if the corruption left an equivalent head (it replaced the same byte)
          expect(base[at]).toBe(ch);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('chunked decoder', () => {
  const decode = (parts: Buffer[]): { data: string; result: number; trailers: unknown } => {
    const d = new ChunkedDecoder();
    let data = '';
    let result: number = Feed.More;
    for (const p of parts) {
      result = d.feed(p, 0, (c) => (data += c.toString('latin1')));
      if (result !== Feed.More) break;
    }
    return { data, result, trailers: d.trailers };
  };

  it('decodes sizes, extensions and trailers, and stops at the end of the body', () => {
    const body = Buffer.from('5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: abc\r\n\r\nGET /next');
    const r = decode([body]);
    expect(r.data).toBe('hello world');
    expect(r.trailers).toEqual({ 'x-sum': 'abc' });
    expect(body.subarray(r.result).toString()).toBe('GET /next');
  });

  it('refuses invalid sizes, missing CRLFs and bare LFs', () => {
    for (const bad of [
      'zz\r\nabc\r\n0\r\n\r\n',
      '5\nhello\r\n0\r\n\r\n',
      '5\r\nhelloX\r\n0\r\n\r\n',
      '-1\r\n',
      '\r\n',
      '5\r\nhello\n0\r\n\r\n',
      'fffffffffffffffff\r\n',
      '0\r\nX: a\nY: b\r\n\r\n',
    ]) {
      expect({ bad, r: decode([Buffer.from(bad)]).result }).toEqual({ bad, r: Feed.Invalid });
    }
  });

  it('decodes the same however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc
            .string({ unit: 'binary', minLength: 1, maxLength: 40 })
            .map((s) => Buffer.from(s, 'utf8').toString('latin1')),
          { maxLength: 6 },
        ),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 10 }),
        fc.boolean(),
        (chunks, cuts, withTrailer) => {
          const wire = Buffer.from(
            chunks.map((c) => `${Buffer.byteLength(c, 'latin1').toString(16)}\r\n${c}\r\n`).join('') +
              (withTrailer ? '0\r\nX-T: v\r\n\r\n' : '0\r\n\r\n'),
            'latin1',
          );
          const parts: Buffer[] = [];
          let at = 0;
          for (let i = 0; at < wire.length; i++) {
            const n = cuts[i % cuts.length]!;
            parts.push(wire.subarray(at, at + n));
            at += n;
          }
          const d = new ChunkedDecoder();
          let data = '';
          let ended = false;
          for (const p of parts) {
            const r = d.feed(p, 0, (c) => (data += c.toString('latin1')));
            expect(r).not.toBe(Feed.Invalid);
            if (r !== Feed.More) {
              expect(r).toBe(p.length);
              ended = true;
            }
          }
          expect(ended).toBe(true);
          expect(data).toBe(chunks.join(''));
          expect(d.trailers).toEqual(withTrailer ? { 'x-t': 'v' } : undefined);
        },
      ),
      { numRuns: 200 },
    );
  });
});
