/** The fault injection layer: delays (DI) and aborts (FI) a share of requests, as configured. */
import type { HttpLayer } from '../layer.js';
import { sleepFor } from '../layer.js';
import { Flags, localResponse, UpstreamFailure } from '../../ground/types.js';
import { chance } from './fault.js';
import { grpcLocalResponse } from '../grpc-status.js';

/** Injects the route's faults before anything is sent upstream. */
export const faultLayer: HttpLayer = (next) => {
  const inject = withFaults(next);
  // Routes without faults go straight on (no async frame, no extra promise).
  return (ex) => (ex.route?.fault ? inject(ex) : next(ex));
};

const withFaults: HttpLayer = (next) => async (ex) => {
  const f = ex.route!.fault!;
  if (f.delayMs > 0 && chance(f.delayFraction)) {
    ex.flag(Flags.faultDelay);
    if (!(await sleepFor(ex, f.delayMs)))
      throw new UpstreamFailure('downstream-closed', 'downstream closed during fault delay');
  }
  if ((f.abortStatus !== undefined || f.abortGrpcStatus !== undefined) && chance(f.abortFraction)) {
    ex.flag(Flags.faultAbort);
    if (ex.isGrpc() && f.abortGrpcStatus !== undefined)
      return grpcLocalResponse(f.abortGrpcStatus, 'fault filter abort');
    return localResponse(f.abortStatus ?? 503, 'fault filter abort');
  }
  return next(ex);
};
