/**
 * The routing layer: picks the route (404 + NR when none), answers redirects and direct
 * responses itself, applies rewrites and the route's header operations.
 */
import type { HttpLayer } from '../layer.js';
import { applyHeaderOps, hasHeaderOps } from '../headers/header-ops.js';
import { Flags, localResponse, type ProxyResponse } from '../../ground/types.js';
import { answerPreflight, decorateResponse, isPreflight } from './cors.js';
import type { CompiledMatch, CompiledRoute } from './route-table.js';

/** Routes the exchange through its chain's route table. */
export const routeLayer: HttpLayer = (next) => (ex) => {
  const table = ex.conn.chain.routes;
  const found = table?.match(ex, ex.runtime.node.labels);
  if (!found) {
    ex.flag(Flags.noRoute);
    return Promise.resolve(localResponse(404, null));
  }
  const { route, matched } = found;
  ex.route = route;
  const origin = route.cors ? ex.headers.origin : undefined;
  if (route.cors && typeof origin === 'string') {
    if (isPreflight(ex.method, ex.headers)) {
      const answer = answerPreflight(route.cors, origin);
      if (answer) return Promise.resolve(answer);
    } else {
      const cors = route.cors;
      return routed(next, ex, route, matched).then((res) => decorateResponse(cors, origin, res));
    }
  }
  return routed(next, ex, route, matched);
};

function routed(
  next: Parameters<HttpLayer>[0],
  ex: Parameters<ReturnType<HttpLayer>>[0],
  route: CompiledRoute,
  matched: CompiledMatch | undefined,
): Promise<ProxyResponse> {
  if (route.redirect) {
    const r = route.redirect;
    const q = ex.path.indexOf('?');
    const prefix = matched?.uriPrefix;
    const current = ex.pathOnly();
    let path =
      r.prefixRewrite !== undefined && prefix !== undefined && current.startsWith(prefix)
        ? r.prefixRewrite + current.slice(prefix.length)
        : (r.uri ?? current);
    if (q >= 0 && !path.includes('?')) path += ex.path.slice(q);
    let authority = r.authority ?? ex.authority;
    const requestPort = /:(\d+)$/.exec(ex.authority)?.[1];
    if (r.port !== undefined) authority = `${authority.replace(/:\d+$/, '')}:${r.port}`;
    else if (r.derivePort === 'FROM_PROTOCOL_DEFAULT') authority = authority.replace(/:\d+$/, '');
    else if (r.derivePort === 'FROM_REQUEST_PORT' && requestPort !== undefined)
      authority = `${authority.replace(/:\d+$/, '')}:${requestPort}`;
    // httpsRedirect: the http default port does not carry over to https (as Envoy).
    else if (r.scheme === 'https' && authority.endsWith(':80')) authority = authority.slice(0, -3);
    return Promise.resolve(
      localResponse(r.redirectCode ?? 301, null, { location: `${r.scheme ?? ex.scheme}://${authority}${path}` }),
    );
  }
  if (route.directResponse) {
    if (route.directResponse.flag) ex.flag(route.directResponse.flag);
    return Promise.resolve(localResponse(route.directResponse.status, route.directResponse.body ?? null));
  }
  if (route.rewrite) {
    const rw = route.rewrite;
    if (rw.uri !== undefined) {
      const q = ex.path.indexOf('?');
      const query = q >= 0 ? ex.path.slice(q) : '';
      const path = ex.pathOnly();
      const prefix = matched?.uriPrefix;
      const rewritten = prefix !== undefined && path.startsWith(prefix) ? rw.uri + path.slice(prefix.length) : rw.uri;
      ex.path = (rewritten.startsWith('/') ? rewritten : '/' + rewritten).replace(/^\/\/+/, '/') + query;
    }
    if (route.uriRegex) {
      const q = ex.path.indexOf('?');
      const query = q >= 0 ? ex.path.slice(q) : '';
      ex.path = route.uriRegex.re.matcher(ex.pathOnly()).replaceAll(route.uriRegex.replacement) + query;
    }
    if (rw.authority !== undefined) ex.authority = rw.authority;
  }
  applyHeaderOps(ex.headers, route.requestHeaders);
  // Without response header operations there is nothing to do on the way back: no extra promise.
  if (!hasHeaderOps(route.responseHeaders)) return next(ex);
  return next(ex).then((res) => {
    applyHeaderOps(res.headers, route.responseHeaders);
    return res;
  });
}
