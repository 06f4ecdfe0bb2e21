/**
 * The local platform: the control plane daemon on this machine, reached through the state file it
 * writes under the mesh home and its loopback API (with the admin token). Every call that needs
 * the daemon says so clearly when it is not running, with the command that starts it.
 */
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import {
  ConfigInvalidError,
  MeshError,
  ErrorCode,
  NotFoundError,
  PlatformUnavailableError,
  TimeoutError,
} from '../../errors.js';
import type {
  ConfigDocument,
  ConfigObjectData,
  ConfigObjectKey,
  ConfigOutcome,
  GatewaySpec,
  HostWorkloadSpec,
  InstallRequest,
  InvocationIo,
  MeshPlatform,
  OperationIo,
  OperationOutcome,
  UninstallRequest,
  TransparentOptions,
  WorkloadInfo,
  WorkloadLifecycle,
  WorkloadSpec,
} from '../index.js';
import { runningControlPlane, startDaemon, stopDaemon, type StartDaemonOptions } from './daemon-process.js';
import { localLayout, proxyAdminTokenFile, type ControlPlaneState, type LocalLayout } from '../local-layout.js';

/** What registering a workload returns: its credential and where to reach the control plane. */
export interface WorkloadRegistration {
  readonly workload: WorkloadInfo;
  /** The workload's CA credential; give it to its sidecar only, never print or log it. */
  readonly token: string;
  readonly trustRoots: string;
  readonly streamAddress: string;
}

/** The local platform backend. */
export class LocalPlatform implements MeshPlatform {
  readonly kind = 'local' as const;
  readonly layout: LocalLayout;

  constructor(home: string) {
    this.layout = localLayout(home);
  }

  /** The control plane daemon's state when it runs (and is the process it claims to be). */
  runningControlPlane(): Promise<ControlPlaneState | undefined> {
    return runningControlPlane(this.layout);
  }

  /** Starts the control plane daemon detached, or returns the running one (`meshctl install --local`). */
  startControlPlane(opts: StartDaemonOptions = {}): Promise<{ state: ControlPlaneState; alreadyRunning: boolean }> {
    return startDaemon(this.layout, opts);
  }

  /** Stops the control plane daemon (`meshctl uninstall --local`); its state stays on disk. */
  stopControlPlane(timeoutMs?: number): Promise<{ stopped: boolean; pid?: number }> {
    return stopDaemon(this.layout, timeoutMs);
  }

  describe(): string {
    return `local control plane in ${this.layout.home}`;
  }

  /**
   * Starts the control plane as a background daemon (idempotent: a second run reports the running
   * one). A MeshConfig given is written to the mesh home first (0600), where the daemon follows it.
   */
  async install(request: InstallRequest, io: OperationIo): Promise<OperationOutcome> {
    const layout = this.layout;
    await mkdir(layout.home, { recursive: true, mode: 0o700 });
    if (request.meshConfig) {
      // Atomic: the running daemon watches this file and must never read half of it.
      const tmp = `${layout.meshConfig}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(request.meshConfig, null, 2) + '\n', { mode: 0o600 });
      await rename(tmp, layout.meshConfig);
    }
    const daemonArgs = request.local?.daemonArgs ?? [];
    const { state, alreadyRunning } = await this.startControlPlane({
      extraArgs: daemonArgs,
      ...(request.local?.env ? { env: request.local.env } : {}),
      timeoutMs: request.timeoutMs,
    });
    io.progress(
      `✔ ${alreadyRunning ? 'The local mesh control plane is already running' : 'Local mesh control plane started'} (pid ${state.pid}, version ${state.version})`,
    );
    const rows: [string, string][] = [
      ['config stream + CA', state.streamAddress],
      ['debug API', state.apiUrl],
      ['state', layout.home],
      ['logs', layout.logFile],
    ];
    if (request.meshConfig) rows.push(['mesh config', `${layout.meshConfig} (running proxies follow it)`]);
    for (const [k, v] of rows) io.progress(`  ${k.padEnd(20)}${v}`);
    if (alreadyRunning && daemonArgs.length)
      io.warn("the flags given apply at start-up only; run 'meshctl uninstall --local' first to change them");
    return {
      next:
        `\nNext:\n` +
        `  meshctl run --name web --service web --port 8080 -- <command that serves on $PORT>\n` +
        `  meshctl apply -f <your VirtualService / DestinationRule / TrafficSplit YAML>\n` +
        `  meshctl proxy-status\n` +
        `Stop it with 'meshctl uninstall --local'.\n`,
    };
  }

  /** Stops the control plane daemon; with `purge` deletes the files the mesh wrote (CA, config, workloads, logs). */
  async uninstall(request: UninstallRequest, io: OperationIo): Promise<OperationOutcome> {
    const layout = this.layout;
    const { stopped, pid } = await this.stopControlPlane();
    io.progress(
      stopped ? `✔ Local mesh control plane stopped (pid ${pid})` : `• The local mesh control plane is not running`,
    );
    if (!request.purge) {
      io.progress(
        `  its state is kept in ${layout.home}; 'meshctl install --local' starts it again with the same CA and config`,
      );
      return {};
    }
    if (!request.yes && !(await io.confirm(`Delete ${layout.home}: the mesh CA, config, workloads and logs?`, false)))
      return { declined: 'Nothing deleted.' };
    const owned = [
      layout.caDir,
      layout.caRoot,
      layout.tokens,
      layout.storeDir,
      layout.workloads,
      layout.state,
      layout.adminToken,
      layout.pidFile,
      layout.logDir,
    ];
    for (const p of owned) await rm(p, { recursive: true, force: true });
    let left = false;
    try {
      await rmdir(layout.home);
    } catch (err) {
      left = (err as NodeJS.ErrnoException).code === 'ENOTEMPTY';
    }
    io.progress(
      `✔ Deleted the mesh state in ${layout.home}${left ? ' (files the mesh did not write were left in place)' : ''}`,
    );
    return {};
  }

  /** The running daemon's state, or a clear error. */
  async state(): Promise<ControlPlaneState> {
    const s = await runningControlPlane(this.layout);
    if (!s)
      throw new PlatformUnavailableError(
        `the local control plane is not running (home ${this.layout.home})`,
        "start it with 'meshctl install --local'",
      );
    return s;
  }

  async applyConfig(
    documents: readonly ConfigDocument[],
    opts: { defaultNamespace: string },
  ): Promise<ConfigOutcome[]> {
    const r = await this.api<{ outcomes: ConfigOutcome[] }>('POST', '/api/v1/config/apply', {
      documents,
      defaultNamespace: opts.defaultNamespace,
    });
    return r.outcomes;
  }

  async deleteConfig(keys: readonly ConfigObjectKey[]): Promise<ConfigOutcome[]> {
    return (await this.api<{ outcomes: ConfigOutcome[] }>('POST', '/api/v1/config/delete', { keys })).outcomes;
  }

  async listConfig(filter: { kind?: string; namespace?: string } = {}): Promise<ConfigObjectData[]> {
    const q = new URLSearchParams();
    if (filter.kind) q.set('kind', filter.kind);
    if (filter.namespace) q.set('namespace', filter.namespace);
    return (await this.api<{ items: ConfigObjectData[] }>('GET', `/api/v1/config?${q}`)).items;
  }

  async listWorkloads(namespace?: string): Promise<WorkloadInfo[]> {
    const items = (await this.api<{ items: WorkloadInfo[] }>('GET', '/api/v1/workloads')).items;
    return namespace ? items.filter((w) => w.namespace === namespace) : items;
  }

  /** Registers a workload (for `meshctl run`) and returns its credential. */
  async registerWorkload(workload: WorkloadInfo): Promise<WorkloadRegistration> {
    return this.api<WorkloadRegistration>('POST', '/api/v1/workloads', workload);
  }

  /**
   * Makes a registered workload an endpoint of its services (serving) or takes it out; with
   * `ackTimeoutMs`, also waits until every connected proxy acknowledged the change.
   */
  async setWorkloadServing(
    namespace: string,
    name: string,
    serving: boolean,
    ackTimeoutMs = 0,
  ): Promise<{ acked: boolean; pending: string[] }> {
    const path = `/api/v1/workloads/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/serving`;
    return this.api('POST', path, { serving, ackTimeoutMs });
  }

  async unregisterWorkload(namespace: string, name: string): Promise<void> {
    await this.api('DELETE', `/api/v1/workloads/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  /**
   * Runs a workload with its sidecar in the foreground (`meshctl run`) until its command exits or
   * `io.signal` aborts; resolves with the command's exit code. The proxy runtime loads only here.
   */
  async runWorkload(io: InvocationIo, spec: HostWorkloadSpec, life: WorkloadLifecycle): Promise<number> {
    const { runWorkload } = await import('./run-workload.js');
    return runWorkload(io, this, spec, life);
  }

  /**
   * Runs a workload in its own network namespace with iptables capture (`meshctl run --transparent`,
   * Linux, root). Its mesh home is the invoking user's (under sudo, SUDO_USER's), not necessarily this one.
   */
  async runTransparentWorkload(io: InvocationIo, spec: WorkloadSpec, opts: TransparentOptions): Promise<number> {
    const [{ runTransparent }, { checkUserFlag }] = await Promise.all([
      import('./transparent/launch.js'),
      import('./transparent/host.js'),
    ]);
    checkUserFlag(opts.user);
    return runTransparent(io, spec, opts, (home) => new LocalPlatform(home));
  }

  /** Runs a gateway (the proxy in router mode) in the foreground until `io.signal` aborts (`meshctl gateway run`). */
  async runGateway(io: InvocationIo, spec: GatewaySpec): Promise<number> {
    const { runGateway } = await import('./run-gateway.js');
    return runGateway(io, this, spec);
  }

  /** Starts (or resumes) a root CA rotation in the control plane; returns its progress. */
  async startCaRotation<T>(): Promise<T> {
    return this.api<T>('POST', '/api/v1/ca/rotate', {});
  }

  /** The progress of the root CA rotation the control plane runs (or ran last). */
  async caRotationProgress<T>(): Promise<T> {
    return this.api<T>('GET', '/api/v1/ca/rotation');
  }

  async controlPlaneGet<T>(path: string): Promise<T> {
    return this.api<T>('GET', path);
  }

  async proxyAdminGet<T>(workload: { name: string; namespace: string }, path: string): Promise<T> {
    return this.proxyAdmin<T>('GET', workload, path);
  }

  async proxyAdminPost<T>(workload: { name: string; namespace: string }, path: string): Promise<T> {
    return this.proxyAdmin<T>('POST', workload, path);
  }

  /** A request to a local sidecar's admin port; a POST carries the token `meshctl run` wrote (0600) for it. */
  private async proxyAdmin<T>(
    method: 'GET' | 'POST',
    workload: { name: string; namespace: string },
    path: string,
  ): Promise<T> {
    const id = `${workload.name}.${workload.namespace}`;
    const w = (await this.listWorkloads(workload.namespace)).find((x) => x.name === workload.name);
    if (!w) throw new NotFoundError(`workload ${id}`, "list workloads with 'meshctl proxy-status'");
    if (!w.adminPort)
      throw new PlatformUnavailableError(`workload ${id} registered no admin port`, 'restart it with meshctl run');
    const headers: Record<string, string> = {};
    if (method === 'POST') {
      const file = proxyAdminTokenFile(this.layout, workload.name, workload.namespace);
      try {
        headers.authorization = `Bearer ${(await readFile(file, 'utf8')).trim()}`;
      } catch (err) {
        throw new PlatformUnavailableError(
          `cannot read the admin token of ${id} at ${file} (${(err as NodeJS.ErrnoException).code})`,
          'run meshctl as the user who started the workload with meshctl run',
        );
      }
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await fetch(`http://127.0.0.1:${w.adminPort}${path}`, { method, headers });
    } catch (err) {
      throw new PlatformUnavailableError(
        `the proxy of ${id} does not answer on 127.0.0.1:${w.adminPort} (${(err as Error).message})`,
        'is the workload still running? check with meshctl proxy-status',
      );
    }
    if (!res.ok) {
      // The admin API's error bodies name the problem (`unknown level`, `missing or wrong admin token`).
      const detail = ((await res.json().catch(() => ({}))) as { error?: unknown }).error;
      const why = typeof detail === 'string' ? `: ${detail.slice(0, 200)}` : '';
      throw new PlatformUnavailableError(
        `the proxy of ${id} answered ${res.status} for ${method} ${path}${why}`,
        res.status === 401
          ? `the token file of ${id} is stale: restart the workload with meshctl run`
          : 'check its output',
      );
    }
    return (await res.json()) as T;
  }

  async waitForReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await runningControlPlane(this.layout);
        if (s && (await fetch(`${s.apiUrl}/ready`)).ok) return;
      } catch {
        // Not yet.
      }
      if (Date.now() > deadline)
        throw new TimeoutError(
          `waiting for the local control plane in ${this.layout.home}`,
          "start it with 'meshctl install --local'",
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const state = await this.state();
    let token: string;
    try {
      token = (await readFile(this.layout.adminToken, 'utf8')).trim();
    } catch (err) {
      throw new PlatformUnavailableError(
        `cannot read the admin token ${this.layout.adminToken} (${(err as NodeJS.ErrnoException).code})`,
        'run meshctl as the user who installed the local mesh',
      );
    }
    let res: Response;
    try {
      res = await fetch(`${state.apiUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new PlatformUnavailableError(
        `the local control plane (pid ${state.pid}) does not answer at ${state.apiUrl} (${(err as Error).message})`,
        `see its log in ${this.layout.logFile}`,
      );
    }
    const payload = (await res.json().catch(() => ({}))) as {
      error?: { code?: string; message?: string; hint?: string; problems?: string[] };
    } & T;
    if (res.ok) return payload;
    const e = payload.error ?? {};
    if (e.code === ErrorCode.ConfigInvalid && e.problems)
      throw new ConfigInvalidError('the config', e.problems, e.hint);
    if (res.status === 404)
      throw new MeshError(ErrorCode.NotFound, e.message ?? `${path}: not found`, {
        ...(e.hint ? { hint: e.hint } : {}),
      });
    throw new MeshError(
      (e.code as ErrorCode | undefined) ?? ErrorCode.PlatformUnavailable,
      e.message ?? `control plane answered ${res.status}`,
      { ...(e.hint ? { hint: e.hint } : {}) },
    );
  }
}
