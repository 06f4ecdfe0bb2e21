/**
 * The demo's workloads as real `meshctl run` processes (each runs its sidecar and a `meshctl
 * demo-app` child), each in its own process group so the demo stops a workload and its app
 * together, and detached so `--keep` can leave them running after the demo exits. Their pids are
 * recorded under the mesh home, so a later `meshctl demo` (or `--cleanup`) stops a kept demo.
 */
import { spawn } from 'node:child_process';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { launcherPath, processStartTime } from '../cluster/processes.js';
import { DEMO_SERVICE_PORT, type DemoWorkload } from './scenario.js';

/** A started workload process. */
export interface DemoProcess {
  readonly name: string;
  readonly pid: number;
  readonly processStart?: string;
  readonly appPort: number;
  readonly logFile: string;
}

/** What the demo records under the mesh home. */
export interface DemoState {
  readonly namespace: string;
  readonly processes: readonly DemoProcess[];
  /** Whether the demo started the control plane (then cleaning up stops it too). */
  readonly startedControlPlane: boolean;
}

/** The state file of a demo in `home`. */
export function demoStateFile(home: string): string {
  return join(home, 'demo.json');
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts one workload: `meshctl run ... -- meshctl demo-app ...`, output to its log file. */
export async function startDemoWorkload(
  w: DemoWorkload,
  opts: { home: string; namespace: string; env: NodeJS.ProcessEnv },
): Promise<DemoProcess & { exited: () => number | null | undefined }> {
  const appPort = await freePort();
  const logDir = join(opts.home, 'logs');
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const logFile = join(logDir, `demo-${w.name}.log`);
  const log = await open(logFile, 'w', 0o600);
  const meshctl = [process.execPath, launcherPath()];
  const args = [
    ...meshctl.slice(1),
    '--local',
    '-n',
    opts.namespace,
    'run',
    '--name',
    w.name,
    '--service',
    w.service,
    '--service-port',
    String(DEMO_SERVICE_PORT),
    '--labels',
    `app=${w.service},version=${w.version}`,
    '--port',
    String(appPort),
    '--',
    ...meshctl,
    'demo-app',
    '--service',
    w.service,
    '--version',
    w.version,
    '--port',
    String(appPort),
    '--host',
    '127.0.0.1',
    ...(w.calls.length ? ['--calls', w.calls.join(',')] : []),
  ];
  let exitCode: number | null | undefined;
  try {
    const child = spawn(meshctl[0]!, args, {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: { ...opts.env, MESHCTL_HOME: opts.home, NO_COLOR: '1', MESH_POD_NAME: w.name },
    });
    child.on('exit', (code, signal) => (exitCode = code ?? (signal ? 128 : 1)));
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start the ${w.name} workload`);
    const processStart = await processStartTime(child.pid);
    return {
      name: w.name,
      pid: child.pid,
      ...(processStart ? { processStart } : {}),
      appPort,
      logFile,
      exited: () => exitCode,
    };
  } finally {
    await log.close();
  }
}

/** Whether a recorded process is still that process (not a reused pid). */
async function alive(p: DemoProcess): Promise<boolean> {
  try {
    process.kill(p.pid, 0);
  } catch {
    return false;
  }
  if (!p.processStart) return true;
  const now = await processStartTime(p.pid);
  return now === undefined || now === p.processStart;
}

/**
 * Stops workloads: SIGTERM to each process group (`meshctl run` stops its app, drains its
 * sidecar and unregisters), SIGKILL to what is left after `timeoutMs`. Returns the names stopped.
 */
export async function stopDemoWorkloads(processes: readonly DemoProcess[], timeoutMs = 8_000): Promise<string[]> {
  const live: DemoProcess[] = [];
  for (const p of processes) if (await alive(p)) live.push(p);
  const signal = (p: DemoProcess, s: NodeJS.Signals) => {
    try {
      process.kill(-p.pid, s);
    } catch {
      // The group is gone already.
    }
  };
  for (const p of live) signal(p, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left: DemoProcess[] = [];
    for (const p of live) if (await alive(p)) left.push(p);
    if (!left.length) break;
    if (Date.now() > deadline) {
      // The whole group: the app child goes with its `meshctl run`.
      for (const p of left) signal(p, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return live.map((p) => p.name);
}

/** Reads a demo's state file, if there is one. */
export async function readDemoState(home: string): Promise<DemoState | undefined> {
  try {
    return JSON.parse(await readFile(demoStateFile(home), 'utf8')) as DemoState;
  } catch {
    return undefined;
  }
}

export async function writeDemoState(home: string, state: DemoState): Promise<void> {
  await writeFile(demoStateFile(home), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

export async function removeDemoState(home: string): Promise<void> {
  await rm(demoStateFile(home), { force: true });
}

/** The last lines of a workload's log, for an error message. */
export async function logTail(file: string, lines = 5): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '(no log)';
  }
}
