/**
 * Mirroring (Istio `mirror` + `mirrorPercentage`): a copy of the request goes to the mirror
 * cluster, fire-and-forget, with `-shadow` appended to the Host; its response is read and
 * discarded and its failures never touch the real request. The body copy is capped.
 */
import { PassThrough } from 'node:stream';
import type { HttpLayer } from '../layer.js';
import { chance } from '../fault/fault.js';
import type { UpstreamRequestHead } from '../types.js';

const MIRROR_BODY_CAP = 1 << 20;

function shadowAuthority(authority: string): string {
  const m = /^(.*?)(:\d+)?$/.exec(authority)!;
  return `${m[1]}-shadow${m[2] ?? ''}`;
}

/** Sends the configured share of requests to the mirror cluster too. */
export const mirrorLayer: HttpLayer = (next) => (ex) => {
  const m = ex.route?.mirror;
  if (!m || !chance(m.fraction)) return next(ex);
  const cluster = m.cluster;
  const sel = cluster.select(m.subset, undefined, Date.now());
  const ep = sel.endpoint;
  if (ep) {
    let body: PassThrough | null = null;
    if (ex.body.hasBody) {
      body = new PassThrough();
      ex.body.addTap(body, MIRROR_BODY_CAP);
    }
    const head: UpstreamRequestHead = { method: ex.method, path: ex.path, authority: shadowAuthority(ex.authority), scheme: 'http', headers: { ...ex.headers } };
    const useH2 = cluster.protocol === 'http2' || ep.mtls || (cluster.protocol === 'auto' && ex.protocol === 'HTTP/2');
    const inFlight = (useH2 ? cluster.h2 : cluster.h1).send(ep, head, body);
    inFlight.response.then(
      (res) => {
        res.body?.on('error', () => undefined);
        res.body?.resume();
      },
      () => undefined,
    );
  }
  return next(ex);
};
