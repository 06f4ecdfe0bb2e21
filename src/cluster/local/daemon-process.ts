/**
 * The local control plane as a background process: started detached (it outlives the CLI), with a
 * pid file and its log under the mesh home; found again through its state file; stopped with
 * SIGTERM (SIGKILL if it does not stop in time). Before signalling a pid, it checks the process is
 * still a meshctl control plane, so a reused pid is never killed.
 */
import { spawn } from 'node:child_process';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { PlatformUnavailableError, TimeoutError } from '../../errors.js';
import type { ControlPlaneState, LocalLayout } from '../local-layout.js';
import { launcherPath, processStartTime } from '../processes.js';

/** Reads the daemon's state if a live control plane wrote it. */
export async function runningControlPlane(layout: LocalLayout): Promise<ControlPlaneState | undefined> {
  let state: ControlPlaneState;
  try {
    state = JSON.parse(await readFile(layout.state, 'utf8')) as ControlPlaneState;
  } catch {
    return undefined;
  }
  return (await isControlPlaneProcess(state.pid, state.processStart)) ? state : undefined;
}

/** Whether `pid` is alive and is the control plane that recorded `processStart` (or, without it, runs `control-plane`). */
export async function isControlPlaneProcess(pid: number, processStart?: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    // Gone, or (EPERM) alive but not ours to signal: either way not a control plane we started.
    return false;
  }
  if (processStart !== undefined) {
    const now = await processStartTime(pid);
    return now === undefined || now === processStart;
  }
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.includes('control-plane');
  } catch {
    // No /proc (macOS): trust the pid recorded by the daemon itself.
    return true;
  }
}

/** Options of a background start. */
export interface StartDaemonOptions {
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

/** Starts the control plane detached, or returns the running one. */
export async function startDaemon(
  layout: LocalLayout,
  opts: StartDaemonOptions = {},
): Promise<{ state: ControlPlaneState; alreadyRunning: boolean }> {
  const existing = await runningControlPlane(layout);
  if (existing) return { state: existing, alreadyRunning: true };
  await mkdir(layout.home, { recursive: true, mode: 0o700 });
  await mkdir(layout.logDir, { recursive: true, mode: 0o700 });
  const log = await open(layout.logFile, 'a', 0o600);
  const startedFrom = (await log.stat()).size;
  let child;
  try {
    child = spawn(
      process.execPath,
      [launcherPath(), 'control-plane', '--home', layout.home, ...(opts.extraArgs ?? [])],
      {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: { ...(opts.env ?? process.env), MESHCTL_HOME: layout.home, NO_COLOR: '1' },
      },
    );
  } finally {
    await log.close();
  }
  const pid = child.pid;
  if (pid === undefined)
    throw new PlatformUnavailableError('could not start the control plane process', `see ${layout.logFile}`);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  await writeFile(layout.pidFile, `${pid}\n`, { mode: 0o600 });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (exited !== undefined) {
      await rm(layout.pidFile, { force: true });
      throw new PlatformUnavailableError(
        `the control plane exited during start-up (exit code ${exited}): ${await logTail(layout.logFile, startedFrom)}`,
        `see the full log in ${layout.logFile}`,
      );
    }
    try {
      const state = JSON.parse(await readFile(layout.state, 'utf8')) as ControlPlaneState;
      if (state.pid === pid) {
        const res = await fetch(`${state.apiUrl}/ready`);
        if (res.ok) return { state, alreadyRunning: false };
      }
    } catch {
      // Not there yet.
    }
    if (Date.now() > deadline)
      throw new TimeoutError(
        'waiting for the control plane to start',
        `see ${layout.logFile}; it is still starting as pid ${pid}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops the running control plane; false when none was running. */
export async function stopDaemon(layout: LocalLayout, timeoutMs = 10_000): Promise<{ stopped: boolean; pid?: number }> {
  const state = await runningControlPlane(layout);
  let pid = state?.pid;
  if (pid === undefined) {
    try {
      const fromFile = Number((await readFile(layout.pidFile, 'utf8')).trim());
      if (await isControlPlaneProcess(fromFile)) pid = fromFile;
    } catch {
      // No pid file.
    }
  }
  if (pid === undefined) {
    await rm(layout.pidFile, { force: true });
    return { stopped: false };
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (await isControlPlaneProcess(pid, state?.processStart)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await rm(layout.pidFile, { force: true });
  await rm(layout.state, { force: true });
  return { stopped: true, pid };
}

async function logTail(file: string, from: number): Promise<string> {
  try {
    const text = (await readFile(file, 'utf8')).slice(from).trim();
    const lines = text.split('\n').filter(Boolean);
    return lines.slice(-5).join(' | ') || '(no output)';
  } catch {
    return '(no log)';
  }
}
