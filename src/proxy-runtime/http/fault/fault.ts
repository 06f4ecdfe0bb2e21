/**
 * Fault injection (Istio HTTPFaultInjection): a fixed delay (flag DI) and/or an abort with an HTTP
 * or gRPC status (flag FI), each applied to a percentage of requests. The delay is cancelled if
 * the downstream leaves; the abort answers locally and nothing is sent upstream.
 */
import type { FaultPolicyConfig } from '../../../protocol/proxy-config/index.js';
import { durationMs } from '../../../protocol/proxy-config/index.js';

/** A compiled fault policy. */
export interface CompiledFault {
  readonly delayMs: number;
  readonly delayFraction: number;
  readonly abortStatus: number | undefined;
  readonly abortGrpcStatus: number | undefined;
  readonly abortFraction: number;
}

/** Compiles a fault policy (percentage defaults to 100, as Istio). */
export function compileFault(cfg: FaultPolicyConfig): CompiledFault {
  return {
    delayMs: cfg.delay ? durationMs(cfg.delay.fixedDelay, 0) : 0,
    delayFraction: cfg.delay ? (cfg.delay.percentage?.value ?? 100) / 100 : 0,
    abortStatus: cfg.abort?.httpStatus,
    abortGrpcStatus: cfg.abort?.grpcStatus,
    abortFraction: cfg.abort ? (cfg.abort.percentage?.value ?? 100) / 100 : 0,
  };
}

/** Whether an event with probability `fraction` happens this time. */
export function chance(fraction: number): boolean {
  return fraction >= 1 || (fraction > 0 && Math.random() < fraction);
}
