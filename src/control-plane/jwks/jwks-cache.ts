/**
 * The JSON Web Key Sets of RequestAuthentication `jwksUri`s, fetched by the control plane (as
 * istiod does) so sidecars get the keys inline and need no route to the issuer: fetched when a
 * URI first appears, refreshed every 20 minutes, retried with backoff after a failure while the
 * last good keys stay in force. A change of keys triggers a push.
 */
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

/** Istio's default refresh interval (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL). */
export const JWKS_REFRESH_MS = 20 * 60_000;
const MAX_BYTES = 1 << 20;
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/** Options of the cache. */
export interface JwksCacheOptions {
  /** called when the keys of `uri` changed (first fetch, rotation) */
  readonly onChange: (uri: string) => void;
  readonly log: (line: string) => void;
  readonly refreshMs?: number;
  /** extra trust roots for the issuers' HTTPS (tests; NODE_EXTRA_CA_CERTS works too) */
  readonly ca?: string;
  /**
   * Like curl's --connect-to: `host:port` of a jwksUri -> the `address:port` to connect to instead,
   * keeping the URI's name for TLS verification (an issuer reachable at another address; tests)
   */
  readonly connectTo?: Readonly<Record<string, string>>;
}

/** How the control plane reaches issuers (ControlPlaneOptions / MeshServingOptions). */
export type JwksFetchOptions = Pick<JwksCacheOptions, 'ca' | 'connectTo' | 'refreshMs'>;

interface Entry {
  keys: string | undefined;
  timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  failures: number;
  fetching: boolean;
  lastError: string | undefined;
  fetchedAt: Date | undefined;
}

/** A JWKS URI and the fetch timeout its rule asks for. */
export interface JwksSource {
  readonly uri: string;
  readonly timeoutMs: number;
}

/** Fetched key sets by URI. */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly opts: JwksCacheOptions) {}

  /** Starts fetching URIs not seen before; forgets those no longer used. */
  track(sources: readonly JwksSource[]): void {
    if (this.closed) return;
    const wanted = new Map(sources.map((s) => [s.uri, s.timeoutMs]));
    for (const [uri, e] of this.entries) {
      if (wanted.has(uri)) continue;
      if (e.timer) clearTimeout(e.timer);
      this.entries.delete(uri);
    }
    for (const [uri, timeoutMs] of wanted) {
      const e = this.entries.get(uri);
      if (e) {
        e.timeoutMs = timeoutMs;
        continue;
      }
      this.entries.set(uri, {
        keys: undefined,
        timeoutMs,
        timer: undefined,
        failures: 0,
        fetching: false,
        lastError: undefined,
        fetchedAt: undefined,
      });
      this.fetch(uri);
    }
  }

  /** The last good key set of `uri` (normalized JSON), if one was ever fetched. */
  get(uri: string): string | undefined {
    return this.entries.get(uri)?.keys;
  }

  /** Every URI with keys, for the snapshot. */
  current(): ReadonlyMap<string, string> {
    const out = new Map<string, string>();
    for (const [uri, e] of this.entries) if (e.keys !== undefined) out.set(uri, e.keys);
    return out;
  }

  /** What the debug API shows: per URI, whether keys are held and the last error. */
  status(): { uri: string; hasKeys: boolean; fetchedAt?: string; lastError?: string }[] {
    return [...this.entries].map(([uri, e]) => ({
      uri,
      hasKeys: e.keys !== undefined,
      ...(e.fetchedAt ? { fetchedAt: e.fetchedAt.toISOString() } : {}),
      ...(e.lastError ? { lastError: e.lastError } : {}),
    }));
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    this.entries.clear();
  }

  private fetch(uri: string): void {
    const e = this.entries.get(uri);
    if (!e || e.fetching || this.closed) return;
    e.fetching = true;
    fetchJwks(uri, e.timeoutMs, this.opts).then(
      (keys) => {
        e.fetching = false;
        if (this.entries.get(uri) !== e) return;
        e.failures = 0;
        e.lastError = undefined;
        e.fetchedAt = new Date();
        const first = e.keys === undefined;
        const changed = keys !== e.keys;
        e.keys = keys;
        this.schedule(uri, e, this.opts.refreshMs ?? JWKS_REFRESH_MS);
        if (changed) {
          this.opts.log(`jwks: keys of ${uri} ${first ? 'fetched' : 'changed'}`);
          this.opts.onChange(uri);
        }
      },
      (err: Error) => {
        e.fetching = false;
        if (this.entries.get(uri) !== e) return;
        e.failures++;
        e.lastError = err.message;
        const wait = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(e.failures - 1, 10));
        this.opts.log(
          `jwks: fetching ${uri} failed (${err.message}); ${e.keys ? 'keeping the last good keys, ' : ''}retrying in ${wait / 1000}s`,
        );
        this.schedule(uri, e, wait);
      },
    );
  }

  private schedule(uri: string, e: Entry, ms: number): void {
    if (e.timer) clearTimeout(e.timer);
    e.timer = setTimeout(() => this.fetch(uri), ms);
    e.timer.unref();
  }
}

/** GETs a JWKS: 200, JSON with a `keys` array of JWKs, at most 1 MiB, within `timeoutMs`. */
export function fetchJwks(
  uri: string,
  timeoutMs: number,
  o: Pick<JwksCacheOptions, 'ca' | 'connectTo'> = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      reject(new Error(`"${uri}" is not a URL`));
      return;
    }
    const get = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
    if (!get) {
      reject(new Error(`"${uri}" is not an http(s) URL`));
      return;
    }
    const https = url.protocol === 'https:';
    const port = url.port || (https ? '443' : '80');
    const to = o.connectTo?.[`${url.hostname}:${port}`]?.match(/^\[?(.*?)\]?:([0-9]+)$/);
    const target = to
      ? { host: to[1]!, port: Number(to[2]), servername: url.hostname }
      : { host: url.hostname, port: Number(port) };
    const opts = {
      ...target,
      path: url.pathname + url.search,
      method: 'GET',
      timeout: timeoutMs,
      headers: { accept: 'application/json', host: url.host },
    };
    const req = get({ ...opts, ...(o.ca && https ? { ca: o.ca } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) {
          req.destroy(new Error('key set larger than 1 MiB'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { keys?: unknown };
          if (
            !Array.isArray(parsed.keys) ||
            parsed.keys.some(
              (k) => typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string',
            )
          ) {
            reject(new Error('not a JSON Web Key Set (no "keys" array of JWKs)'));
            return;
          }
          resolve(JSON.stringify({ keys: parsed.keys }));
        } catch {
          reject(new Error('not JSON'));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
