/**
 * Container processes: started in the pod's network namespace with their own mount and UTS namespaces
 * (volumes bind-mounted at mountPath, hostname = pod name), as the container's user; `exec` into them
 * with nsenter. There is no PID namespace, cgroup or filesystem isolation: the process sees the host's
 * programs and files apart from its mounts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const entryScript = join(dirname(fileURLToPath(import.meta.url)), 'container-entry.sh');

/** One volume mount of a container. */
export interface MountSpec {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Everything needed to start one container process. */
export interface ContainerLaunch {
  netns: string;
  hostname: string;
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  uid: number;
  gid: number;
  groups: number[];
  mounts: MountSpec[];
  /** Scratch directory for this container (mount plan, overlay layers). */
  scratchDir: string;
  logFile: string;
}

function isUnder(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
}

function nearestExisting(path: string): string {
  let p = path;
  while (!existsSync(p)) p = dirname(p);
  return p;
}

/** The mount plan the entry script executes: overlays where mount points are missing, then binds. */
export function mountPlan(mounts: MountSpec[], scratchDir: string): string {
  const sorted = [...mounts].sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  const ancestors = new Set<string>();
  const binds: string[] = [];
  const planned: string[] = [];
  for (const m of sorted) {
    const target = resolve('/', m.target);
    const isFile = existsSync(m.source) && statSync(m.source).isFile();
    const inOtherMount = planned.some((t) => t !== target && isUnder(target, t));
    if (!existsSync(target) && !inOtherMount) {
      const ancestor = realpathSync(nearestExisting(target));
      // Overlaying / would hide /proc, /dev and /sys: such a mount point is created on the host instead
      // (an empty directory, left in place).
      if (ancestor === '/') mkdirSync(target, { recursive: true, mode: 0o755 });
      else ancestors.add(ancestor);
    }
    planned.push(target);
    binds.push(['bind', m.source, target, m.readOnly ? 'ro' : 'rw', isFile ? 'file' : 'dir'].join('\t'));
  }
  // One overlay per outermost directory: an overlay mounted over another would hide it.
  const outermost = [...ancestors].filter((a) => ![...ancestors].some((o) => o !== a && isUnder(a, o)));
  const overlays = outermost.map((dir, i) => {
    const layer = join(scratchDir, `overlay-${i}`);
    mkdirSync(join(layer, 'upper'), { recursive: true });
    mkdirSync(join(layer, 'work'), { recursive: true });
    return ['overlay', dir, join(layer, 'upper'), join(layer, 'work')].join('\t');
  });
  return [...overlays, ...binds].join('\n') + '\n';
}

/**
 * Starts a container process; the returned child's pid is the container's process. Its namespaces, hostname
 * and mounts are in place only once `containerSetUp(child)` resolves.
 */
export function startContainerProcess(l: ContainerLaunch): ChildProcess {
  mkdirSync(l.scratchDir, { recursive: true, mode: 0o700 });
  const mountsFile = join(l.scratchDir, 'mounts.tsv');
  writeFileSync(mountsFile, mountPlan(l.mounts, l.scratchDir));
  mkdirSync(dirname(l.logFile), { recursive: true });
  const fd = openSync(l.logFile, 'a');
  try {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        l.netns,
        'unshare',
        '--uts',
        '/bin/sh',
        entryScript,
        l.hostname,
        String(l.uid),
        String(l.gid),
        l.groups.join(','),
        l.workingDir,
        mountsFile,
        '--',
        ...l.argv,
      ],
      { env: l.env, detached: true, stdio: ['ignore', fd, fd, 'pipe'] },
    );
    return child;
  } finally {
    closeSync(fd);
  }
}

/**
 * Resolves once the container's entry script has set up its namespaces and mounts and exec'd the program (it
 * closes fd 3 then), or has failed: as a runtime's start, after which the kubelet runs postStart hooks.
 */
export function containerSetUp(child: ChildProcess): Promise<void> {
  const setup = child.stdio[3] as Readable | null | undefined;
  if (!setup) return Promise.resolve();
  return new Promise((resolveSetUp) => {
    setup.on('close', () => resolveSetUp());
    setup.on('error', () => resolveSetUp());
    setup.resume();
  });
}

/** Signals a container: SIGTERM to its process, SIGKILL to its whole process group. */
export function signalContainer(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
  try {
    process.kill(signal === 'SIGKILL' ? -pid : pid, signal);
  } catch {
    /* already gone */
  }
}

/** Result of a command run inside a container. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to enter a container for an exec: its user, environment and working directory. */
export interface ExecIdentity {
  uid: number;
  gid: number;
  env: Record<string, string>;
  workingDir: string;
}

/**
 * Starts argv in a running container's namespaces (network, mount, UTS) as its user, with its
 * environment, in a process group of its own (so a kill reaches what it started); stdio piped.
 */
export function spawnInContainer(pid: number, argv: string[], who: ExecIdentity): ChildProcess {
  const args = ['-t', String(pid), '-n', '-m', '-u', `--wd=${who.workingDir}`];
  if (who.uid !== 0 || who.gid !== 0) args.push('-S', String(who.uid), '-G', String(who.gid));
  return spawn('nsenter', [...args, '--', ...argv], {
    env: who.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}

/** Runs argv in a running container's namespaces (network, mount, UTS) as `uid`/`gid`, like `kubectl exec`. */
export function execInContainer(
  pid: number,
  argv: string[],
  opts: ExecIdentity & { timeoutMs: number },
): Promise<ExecResult> {
  return new Promise((resolveExec) => {
    const child = spawnInContainer(pid, argv, opts);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\ncommand timed out after ${opts.timeoutMs}ms`;
      if (child.pid) signalContainer(child.pid, 'SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolveExec({ code: 126, stdout, stderr: stderr + String(e) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveExec({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr });
    });
  });
}
