/**
 * Network-namespace labs for capture tests: each lab is a private "switch" namespace holding a
 * bridge, and one namespace per host with an `eth0` veth plugged into that bridge. Every link is
 * created inside the lab's namespaces (nothing touches the machine's own network), hosts get
 * 198.18.0.x/24 and fd00:198:18::x/64, and everything is torn down in afterAll, on process exit,
 * and when creation itself fails half-way.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll } from 'vitest';

/** One host of a lab: its namespace and addresses. */
export interface NetnsHost {
  label: string;
  /** Name of the network namespace (`ip netns exec <ns>`). */
  ns: string;
  ipv4: string;
  ipv6: string;
}

/** What a command run in a namespace produced. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Who a process runs as: the proxy is 1337, apps something else. Root when absent. */
export interface RunAs {
  uid?: number;
  gid?: number;
}

/** A long-running process started in a namespace. */
export interface LabProcess {
  proc: ChildProcess;
  /** Everything it wrote so far (stdout and stderr, interleaved). */
  output(): string;
  /** Resolves with the first stdout line matching `re`; rejects if the process exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

const SUBNET_V4 = '198.18.0';
const SUBNET_V6 = 'fd00:198:18:';

/** Runs a command as root in the machine's namespace, throwing with its stderr on failure. */
async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.exitCode)}): ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

/** The argv that runs `cmd` in namespace `ns` as the given user (setpriv drops root after entering). */
export function nsArgv(ns: string, cmd: string, args: readonly string[], as: RunAs = {}): string[] {
  const drop =
    as.uid === undefined && as.gid === undefined
      ? []
      : ['setpriv', `--reuid=${as.uid ?? 0}`, `--regid=${as.gid ?? as.uid ?? 0}`, '--clear-groups', '--'];
  return ['ip', 'netns', 'exec', ns, ...drop, cmd, ...args];
}

const liveLabs = new Set<NetnsLab>();
let exitHookInstalled = false;

/** A set of namespaces wired to one bridge. Create with {@link NetnsLab.create} or {@link useNetnsLab}. */
export class NetnsLab {
  readonly id: string;
  readonly switchNs: string;
  private readonly hosts = new Map<string, NetnsHost>();
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<ChildProcess>();

  private constructor() {
    this.id = randomBytes(4).toString('hex');
    this.switchNs = `mcap-${this.id}-sw`;
  }

  /** Creates the switch namespace and one namespace per label, in order (198.18.0.1, .2, ...). */
  static async create(labels: readonly string[]): Promise<NetnsLab> {
    const lab = new NetnsLab();
    liveLabs.add(lab);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const l of liveLabs) l.destroySync();
      });
    }
    try {
      await lab.addNamespace(lab.switchNs);
      await sh('ip', ['-n', lab.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
      await sh('ip', ['-n', lab.switchNs, 'link', 'set', 'br0', 'up']);
      for (const label of labels) await lab.addHost(label);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async addNamespace(ns: string): Promise<void> {
    await sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  private async addHost(label: string): Promise<void> {
    const index = this.hosts.size + 1;
    const host: NetnsHost = {
      label,
      ns: `mcap-${this.id}-${index}`,
      ipv4: `${SUBNET_V4}.${index}`,
      ipv6: `${SUBNET_V6}:${index.toString(16)}`,
    };
    await this.addNamespace(host.ns);
    const port = `p${index}`;
    // Made inside the switch namespace, the host end moved straight into the host's namespace.
    await sh('ip', [
      '-n',
      this.switchNs,
      'link',
      'add',
      port,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      host.ns,
    ]);
    await sh('ip', ['-n', this.switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
    await sh('ip', ['-n', host.ns, 'addr', 'add', `${host.ipv4}/24`, 'dev', 'eth0']);
    await sh('ip', ['-n', host.ns, '-6', 'addr', 'add', `${host.ipv6}/64`, 'dev', 'eth0', 'nodad']);
    await sh('ip', ['-n', host.ns, 'link', 'set', 'eth0', 'up']);
    this.hosts.set(label, host);
  }

  /** The host with this label. */
  host(label: string): NetnsHost {
    const h = this.hosts.get(label);
    if (!h) throw new Error(`no host "${label}" in lab ${this.id}`);
    return h;
  }

  /** Runs a command to completion inside a host's namespace. */
  async exec(
    host: NetnsHost,
    cmd: string,
    args: readonly string[],
    opts: RunAs & { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
  ): Promise<ExecResult> {
    const [file, ...rest] = nsArgv(host.ns, cmd, args, opts);
    const r = await execa(file!, rest, {
      reject: false,
      timeout: opts.timeoutMs ?? 15_000,
      stripFinalNewline: false,
      ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
      env: opts.env,
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  /** Starts a long-running process inside a host's namespace; it is killed when the lab is destroyed. */
  start(
    host: NetnsHost,
    cmd: string,
    args: readonly string[],
    opts: RunAs & { env?: Record<string, string> } = {},
  ): LabProcess {
    const [file, ...rest] = nsArgv(host.ns, cmd, args, opts);
    const proc = spawn(file!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    this.processes.add(proc);
    let out = '';
    let stdoutLines = '';
    const waiters = new Set<() => void>();
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      stdoutLines += d.toString();
      for (const w of waiters) w();
    });
    proc.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.on('exit', () => {
      this.processes.delete(proc);
      for (const w of waiters) w();
    });
    return {
      proc,
      output: () => out,
      waitFor: (re, timeoutMs = 15_000) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const m = stdoutLines.match(re);
            if (m) {
              cleanup();
              resolve(m);
            } else if (proc.exitCode !== null || proc.signalCode !== null) {
              cleanup();
              reject(
                new Error(
                  `${cmd} exited (${String(proc.exitCode ?? proc.signalCode)}) before printing ${String(re)}; output:\n${out}`,
                ),
              );
            }
          };
          const timer = setTimeout(() => {
            cleanup();
            reject(new Error(`${cmd} did not print ${String(re)} within ${timeoutMs} ms; output:\n${out}`));
          }, timeoutMs);
          const cleanup = () => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          waiters.add(check);
          check();
        }),
      stop: () => stopProcess(proc),
    };
  }

  /** Kills the lab's processes and deletes its namespaces (deleting a namespace removes its links). */
  async destroy(): Promise<void> {
    await Promise.all([...this.processes].map(stopProcess));
    for (const ns of this.namespaces.reverse()) {
      await execa('ip', ['netns', 'del', ns], { reject: false });
    }
    this.namespaces.length = 0;
    liveLabs.delete(this);
  }

  /** Last-resort cleanup from the exit hook, where nothing asynchronous runs. */
  private destroySync(): void {
    for (const p of this.processes) p.kill('SIGKILL');
    for (const ns of this.namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Creates a lab before the suite's tests and destroys it after them, whatever happened. */
export function useNetnsLab(labels: readonly string[]): () => NetnsLab {
  let lab: NetnsLab | undefined;
  beforeAll(async () => {
    lab = await NetnsLab.create(labels);
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  return () => {
    if (!lab) throw new Error('the netns lab was not created (see the beforeAll error)');
    return lab;
  };
}

/** Names of the lab namespaces currently present on the machine (for leak checks). */
export async function labNamespaces(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith('mcap-'));
}
