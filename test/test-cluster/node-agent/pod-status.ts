/**
 * The pod status the kubelet would report (phase, conditions, pod IP, container statuses), published
 * with a strategic merge patch of the status subresource, coalesced so bursts of changes make one write.
 */
import type { V1Pod, V1PodCondition } from '@kubernetes/client-node';
import { kubeTime, type AgentContext } from './agent-context.js';
import type { ContainerRun } from './container-run.js';
import type { PodSandbox } from './pod-network.js';

/** What the status is computed from. */
export interface PodSnapshot {
  sandbox: PodSandbox | undefined;
  initialized: boolean;
  finished: boolean;
  inits: readonly ContainerRun[];
  apps: readonly ContainerRun[];
  restartPolicy: string;
}

/** Computes and writes one pod's status. */
export class PodStatusTracker {
  private readonly conditions = new Map<string, V1PodCondition>();
  private readonly startTime = kubeTime();
  private inFlight: Promise<void> | undefined;
  private pending: PodSnapshot | undefined;
  private timer: NodeJS.Timeout | undefined;

  private readonly ctx: AgentContext;
  private readonly pod: () => V1Pod;

  constructor(ctx: AgentContext, pod: () => V1Pod) {
    this.ctx = ctx;
    this.pod = pod;
  }

  private condition(type: string, ok: boolean, reason?: string, message?: string): void {
    const status = ok ? 'True' : 'False';
    const prev = this.conditions.get(type);
    const existing = this.pod().status?.conditions?.find((c) => c.type === type);
    const since =
      prev?.status === status
        ? prev.lastTransitionTime
        : existing?.status === status
          ? existing.lastTransitionTime
          : kubeTime();
    this.conditions.set(type, {
      type,
      status,
      lastProbeTime: null as unknown as Date,
      lastTransitionTime: since as unknown as Date,
      ...(!ok && reason ? { reason } : {}),
      ...(!ok && message ? { message } : {}),
    });
  }

  /** The status object for a snapshot. */
  compute(s: PodSnapshot): Record<string, unknown> {
    const failed =
      s.apps.some((a) => (a.state.terminated?.exitCode ?? 0) !== 0) ||
      s.inits.some((i) => i.role === 'init' && (i.state.terminated?.exitCode ?? 0) !== 0);
    const everStarted = s.apps.some(
      (a) => a.running || a.state.terminated || a.restartCount > 0 || a.lastState.terminated,
    );
    const phase = s.finished
      ? failed
        ? 'Failed'
        : 'Succeeded'
      : !s.initialized || !everStarted
        ? 'Pending'
        : 'Running';

    this.condition('PodReadyToStartContainers', s.sandbox !== undefined && !s.finished);
    const notInitialized = s.inits
      .filter((c) => (c.role === 'init' ? c.state.terminated?.exitCode !== 0 : !c.started))
      .map((c) => c.name);
    this.condition(
      'Initialized',
      s.initialized || notInitialized.length === 0,
      'ContainersNotInitialized',
      `containers with incomplete status: [${notInitialized.join(' ')}]`,
    );
    const unready = [...s.inits.filter((c) => c.role === 'sidecar'), ...s.apps]
      .filter((c) => !c.ready)
      .map((c) => c.name);
    const containersReady = unready.length === 0 && !s.finished;
    const reason = s.finished ? 'PodCompleted' : 'ContainersNotReady';
    const message = s.finished ? undefined : `containers with unready status: [${unready.join(' ')}]`;
    this.condition('ContainersReady', containersReady, reason, message);
    const gates = (this.pod().spec?.readinessGates ?? []).map((g) => g.conditionType);
    const missingGate = gates.find((g) => this.pod().status?.conditions?.find((c) => c.type === g)?.status !== 'True');
    this.condition(
      'Ready',
      containersReady && missingGate === undefined,
      containersReady ? 'ReadinessGatesNotReady' : reason,
      containersReady ? `corresponding condition of pod readiness gate "${missingGate}" does not exist.` : message,
    );
    this.condition('PodScheduled', true);

    const ip = s.sandbox?.ip;
    return {
      phase,
      conditions: [...this.conditions.values()],
      hostIP: this.ctx.node.hostIP,
      hostIPs: [{ ip: this.ctx.node.hostIP }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: this.startTime,
      ...(s.inits.length > 0 ? { initContainerStatuses: s.inits.map((c) => c.status()) } : {}),
      containerStatuses: s.apps.map((c) => c.status()),
    };
  }

  /** Schedules a write of the status for this snapshot (the latest one wins). */
  publish(s: PodSnapshot): void {
    this.pending = s;
    if (this.timer || this.inFlight) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, 25);
  }

  private async write(): Promise<void> {
    const s = this.pending;
    if (!s) return;
    this.pending = undefined;
    const status = this.compute(s);
    this.inFlight = this.ctx.api
      .patchStatus(this.pod(), status)
      .catch((e: Error) => this.ctx.log(`pod ${this.pod().metadata?.name}: status patch: ${e.message}`));
    await this.inFlight;
    this.inFlight = undefined;
    if (this.pending) await this.write();
  }

  /** Writes the status for this snapshot now, after any write in flight. */
  async flush(s: PodSnapshot): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    this.pending = s;
    await this.write();
  }
}
