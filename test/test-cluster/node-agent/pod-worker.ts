/**
 * One pod on this node, from sandbox to deletion, in the kubelet's order: network namespace, volumes,
 * init containers one by one (native sidecars start and stay up), then the app containers; restarts with
 * back-off per restartPolicy; on deletion preStop + SIGTERM, the grace period, SIGKILL, sidecars last,
 * then the namespace goes and the pod object is deleted.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { AgentContext } from './agent-context.js';
import { ContainerRun, type ContainerHost } from './container-run.js';
import { ContainerConfigError } from './env.js';
import type { PodSandbox } from './pod-network.js';
import { podResolvConf } from './pod-dns.js';
import { PodStatusTracker } from './pod-status.js';
import { materializeVolumes, type PodVolumes } from './volumes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs one pod. */
export class PodWorker {
  readonly uid: string;
  readonly podDir: string;
  private pod: V1Pod;
  private sandboxValue: PodSandbox | undefined;
  private volumesValue: PodVolumes | undefined;
  readonly inits: ContainerRun[];
  readonly apps: ContainerRun[];
  private readonly status: PodStatusTracker;
  private terminating = false;
  private finished = false;
  private completing = false;
  private initialized = false;
  private setup: Promise<void> = Promise.resolve();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private wake: (() => void) | undefined;
  /** Resolves when the worker is done (pod deleted and everything removed). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  private readonly ctx: AgentContext;

  constructor(ctx: AgentContext, pod: V1Pod) {
    this.ctx = ctx;
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.podDir = join(ctx.podsDir, `${pod.metadata?.namespace}_${pod.metadata?.name}_${this.uid}`);
    const host: ContainerHost = {
      ctx,
      pod: () => this.pod,
      sandbox: () => {
        if (!this.sandboxValue) throw new Error('pod sandbox not ready');
        return this.sandboxValue;
      },
      volumes: () => {
        if (!this.volumesValue) throw new Error('pod volumes not ready');
        return this.volumesValue;
      },
      podDir: this.podDir,
      changed: () => this.changed(),
      exited: (run, code) => this.onContainerExit(run, code),
      unhealthy: (run, message) => void this.restartUnhealthy(run, message),
    };
    this.inits = (pod.spec?.initContainers ?? []).map(
      (c) => new ContainerRun(c, c.restartPolicy === 'Always' ? 'sidecar' : 'init', host),
    );
    this.apps = (pod.spec?.containers ?? []).map((c) => new ContainerRun(c, 'app', host));
    this.status = new PodStatusTracker(ctx, () => this.pod);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get namespace(): string {
    return this.pod.metadata?.namespace ?? '';
  }

  get name(): string {
    return this.pod.metadata?.name ?? '';
  }

  /** A newer version of the pod object arrived. */
  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.terminating) {
      void this.terminate(
        pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30,
        true,
      );
    }
  }

  /** The pod object is gone (force deletion): stop everything now. */
  forget(): void {
    if (!this.terminating) void this.terminate(2, false);
  }

  private changed(): void {
    this.wake?.();
    if (this.finished && this.terminating) return;
    this.status.publish(this.snapshot());
  }

  private snapshot(): Parameters<PodStatusTracker['publish']>[0] {
    return {
      sandbox: this.sandboxValue,
      initialized: this.initialized,
      finished: this.finished,
      inits: this.inits,
      apps: this.apps,
      restartPolicy: this.pod.spec?.restartPolicy ?? 'Always',
    };
  }

  /** Waits until `cond` holds or the pod terminates (woken by every status change). */
  private async until(cond: () => boolean): Promise<boolean> {
    while (!cond()) {
      if (this.terminating) return false;
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 1000);
      });
    }
    return !this.terminating;
  }

  /** Starts the pod; returns when all its containers were started (or the pod ended). */
  async run(): Promise<void> {
    this.changed();
    let releaseSetup!: () => void;
    this.setup = new Promise((r) => (releaseSetup = r));
    try {
      if (this.terminating) return;
      mkdirSync(this.podDir, { recursive: true, mode: 0o755 });
      this.sandboxValue = await this.ctx.networker.create(
        this.uid,
        podResolvConf(this.pod, this.ctx.dns.cluster, this.ctx.dns.nodeResolvConf),
      );
      this.changed();
      for (;;) {
        if (this.terminating) return;
        try {
          this.volumesValue = await materializeVolumes(
            this.pod,
            this.podDir,
            { ...this.ctx.node, podIP: this.sandboxValue.ip },
            this.ctx.sources,
          );
          break;
        } catch (e) {
          if (!(e instanceof ContainerConfigError)) throw e;
          this.ctx.api.event(this.pod, 'Warning', 'FailedMount', e.message);
          for (const c of [...this.inits, ...this.apps]) if (c.image) c.wait('ContainerCreating', e.message);
          await sleep(2000);
        }
      }
    } catch (e) {
      this.ctx.log(`pod ${this.key()}: sandbox failed: ${(e as Error).message}`);
      this.ctx.api.event(this.pod, 'Warning', 'FailedCreatePodSandBox', (e as Error).message);
      return;
    } finally {
      releaseSetup();
    }

    for (const c of this.inits) {
      if (!c.image) {
        this.ctx.api.event(this.pod, 'Warning', 'Failed', c.imageError ?? '', `spec.initContainers{${c.name}}`);
        return;
      }
      if (c.role === 'sidecar') {
        await this.start(c);
        if (!(await this.until(() => c.started))) return;
        continue;
      }
      for (;;) {
        await this.start(c);
        const code = await c.waitExit();
        if (this.terminating) return;
        if (code === 0) break;
        if (this.pod.spec?.restartPolicy === 'Never') {
          await this.complete();
          return;
        }
        if (!(await this.backoff(c))) return;
      }
    }
    this.initialized = true;
    this.changed();
    // In spec order, each after the previous one's postStart hook, as the kubelet's SyncPod does: a classic
    // sidecar listed first with `postStart: meshctl proxy wait-ready` holds the app until the proxy is ready.
    // A container that cannot be configured yet does not hold the others (it is retried on its own).
    for (const c of this.apps) {
      if (!c.image) {
        this.ctx.api.event(this.pod, 'Warning', 'Failed', c.imageError ?? '', `spec.containers{${c.name}}`);
        continue;
      }
      await new Promise<void>((firstAttempt) => void this.start(c, firstAttempt).finally(firstAttempt));
      if (this.terminating) return;
    }
  }

  private key(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  /** Launches a container, turning configuration errors into its waiting state (retried like the kubelet). */
  private async start(c: ContainerRun, firstAttempt?: () => void): Promise<void> {
    while (!this.terminating) {
      try {
        await c.launch();
        return;
      } catch (e) {
        if (!(e instanceof ContainerConfigError)) {
          c.wait('RunContainerError', (e as Error).message);
          return;
        }
        c.wait('CreateContainerConfigError', e.message);
        this.ctx.api.event(this.pod, 'Warning', 'Failed', `Error: ${e.message}`);
        firstAttempt?.();
        await sleep(2000);
      }
    }
  }

  /** Waits out the container's crash back-off (showing CrashLoopBackOff), then counts a restart. */
  private async backoff(c: ContainerRun): Promise<boolean> {
    const delay = c.nextBackoffMs;
    c.nextBackoffMs = Math.min(this.ctx.backoffMaxMs, delay === 0 ? this.ctx.backoffBaseMs : delay * 2);
    c.lastState = c.state;
    if (delay > 0) {
      c.wait(
        'CrashLoopBackOff',
        `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.uid})`,
      );
      this.ctx.api.event(this.pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          this.restartTimers.delete(t);
          r();
        }, delay);
        this.restartTimers.add(t);
      });
    }
    if (this.terminating) return false;
    c.restartCount++;
    return true;
  }

  private onContainerExit(c: ContainerRun, code: number): void {
    if (this.terminating || this.completing || c.role === 'init') return;
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const restart = c.role === 'sidecar' || policy === 'Always' || (policy === 'OnFailure' && code !== 0);
    if (restart) {
      void this.backoff(c).then((go) => (go ? this.start(c) : undefined));
      return;
    }
    if (this.initialized && this.apps.every((a) => a.state.terminated !== undefined || !a.image)) void this.complete();
  }

  private async restartUnhealthy(c: ContainerRun, message: string): Promise<void> {
    this.ctx.api.event(this.pod, 'Normal', 'Killing', message);
    // The exit handler then restarts it per restartPolicy.
    await c.kill(this.pod.spec?.terminationGracePeriodSeconds ?? 30);
  }

  /** All app containers are done for good: stop the sidecars, and the pod is Succeeded or Failed. */
  private async complete(): Promise<void> {
    if (this.completing) return;
    this.completing = true;
    for (const s of [...this.inits].reverse())
      if (s.role === 'sidecar') await s.kill(this.pod.spec?.terminationGracePeriodSeconds ?? 30);
    this.finished = true;
    this.changed();
    this.volumesValue?.stop();
    if (this.sandboxValue) await this.ctx.networker.remove(this.sandboxValue);
  }

  /** Stops the pod: app containers first (preStop, SIGTERM, grace, SIGKILL), then sidecars in reverse order. */
  async terminate(graceSeconds: number, deleteObject: boolean): Promise<void> {
    this.terminating = true;
    this.wake?.();
    for (const t of this.restartTimers) clearTimeout(t);
    await this.setup;
    const deadline = Date.now() + graceSeconds * 1000;
    const left = (): number => Math.max(0, (deadline - Date.now()) / 1000);
    if (this.apps.some((c) => c.running)) this.ctx.api.event(this.pod, 'Normal', 'Killing', 'Stopping container(s)');
    await Promise.all([...this.apps, ...this.inits.filter((c) => c.role === 'init')].map((c) => c.kill(left())));
    for (const s of [...this.inits].reverse()) if (s.role === 'sidecar') await s.kill(Math.max(left(), 2));
    this.finished = true;
    this.volumesValue?.stop();
    if (this.sandboxValue) await this.ctx.networker.remove(this.sandboxValue);
    await this.status.flush(this.snapshot());
    if (deleteObject)
      await this.ctx.api
        .deletePod(this.pod)
        .catch((e: Error) => this.ctx.log(`pod ${this.key()}: final delete: ${e.message}`));
    rmSync(this.podDir, { recursive: true, force: true });
    this.resolveDone();
  }
}
