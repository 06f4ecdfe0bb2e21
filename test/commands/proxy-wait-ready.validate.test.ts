/** `meshctl proxy wait-ready` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/proxy-wait-ready.js';

describe('proxy wait-ready validate()', () => {
  const ok = { timeout: '120s', interval: '200ms', url: 'http://127.0.0.1:15021/healthz/ready' };
  it('reads the durations and the URL', () => {
    expect(validate(ok)).toEqual({ timeoutMs: 120_000, intervalMs: 200, url: ok.url });
  });
  it('refuses bad durations and a non-http URL', () => {
    expect(() => validate({ ...ok, timeout: 'x' })).toThrow(/--timeout x: not a duration/);
    expect(() => validate({ ...ok, interval: '0s' })).toThrow(/--interval 0s: not a positive duration/);
    expect(() => validate({ ...ok, url: 'ftp://h/' })).toThrow(/--url ftp:\/\/h\/: expected an http:\/\/ URL/);
  });
});
