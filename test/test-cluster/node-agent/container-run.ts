/**
 * One container of a pod across its restarts: its process, state (waiting/running/terminated), restart
 * count, probes and hooks. The pod worker decides when it starts and whether it restarts.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { V1Container, V1ContainerState, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { kubeTime, type AgentContext } from './agent-context.js';
import {
  execInContainer,
  spawnInContainer,
  signalContainer,
  startContainerProcess,
  containerSetUp,
  type ExecResult,
  type MountSpec,
} from './container-process.js';
import { ContainerConfigError, containerEnv, expand } from './env.js';
import { containerArgv, imageRepository, type LocalImage } from './image-table.js';
import { Prober, runHandler, type ProbeTarget } from './probes.js';
import type { PodSandbox } from './pod-network.js';
import type { PodVolumes } from './volumes.js';

/** Where the container sits in the pod. */
export type ContainerRole = 'init' | 'sidecar' | 'app';

/** The pod-level things a container needs; provided by its pod worker. */
export interface ContainerHost {
  ctx: AgentContext;
  pod(): V1Pod;
  sandbox(): PodSandbox;
  volumes(): PodVolumes;
  podDir: string;
  /** Something in the status changed. */
  changed(): void;
  /** The process exited (code as a shell reports it: 128+signal when killed). */
  exited(run: ContainerRun, code: number): void;
  /** A liveness or startup probe failed: the worker restarts the container. */
  unhealthy(run: ContainerRun, message: string): void;
}

/** State of one container. */
export class ContainerRun {
  readonly image: LocalImage | undefined;
  readonly imageError: string | undefined;
  restartCount = 0;
  state: V1ContainerState;
  lastState: V1ContainerState = {};
  ready = false;
  started = false;
  pid: number | undefined;
  /** The process has its namespaces, hostname and mounts (its entry script exec'd the program): exec may enter. */
  private setUp = false;
  private proc: ChildProcess | undefined;
  private exitWaiters: ((code: number) => void)[] = [];
  private probers: Prober[] = [];
  private env: Record<string, string> = {};
  private uid = 0;
  private gid = 0;
  private workingDir = '/';
  /** Consecutive-crash back-off for the next restart (0: restart at once). */
  nextBackoffMs = 0;

  readonly spec: V1Container;
  readonly role: ContainerRole;
  private readonly host: ContainerHost;

  constructor(spec: V1Container, role: ContainerRole, host: ContainerHost) {
    this.spec = spec;
    this.role = role;
    this.host = host;
    this.image = host.ctx.images.get(imageRepository(spec.image ?? ''));
    if (!this.image) {
      this.imageError = `Failed to pull image "${spec.image}": the test cluster has no such image (known: ${[...host.ctx.images.keys()].join(', ')}; add it to test/test-cluster/node-agent/image-table.ts)`;
      this.state = { waiting: { reason: 'ErrImagePull', message: this.imageError } };
    } else {
      this.state = {
        waiting: {
          reason:
            role === 'app' && (host.pod().spec?.initContainers?.length ?? 0) > 0
              ? 'PodInitializing'
              : 'ContainerCreating',
        },
      };
    }
  }

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.state.running !== undefined;
  }

  /** Kubelet-shaped status of this container. */
  status(): V1ContainerStatus {
    return {
      name: this.name,
      image: this.spec.image ?? '',
      imageID: this.image ? `meshctl-test-image-table://${imageRepository(this.spec.image ?? '')}` : '',
      ...(this.pid !== undefined ? { containerID: `mtc://${this.pid}` } : {}),
      ready: this.ready,
      started: this.started,
      restartCount: this.restartCount,
      state: this.state,
      lastState: this.lastState,
    };
  }

  private probeTarget(): ProbeTarget {
    return {
      podIP: this.host.sandbox().ip,
      ports: this.spec.ports ?? [],
      exec: (argv, timeoutMs) => this.exec(argv, timeoutMs),
    };
  }

  /**
   * Runs a command in this container's namespaces, as its user, with its environment: exec probes and
   * exec hooks, as the kubelet runs them through the runtime. Paths of the image's filesystem
   * (`/opt/meshctl/bin/meshctl` in a classic sidecar's postStart) resolve through the image table as the
   * container's own command does; without that the hook fails with 127.
   */
  exec(argv: string[], timeoutMs: number): Promise<ExecResult> {
    if (this.pid === undefined || !this.running || !this.setUp || !this.image)
      return Promise.resolve({ code: 126, stdout: '', stderr: `container ${this.name} is not running` });
    return execInContainer(this.pid, argv.map(this.image.translate), {
      uid: this.uid,
      gid: this.gid,
      env: this.env,
      workingDir: this.workingDir,
      timeoutMs,
    });
  }

  /**
   * Starts argv in this container for the kubelet API's exec (streamed, no timeout: the caller ends
   * it), as a runtime would: its user, environment and working directory, and the image's paths
   * (`node`, `/opt/meshctl/...`) resolved through the image table. Undefined when not running.
   */
  startExec(argv: string[]): ChildProcess | undefined {
    if (this.pid === undefined || !this.running || !this.setUp || !this.image) return undefined;
    return spawnInContainer(this.pid, argv.map(this.image.translate), {
      uid: this.uid,
      gid: this.gid,
      env: this.env,
      workingDir: this.workingDir,
    });
  }

  /** Puts the container in a waiting state (shown in status). */
  wait(reason: string, message?: string): void {
    this.state = { waiting: { reason, ...(message ? { message } : {}) } };
    this.host.changed();
  }

  /** Starts the process (env and user resolved now); resolves once it runs and its postStart hook is done. */
  async launch(): Promise<void> {
    const { ctx } = this.host;
    const image = this.image;
    if (!image) throw new Error(this.imageError);
    const pod = this.host.pod();
    const sandbox = this.host.sandbox();
    const sc = this.spec.securityContext;
    const psc = pod.spec?.securityContext;
    this.uid = sc?.runAsUser ?? psc?.runAsUser ?? image.user;
    this.gid = sc?.runAsGroup ?? psc?.runAsGroup ?? this.uid;
    const groups = [...(psc?.supplementalGroups ?? []), ...(psc?.fsGroup !== undefined ? [psc.fsGroup] : [])];
    if ((sc?.runAsNonRoot ?? psc?.runAsNonRoot) && this.uid === 0) {
      throw new ContainerConfigError('container has runAsNonRoot and image will run as root');
    }
    const env = await containerEnv(pod, this.spec, image.env, { ...ctx.node, podIP: sandbox.ip }, ctx.sources);
    env.HOSTNAME = pod.spec?.hostname ?? pod.metadata?.name ?? '';
    env.HOME ??= this.uid === 0 ? '/root' : '/';
    this.env = env;
    const argv = containerArgv(
      image,
      this.spec.command?.map((c) => expand(c, env)),
      this.spec.args?.map((a) => expand(a, env)),
    );
    this.workingDir = this.spec.workingDir ? image.translate(this.spec.workingDir) : image.workingDir;
    const volumes = this.host.volumes();
    const mounts: MountSpec[] = [];
    for (const m of this.spec.volumeMounts ?? []) {
      const source = volumes.paths.get(m.name);
      if (!source) throw new ContainerConfigError(`volumeMount "${m.name}" names no volume of the pod`);
      mounts.push({
        source: m.subPath ? join(source, m.subPath) : source,
        target: m.mountPath,
        readOnly: m.readOnly ?? false,
      });
    }
    const logFile = join(this.host.podDir, 'logs', this.name, `${this.restartCount}.log`);
    const child = startContainerProcess({
      netns: sandbox.netns,
      hostname: env.HOSTNAME,
      argv,
      env,
      workingDir: this.workingDir,
      uid: this.uid,
      gid: this.gid,
      groups,
      mounts,
      scratchDir: join(this.host.podDir, 'scratch', `${this.name}-${this.restartCount}`),
      logFile,
    });
    this.proc = child;
    this.pid = child.pid;
    this.setUp = false;
    const startedAt = kubeTime();
    this.state = { running: { startedAt: startedAt as unknown as Date } };
    this.ready = false;
    this.started = false;
    child.on('exit', (code, signal) => this.onExit(code, signal, startedAt));
    child.on('error', (e) => ctx.log(`container ${this.name}: ${e.message}`));
    // The hook and probes enter the container's namespaces: before its entry script has made them (hostname,
    // mounts) they would run on the node's.
    await containerSetUp(child);
    this.setUp = true;
    ctx.api.event(pod, 'Normal', 'Started', `Started container ${this.name}`, this.fieldPath());
    this.host.changed();

    const postStart = this.spec.lifecycle?.postStart;
    if (postStart) {
      // As the kubelet: the hook blocks this container's start (and the next container's), and a failing hook
      // kills the container (preStop and grace included); the restart policy then decides, as for a crash.
      const r = await runHandler(postStart, this.probeTarget(), 30_000, ctx.kubeletVersion, 'kube-lifecycle');
      if (!r.ok && this.running) {
        ctx.log(`container ${this.name}: postStart hook failed: ${r.message}`);
        ctx.api.event(pod, 'Warning', 'FailedPostStartHook', `PostStartHook failed: ${r.message}`, this.fieldPath());
        await this.kill(pod.spec?.terminationGracePeriodSeconds ?? 30);
        return;
      }
    }
    if (!this.running) return;
    this.startProbes();
  }

  private fieldPath(): string {
    return this.role === 'app' ? `spec.containers{${this.name}}` : `spec.initContainers{${this.name}}`;
  }

  private startProbes(): void {
    const { ctx } = this.host;
    const target = this.probeTarget();
    const afterStartup = (): void => {
      this.started = true;
      if (this.spec.readinessProbe && this.role !== 'init') {
        const p = new Prober(this.spec.readinessProbe, target, ctx.kubeletVersion, (ok, message) => {
          this.ready = ok && this.running;
          if (!ok)
            ctx.api.event(
              this.host.pod(),
              'Warning',
              'Unhealthy',
              `Readiness probe failed: ${message}`,
              this.fieldPath(),
            );
          this.host.changed();
        });
        this.probers.push(p);
        p.start();
      } else {
        this.ready = this.role !== 'init';
      }
      if (this.spec.livenessProbe && this.role !== 'init') {
        const p = new Prober(this.spec.livenessProbe, target, ctx.kubeletVersion, (ok, message) => {
          if (ok || !this.running) return;
          ctx.api.event(this.host.pod(), 'Warning', 'Unhealthy', `Liveness probe failed: ${message}`, this.fieldPath());
          this.host.unhealthy(this, `Container ${this.name} failed liveness probe, will be restarted`);
        });
        this.probers.push(p);
        p.start();
      }
      this.host.changed();
    };
    if (this.spec.startupProbe && this.role !== 'init') {
      const p = new Prober(this.spec.startupProbe, target, ctx.kubeletVersion, (ok, message) => {
        if (!this.running) return;
        if (ok) {
          p.stop();
          afterStartup();
        } else {
          ctx.api.event(this.host.pod(), 'Warning', 'Unhealthy', `Startup probe failed: ${message}`, this.fieldPath());
          this.host.unhealthy(this, `Container ${this.name} failed startup probe, will be restarted`);
        }
      });
      this.probers.push(p);
      p.start();
    } else {
      afterStartup();
    }
  }

  private stopProbes(): void {
    for (const p of this.probers) p.stop();
    this.probers = [];
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, startedAt: string): void {
    this.stopProbes();
    const signals: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGABRT: 6, SIGSEGV: 11 };
    const exitCode = code ?? 128 + (signal ? (signals[signal] ?? 1) : 1);
    this.state = {
      terminated: {
        exitCode,
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt: startedAt as unknown as Date,
        finishedAt: kubeTime() as unknown as Date,
        containerID: `mtc://${this.pid}`,
      },
    };
    this.ready = false;
    this.started = false;
    this.proc = undefined;
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w(exitCode);
    this.host.exited(this, exitCode);
    this.host.changed();
  }

  /** Resolves with the exit code once the current process has exited (at once if none runs). */
  waitExit(): Promise<number> {
    if (!this.proc) return Promise.resolve(this.state.terminated?.exitCode ?? 0);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /**
   * preStop, SIGTERM, wait up to `graceSeconds`, SIGKILL; resolves when the process is gone. As the kubelet's
   * killContainer: the preStop hook gets the grace period, and SIGTERM still gets at least 2 s after it.
   */
  async kill(graceSeconds: number): Promise<void> {
    if (!this.proc || this.pid === undefined) return;
    const pid = this.pid;
    const deadline = Date.now() + graceSeconds * 1000;
    const exited = this.waitExit();
    this.stopProbes();
    const preStop = this.spec.lifecycle?.preStop;
    let minimumMs = 0;
    if (preStop && graceSeconds > 0) {
      const r = await Promise.race([
        runHandler(preStop, this.probeTarget(), graceSeconds * 1000, this.host.ctx.kubeletVersion, 'kube-lifecycle'),
        exited.then(() => undefined),
      ]);
      if (r && !r.ok) {
        this.host.ctx.log(`container ${this.name}: preStop hook failed: ${r.message}`);
        this.host.ctx.api.event(
          this.host.pod(),
          'Warning',
          'FailedPreStopHook',
          `PreStopHook failed: ${r.message}`,
          this.fieldPath(),
        );
      }
      minimumMs = 2000;
    }
    signalContainer(pid, 'SIGTERM');
    const remaining = Math.max(minimumMs, deadline - Date.now());
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), remaining));
    if ((await Promise.race([exited, timer])) === 'timeout') signalContainer(pid, 'SIGKILL');
    await exited;
    // Children left in the group (the container's own subprocesses) go with it, as with a cgroup kill.
    signalContainer(pid, 'SIGKILL');
  }
}
