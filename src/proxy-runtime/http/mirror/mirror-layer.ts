/**
 * Mirroring (Istio `mirror` + `mirrorPercentage`): a copy of the request goes to the mirror
 * cluster, fire-and-forget, with `-shadow` appended to the Host; its response is read and
 * discarded and its failures never touch the real request. The body copy is capped.
 */
import { PassThrough } from 'node:stream';
import type { HttpLayer } from '../layer.js';
import type { Exchange } from '../exchange.js';
import type { ClusterRuntime } from '../../upstream/cluster.js';
import { chance } from '../fault/fault.js';
import type { UpstreamRequestHead } from '../../ground/types.js';
import { ORIG_PROTO_HEADER, protocolFor } from '../forward.js';
import { PEER_METADATA_HEADER } from '../../ground/peer-metadata.js';

const MIRROR_BODY_CAP = 1 << 20;

function shadowAuthority(authority: string): string {
  const m = /^(.*?)(:\d+)?$/.exec(authority)!;
  return `${m[1]}-shadow${m[2] ?? ''}`;
}

/** Sends the configured share of requests to each mirror cluster too (Istio mirror and mirrors). */
export const mirrorLayer: HttpLayer = (next) => (ex) => {
  const mirrors = ex.route?.mirrors;
  if (!mirrors || mirrors.length === 0) return next(ex);
  for (const m of mirrors) if (chance(m.fraction)) sendCopy(ex, m.cluster, m.subset);
  return next(ex);
};

function sendCopy(ex: Exchange, cluster: ClusterRuntime, subset: string | undefined): void {
  const ep = cluster.select(subset, undefined, Date.now()).endpoint;
  if (!ep) return;
  let body: PassThrough | null = null;
  if (ex.body.hasBody) {
    body = new PassThrough();
    ex.body.addTap(body, MIRROR_BODY_CAP);
  }
  const useH2 = protocolFor(cluster, ep, ex) === 'h2';
  const headers = { ...ex.headers };
  if (ep.mtls) {
    // As forward() does for the real request: without the original protocol, the peer sidecar
    // would speak h2c to an HTTP/1.1 app and every copy would end in 503 UC there.
    if (ex.conn.listener.direction === 'outbound') headers[PEER_METADATA_HEADER] = ex.runtime.peerMetadata;
    if (useH2 && ex.protocol === 'HTTP/1.1') headers[ORIG_PROTO_HEADER] = 'HTTP/1.1';
  }
  const head: UpstreamRequestHead = {
    method: ex.method,
    path: ex.path,
    authority: shadowAuthority(ex.authority),
    scheme: 'http',
    headers,
  };
  const inFlight = (useH2 ? cluster.h2 : cluster.h1).send(ep, head, body);
  inFlight.response.then(
    (res) => {
      res.body?.on('error', () => undefined);
      res.body?.resume();
    },
    () => undefined,
  );
}
