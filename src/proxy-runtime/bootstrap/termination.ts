/**
 * How the sidecar of a terminating pod stops without failing a request (issue 17), as Istio's
 * terminationDrainDuration and EXIT_ON_ZERO_ACTIVE_CONNECTIONS, and then some:
 *
 * - `holdApp()` answers the app container's preStop hook (inject adds an httpGet to 15020 where the
 *   app has no preStop of its own): the kubelet sends the app SIGTERM only once the pod's peers have
 *   stopped sending to it (no new inbound request for `quietMs`, none in flight), at most `drainMs`.
 *   The control plane drops a terminating pod from every endpoint list at once; this covers the time
 *   its peers take to get that update, so a careless app that exits on SIGTERM loses nothing.
 * - `untilDone()` runs on the sidecar's own SIGTERM (after the app exited for a native sidecar, with
 *   it for a classic one): the pod reports not ready; inbound keeps accepting while the app still
 *   accepts connections and stops once it no longer does (a peer then gets a refused connection,
 *   which it retries elsewhere, POSTs included); outbound keeps working, so an app still shutting
 *   down can call out. It resolves once the app is gone, nothing is in flight and `drainMs` has passed.
 *   The kubelet's SIGKILL at the end of the grace period bounds it.
 */
import { connect } from 'node:net';
import type { ProxyLog } from '../ground/log.js';

/** What termination needs from the proxy. */
export interface TerminatingProxy {
  readonly inbound: { readonly inFlight: number; readonly lastStartedAt: number };
  /** Requests and TCP streams in flight, both directions. */
  readonly inFlight: number;
  stopInbound(): Promise<void>;
}

/** Settings of a pod's termination. */
export interface TerminationOptions {
  /** terminationDrainDuration: the longest the app is held, and the least the sidecar outlives termination's start. */
  readonly drainMs: number;
  /** How long inbound must be quiet before the app may stop (default 1 s). */
  readonly quietMs?: number;
  /** The app's container ports (its inbound ports); none: the app counts as gone once asked to stop. */
  readonly appPorts: readonly number[];
  readonly log: ProxyLog;
  /**
   * A gateway: no app; its listeners keep accepting for the whole drain duration (load balancers in
   * front of it learn of the termination late), then it stops.
   */
  readonly gateway?: boolean;
  /** How often conditions are re-checked (default 100 ms). */
  readonly pollMs?: number;
  /** Whether something accepts connections on 127.0.0.1:port (default: a TCP connect). */
  readonly accepts?: (port: number) => Promise<boolean>;
}

/** Default terminationDrainDuration, as Istio's. */
export const DEFAULT_DRAIN_MS = 5_000;

/** A pod's termination, seen from its sidecar. */
export class PodTermination {
  private startedAt: number | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly proxy: TerminatingProxy,
    private readonly o: TerminationOptions,
  ) {}

  /** Whether the sidecar got SIGTERM (the pod then reports not ready). */
  get terminating(): boolean {
    return this.startedAt !== undefined;
  }

  /**
   * Resolves once inbound has been quiet for `quietMs` with nothing in flight, or after `drainMs`.
   * It changes nothing, so anyone reaching the health port may call it at no cost to the pod.
   */
  async holdApp(): Promise<'quiet' | 'drain duration reached'> {
    const quietMs = this.o.quietMs ?? 1_000;
    const deadline = performance.now() + this.o.drainMs;
    for (;;) {
      const now = performance.now();
      const { inFlight, lastStartedAt } = this.proxy.inbound;
      if (inFlight === 0 && now - lastStartedAt >= quietMs) return 'quiet';
      if (now >= deadline) return 'drain duration reached';
      await sleep(Math.min(this.o.pollMs ?? 100, deadline - now));
    }
  }

  /** Starts (once) and resolves when the sidecar may exit. */
  untilDone(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  private async run(): Promise<void> {
    const started = performance.now();
    this.startedAt = started;
    const { log } = this.o;
    log.info('pod terminating: serving until the app has exited and nothing is in flight', {
      drainMs: this.o.drainMs,
    });
    const accepts = this.o.accepts ?? tcpAccepts;
    const appUp = async (): Promise<boolean> =>
      (await Promise.all(this.o.appPorts.map((p) => accepts(p)))).some(Boolean);
    if (!this.o.gateway) {
      while (await appUp()) await sleep(this.o.pollMs ?? 100);
      await this.proxy.stopInbound();
      log.info('the app no longer accepts connections: inbound closed', { inFlight: this.proxy.inbound.inFlight });
    }
    while (this.proxy.inFlight > 0 || performance.now() - started < this.o.drainMs)
      await sleep(Math.max(1, Math.min(this.o.pollMs ?? 100, this.o.drainMs - (performance.now() - started))));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether 127.0.0.1:port accepts a TCP connection (within 1 s). */
function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, timeout: 1_000 });
    const end = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => end(true));
    s.once('timeout', () => end(false));
    s.once('error', () => end(false));
  });
}
