/** The HTTP stack of a listener, outermost layer first. */
import { compose, type HttpHandler } from './layer.js';
import { routeLayer } from './route/route-layer.js';
import { faultLayer } from './fault/fault-layer.js';
import { mirrorLayer } from './mirror/mirror-layer.js';
import { timeoutLayer } from './timeout/timeout-layer.js';
import { retryLayer } from './retry/retry-layer.js';
import { forward } from './forward.js';
import { authzLayer } from './authz/authz-layer.js';

/** authz -> route -> fault -> mirror -> timeout -> retry -> forward. */
export const httpStack: HttpHandler = compose(
  [authzLayer, routeLayer, faultLayer, mirrorLayer, timeoutLayer, retryLayer],
  forward,
);
