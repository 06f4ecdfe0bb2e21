/**
 * `meshctl run` as a real process (bin/meshctl, the built CLI), for the transparent-run tests: its
 * output collected, waits on what it prints, signals by its pid, and a last-resort kill of every
 * run a suite started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { NODE } from './fixtures.js';

/** One running `meshctl` process. */
export interface MeshctlProcess {
  proc: ChildProcess;
  /** stdout so far (the app's output). */
  stdout(): string;
  /** stderr so far (meshctl's notes, the sidecar's messages). */
  stderr(): string;
  /** Resolves with the first match of `re` in stdout + stderr; rejects when the process exits first or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or 128 + signal); rejects with the output when it has not exited within `timeoutMs`. */
  exited(timeoutMs?: number): Promise<number>;
}

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of started) p.kill('SIGKILL');
});

/** Starts `meshctl --local <argv>` with MESHCTL_HOME=home. */
export function startMeshctl(home: string, argv: readonly string[], env: Record<string, string> = {}): MeshctlProcess {
  const proc = spawn(NODE, [resolve('bin/meshctl'), '--local', '--verbose', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', MESHCTL_HOME: home, ...env },
  });
  started.add(proc);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiters) w();
  };
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    wake();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    wake();
  });
  const exit = new Promise<number>((r) =>
    proc.on('exit', (code, signal) => {
      started.delete(proc);
      r(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15));
      wake();
    }),
  );
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited: (timeoutMs = 40_000) =>
      new Promise<number>((resolvePromise, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`meshctl ${argv.join(' ')} did not exit within ${timeoutMs} ms:\n${out}\n${err}`)),
          timeoutMs,
        );
        void exit.then((code) => {
          clearTimeout(timer);
          resolvePromise(code);
        });
      }),
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise((resolvePromise, reject) => {
        const check = (): void => {
          const m = (out + err).match(re);
          if (m) {
            done();
            resolvePromise(m);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(
              new Error(
                `meshctl ${argv.join(' ')} exited (${String(proc.exitCode ?? proc.signalCode)}) before printing ${String(re)}:\n${out}\n${err}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`meshctl ${argv.join(' ')} did not print ${String(re)} within ${timeoutMs} ms:\n${out}\n${err}`),
          );
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
  };
}

/** Stops a run by its pid (SIGTERM, then SIGKILL after 25 s: the run gives its app and sidecar 5 s each) and waits for it. */
export async function stopMeshctl(p: MeshctlProcess): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const hard = setTimeout(() => p.proc.kill('SIGKILL'), 25_000);
  p.proc.kill('SIGTERM');
  await p.exited(60_000);
  clearTimeout(hard);
}
