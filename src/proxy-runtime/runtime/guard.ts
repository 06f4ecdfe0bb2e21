/**
 * The last-resort guard of a proxy process. Every stream and socket error is meant to be handled
 * where it arises; one that escapes (a bug, or input nobody foresaw) must not end the process and
 * with it every other connection of the workload. It is logged (message and stack, never request
 * data), counted in `meshctl_proxy_internal_errors_total`, and the proxy keeps serving: Envoy's
 * answer to the same problem is to reset the one stream, and an escaped error here has already
 * lost its stream.
 */
import type { ProxyLog } from '../ground/log.js';

/** What the guard reports to. */
export interface GuardSink {
  readonly log: ProxyLog;
  /** counts one escaped error, by kind */
  count(kind: 'exception' | 'rejection'): void;
}

/** Installs the guard on this process; returns its removal. One proxy per process installs it. */
export function installLastResortGuard(sink: GuardSink): () => void {
  const onException = (err: unknown): void => report(sink, 'exception', err);
  const onRejection = (err: unknown): void => report(sink, 'rejection', err);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}

function report(sink: GuardSink, kind: 'exception' | 'rejection', err: unknown): void {
  sink.count(kind);
  const e = err instanceof Error ? err : new Error(String(err));
  sink.log.error('internal error caught by the last-resort guard; the proxy keeps serving', {
    kind,
    error: e.message,
    stack: e.stack,
  });
}
