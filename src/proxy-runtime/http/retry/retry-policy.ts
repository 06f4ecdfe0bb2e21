/**
 * Compiled retry policy (Istio HTTPRetry): which outcomes are retried, how often, how long each
 * try may take, and the backoff between tries (exponential with full jitter, as Envoy: base 25ms,
 * max 10x base). Idempotency: a non-idempotent request (POST, PATCH, ...) is retried only when it
 * certainly never reached the upstream (connect failure, refused stream), unless configured.
 */
import type { RetryPolicyConfig } from '../../../protocol/proxy-config/index.js';
import { durationMs } from '../../../protocol/proxy-config/index.js';
import type { UpstreamFailure } from '../../ground/types.js';

/** A compiled retry policy. */
export interface CompiledRetry {
  readonly attempts: number;
  readonly perTryTimeoutMs: number;
  readonly on5xx: boolean;
  readonly onGatewayError: boolean;
  readonly onReset: boolean;
  readonly onConnectFailure: boolean;
  readonly onRefusedStream: boolean;
  readonly onRetriable4xx: boolean;
  /** reset-before-request: a reset before any of the request reached the upstream. */
  readonly onResetBeforeRequest: boolean;
  /** envoy-ratelimited: a response carrying x-envoy-ratelimited. */
  readonly onRateLimited: boolean;
  /** gRPC conditions (cancelled 1, deadline-exceeded 4, resource-exhausted 8, internal 13, unavailable 14). */
  readonly grpcStatuses: ReadonlySet<string>;
  readonly statusCodes: ReadonlySet<number>;
  readonly retryNonIdempotent: boolean;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly maxBodyBytes: number;
  readonly budget: RetryPolicyConfig['budget'];
}

/** The gRPC retryOn conditions and the grpc-status each one matches (Envoy x-envoy-retry-grpc-on). */
export const GRPC_RETRY_ON: Readonly<Record<string, string>> = {
  cancelled: '1',
  'deadline-exceeded': '4',
  'resource-exhausted': '8',
  internal: '13',
  unavailable: '14',
};

/** Compiles a retry policy; Istio's default retryOn applies when none is given. */
export function compileRetry(cfg: RetryPolicyConfig): CompiledRetry {
  const tokens = (cfg.retryOn ?? 'connect-failure,refused-stream,gateway-error,reset').split(',').map((t) => t.trim());
  const statusCodes = new Set<number>(cfg.retriableStatusCodes ?? []);
  for (const t of tokens) if (/^[1-5][0-9][0-9]$/.test(t)) statusCodes.add(Number(t));
  const base = durationMs(cfg.backoff?.baseInterval, 25);
  return {
    attempts: cfg.attempts,
    perTryTimeoutMs: durationMs(cfg.perTryTimeout, 0),
    on5xx: tokens.includes('5xx'),
    onGatewayError: tokens.includes('gateway-error'),
    onReset: tokens.includes('reset') || tokens.includes('5xx'),
    onConnectFailure: tokens.includes('connect-failure') || tokens.includes('5xx') || tokens.includes('gateway-error'),
    onRefusedStream: tokens.includes('refused-stream') || tokens.includes('5xx'),
    onRetriable4xx: tokens.includes('retriable-4xx'),
    onResetBeforeRequest: tokens.includes('reset-before-request'),
    onRateLimited: tokens.includes('envoy-ratelimited'),
    grpcStatuses: new Set(tokens.filter((t) => GRPC_RETRY_ON[t] !== undefined).map((t) => GRPC_RETRY_ON[t]!)),
    statusCodes: tokens.includes('retriable-status-codes') || statusCodes.size > 0 ? statusCodes : new Set(),
    retryNonIdempotent: cfg.retryNonIdempotent ?? false,
    baseIntervalMs: base,
    maxIntervalMs: durationMs(cfg.backoff?.maxInterval, base * 10),
    maxBodyBytes: cfg.maxBodyBytes ?? 65_536,
    budget: cfg.budget,
  };
}

/**
 * Whether a response is retried under the policy. A gRPC condition matches the grpc-status of a
 * trailers-only answer (the status in the response head, as Envoy reads it) and applies to any
 * method: every gRPC call is a POST, and these statuses are the server declining the call.
 */
export function retriableStatus(
  p: CompiledRetry,
  status: number,
  idempotent: boolean,
  headers?: Readonly<Record<string, unknown>>,
): boolean {
  if (p.grpcStatuses.size > 0 && headers !== undefined) {
    const g = headers['grpc-status'];
    if (typeof g === 'string' && p.grpcStatuses.has(g.trim())) return true;
  }
  if (!idempotent && !p.retryNonIdempotent) return false;
  if (p.onRateLimited && headers?.['x-envoy-ratelimited'] !== undefined) return true;
  if (p.on5xx && status >= 500) return true;
  if (p.onGatewayError && (status === 502 || status === 503 || status === 504)) return true;
  if (p.onRetriable4xx && status === 409) return true;
  return p.statusCodes.has(status);
}

/** Whether a failure without response is retried under the policy. */
export function retriableFailure(p: CompiledRetry, f: UpstreamFailure, idempotent: boolean): boolean {
  switch (f.kind) {
    // reset-before-request covers every failure before the request left (Envoy counts a failed
    // connect as a reset).
    case 'connect-failure':
      return p.onConnectFailure || p.onResetBeforeRequest;
    case 'refused-stream':
      return p.onRefusedStream || p.onResetBeforeRequest;
    case 'reset':
      if (p.onResetBeforeRequest && f.notSent) return true;
      return p.onReset && (idempotent || p.retryNonIdempotent);
    case 'timeout':
      // A per-try timeout counts as a 504 (Envoy).
      return (p.on5xx || p.onGatewayError) && (idempotent || p.retryNonIdempotent);
    default:
      return false;
  }
}

/** Backoff before retry number `n` (1-based): full jitter over base x 2^(n-1), capped. */
export function backoffMs(p: CompiledRetry, n: number): number {
  const ceiling = Math.min(p.maxIntervalMs, p.baseIntervalMs * 2 ** (n - 1));
  return Math.random() * ceiling;
}
