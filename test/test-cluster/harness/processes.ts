/**
 * Long-running cluster processes: started detached (their own process group, so they outlive the test
 * worker that started them and can be stopped as a group), output to a log file, stopped by pid.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A process the cluster started: name, pid, log file. */
export interface ClusterProcess {
  name: string;
  pid: number;
  log: string;
}

/** Starts `argv` detached with stdout+stderr appended to `log`. */
export function startDetached(
  name: string,
  argv: readonly string[],
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): ClusterProcess {
  const fd = openSync(log, 'a', 0o600);
  try {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error(`no command for ${name}`);
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
    return { name, pid: child.pid, log };
  } finally {
    closeSync(fd);
  }
}

/** Whether a pid is still running (and not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** SIGTERM to the process group, then SIGKILL after `graceMs` if it is still there. */
export async function stopProcess(p: ClusterProcess, graceMs = 5_000): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-p.pid, sig);
    } catch {
      try {
        process.kill(p.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!isAlive(p.pid)) return;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(p.pid)) await sleep(50);
  if (isAlive(p.pid)) signal('SIGKILL');
  while (isAlive(p.pid)) await sleep(20);
}

export { freePorts } from '../../support/ports.js';

/** The last `lines` lines of a log file, for error messages. */
export function logTail(log: string, lines = 20): string {
  try {
    return readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `check` until it returns true; fails with `what` and the process's log tail on timeout or exit. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  proc?: ClusterProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (proc && !isAlive(proc.pid))
      throw new Error(`${proc.name} exited while waiting for ${what}; log ${proc.log}:\n${logTail(proc.log)}`);
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs / 1000}s waiting for ${what}${proc ? `; log ${proc.log}:\n${logTail(proc.log)}` : ''}`,
      );
    await sleep(200);
  }
}
