/**
 * The JSON Web Key Sets of RequestAuthentication `jwksUri`s, fetched by the control plane (as
 * istiod does) so sidecars get the keys inline and need no route to the issuer: fetched when a
 * URI first appears, refreshed every 20 minutes, retried with backoff after a failure while the
 * last good keys stay in force. A change of keys triggers a push.
 *
 * Beyond istiod (whose proxies never tell it about a key they miss, so a rotation can take up to
 * 20 minutes to reach them): a sidecar that meets a token whose `kid` is not in its keys says so
 * on its config stream, and the issuer's key sets are fetched again at once, at most once a
 * minute per URI (a hint inside that minute is kept and served when the minute is up), so a
 * flood of made-up kids costs the issuer one request a minute.
 */
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

/** Istio's default refresh interval (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL). */
export const JWKS_REFRESH_MS = 20 * 60_000;
const MAX_BYTES = 1 << 20;
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** The shortest time between two fetches of a URI that an unknown `kid` asks for. */
export const JWKS_UNKNOWN_KID_MIN_INTERVAL_MS = 60_000;

/** Options of the cache. */
export interface JwksCacheOptions {
  /** called when the keys of `uri` changed (first fetch, rotation) */
  readonly onChange: (uri: string) => void;
  readonly log: (line: string) => void;
  readonly refreshMs?: number;
  /** shortest time between fetches an unknown `kid` triggers (default a minute) */
  readonly unknownKidMinIntervalMs?: number;
  /** extra trust roots for the issuers' HTTPS (tests; NODE_EXTRA_CA_CERTS works too) */
  readonly ca?: string;
  /**
   * Like curl's --connect-to: `host:port` of a jwksUri -> the `address:port` to connect to instead,
   * keeping the URI's name for TLS verification (an issuer reachable at another address; tests)
   */
  readonly connectTo?: Readonly<Record<string, string>>;
}

/** How the control plane reaches issuers (ControlPlaneOptions / MeshServingOptions). */
export type JwksFetchOptions = Pick<JwksCacheOptions, 'ca' | 'connectTo' | 'refreshMs' | 'unknownKidMinIntervalMs'>;

interface Entry {
  keys: string | undefined;
  /** the `kid`s of `keys` */
  kids: ReadonlySet<string>;
  /** the issuers whose rules name this URI (an unknown-kid hint names an issuer) */
  issuers: ReadonlySet<string>;
  /** when the last fetch started (ms since epoch); 0: never */
  lastAttempt: number;
  /** a fetch an unknown kid asked for is scheduled (the refresh timer was moved forward) */
  hinted: boolean;
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
  /** the issuers of the rules that name this URI */
  readonly issuers?: readonly string[];
}

/** Fetched key sets by URI. */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly opts: JwksCacheOptions) {}

  /** Starts fetching URIs not seen before; forgets those no longer used. */
  track(sources: readonly JwksSource[]): void {
    if (this.closed) return;
    const wanted = new Map(sources.map((s) => [s.uri, s]));
    for (const [uri, e] of this.entries) {
      if (wanted.has(uri)) continue;
      if (e.timer) clearTimeout(e.timer);
      this.entries.delete(uri);
    }
    for (const [uri, { timeoutMs, issuers }] of wanted) {
      const e = this.entries.get(uri);
      if (e) {
        e.timeoutMs = timeoutMs;
        e.issuers = new Set(issuers);
        continue;
      }
      this.entries.set(uri, {
        keys: undefined,
        kids: new Set(),
        issuers: new Set(issuers),
        lastAttempt: 0,
        hinted: false,
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

  /**
   * A sidecar met a token of `issuer` signed with `kid`, which its keys do not have: fetch the
   * key sets of that issuer's URIs again, now or (inside a minute of the last fetch) when the
   * minute is up. Returns how many URIs will be fetched (0: unknown issuer, kid already known,
   * or a fetch already on its way).
   */
  unknownKey(issuer: string, kid: string): number {
    if (this.closed) return 0;
    const minGap = this.opts.unknownKidMinIntervalMs ?? JWKS_UNKNOWN_KID_MIN_INTERVAL_MS;
    let n = 0;
    for (const [uri, e] of this.entries) {
      if (!e.issuers.has(issuer)) continue;
      // Known here: the sidecar has not got the last push yet; a fetch would not help it.
      if (kid !== '' && e.kids.has(kid)) continue;
      if (e.fetching || e.hinted) continue;
      const wait = Math.max(0, e.lastAttempt + minGap - Date.now());
      // A retry after a failure already comes sooner than that: leave it.
      if (e.failures > 0 && wait > 0) continue;
      e.hinted = true;
      this.opts.log(
        `jwks: a sidecar met kid "${kid.slice(0, 64)}" of ${issuer.slice(0, 256)}, not in the keys of ${uri}; fetching ${wait === 0 ? 'now' : `in ${Math.ceil(wait / 1000)}s`}`,
      );
      this.schedule(uri, e, wait);
      n++;
    }
    return n;
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
    e.hinted = false;
    e.lastAttempt = Date.now();
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
        e.kids = kidsOf(keys);
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

function kidsOf(keys: string): Set<string> {
  const out = new Set<string>();
  for (const k of (JSON.parse(keys) as { keys: { kid?: unknown }[] }).keys)
    if (typeof k.kid === 'string') out.add(k.kid);
  return out;
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
