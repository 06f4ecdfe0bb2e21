/**
 * The CliContext: everything a command needs from the outside world, built once per invocation
 * and passed in. Commands never reach for `process` directly, which keeps them testable in-process
 * (tests give their own streams and env) and keeps platform selection in one place.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { ChalkInstance } from 'chalk';
import { makeStyle, wantsColor } from './ui/style.js';
import { UsageError } from './errors.js';

import type { PlatformKind } from './cluster/index.js';

export type { PlatformKind } from './cluster/index.js';

/** Flags every command accepts (registered on the root command). */
export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  local?: boolean;
  kubernetes?: boolean;
  verbose?: boolean;
  color?: boolean;
}

/** Where the signals of an invocation come from: the process, or a test's emitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

/** The streams of one invocation; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Default: the process. */
  signals?: SignalSource;
}

/** Debug logging to stderr, shown only with --verbose. Never pass secrets to it. */
export interface Logger {
  debug(message: string): void;
  warn(message: string): void;
}

/** The context handed to every command handler. */
export interface CliContext {
  readonly io: CliIo;
  readonly globals: GlobalOptions;
  /** Styling for stdout and stderr respectively (no colour when not a TTY or NO_COLOR). */
  readonly style: ChalkInstance;
  readonly errStyle: ChalkInstance;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Writes to stdout / stderr. */
  out(text: string): void;
  err(text: string): void;
  /** The namespace flag, or `default`. */
  namespace(): string;
  /** Which platform this invocation targets (flags, MESHCTL_PLATFORM, then kubeconfig detection). */
  platformKind(): PlatformKind;
  /** The mesh's home on the local platform (`$MESHCTL_HOME`, default ~/.meshctl). */
  meshHome(): string;
  /** The selected platform, connected once (with --kubeconfig/--context on Kubernetes); loaded lazily. */
  platform(): Promise<import('./cluster/index.js').MeshPlatform>;
  /** Asks for confirmation on a TTY; returns `fallback` where nobody can answer. */
  confirm(message: string, fallback: boolean): Promise<boolean>;
  /**
   * Aborted on the first SIGINT or SIGTERM (reason: the signal's name). A command that reads it
   * handles those signals itself (stops cleanly, returns its exit code); one that never does ends
   * at once, as without meshctl. The context is the only place that listens to the signals.
   */
  readonly signal: AbortSignal;
  /** Calls `listener` on each SIGHUP (reload) until the returned function is called. */
  onHangup(listener: () => void): () => void;
  /** Releases what the invocation holds (its signal listeners); the CLI root calls it after the command. */
  close(): void;
}

/** Calls `fn` once when `signal` aborts (at once if it already has); returns what removes the listener. */
export function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/** Builds the one context of an invocation. */
export function createContext(io: CliIo, globals: GlobalOptions): CliContext {
  const colorFlag = globals.color === false ? false : undefined;
  let style: ChalkInstance | undefined;
  let errStyle: ChalkInstance | undefined;
  const getErrStyle = () => (errStyle ??= makeStyle(colorFlag ?? wantsColor(io.stderr, io.env)));
  const logger: Logger = {
    debug: (m) => {
      if (globals.verbose) io.stderr.write(getErrStyle().dim(`debug: ${m}`) + '\n');
    },
    warn: (m) => void io.stderr.write(getErrStyle().yellow(`warning: ${m}`) + '\n'),
  };
  let platform: PlatformKind | undefined;
  let connected: Promise<import('./cluster/index.js').MeshPlatform> | undefined;
  const meshHome = () => io.env.MESHCTL_HOME ?? join(homedir(), '.meshctl');
  const platformKind = () => (platform ??= selectPlatform(globals, io.env));
  const signals: SignalSource = io.signals ?? process;
  const releases: (() => void)[] = [];
  let interrupt: AbortController | undefined;
  const signal = (): AbortSignal => {
    if (!interrupt) {
      const controller = (interrupt = new AbortController());
      for (const name of ['SIGINT', 'SIGTERM'] as const) {
        const listener = (): void => {
          if (!controller.signal.aborted) controller.abort(name);
        };
        signals.on(name, listener);
        releases.push(() => signals.off(name, listener));
      }
    }
    return interrupt.signal;
  };
  return {
    io,
    globals,
    get style() {
      return (style ??= makeStyle(colorFlag ?? wantsColor(io.stdout, io.env)));
    },
    get errStyle() {
      return getErrStyle();
    },
    logger,
    now: () => new Date(),
    out: (t) => void io.stdout.write(t),
    err: (t) => void io.stderr.write(t),
    namespace: () => globals.namespace ?? 'default',
    platformKind,
    meshHome,
    platform: () =>
      (connected ??= import('./cluster/index.js').then(({ platformFor }) =>
        platformFor(platformKind(), {
          home: meshHome(),
          env: io.env,
          ...(globals.kubeconfig ? { kubeconfig: globals.kubeconfig } : {}),
          ...(globals.context ? { context: globals.context } : {}),
        }),
      )),
    get signal() {
      return signal();
    },
    onHangup: (listener) => {
      signals.on('SIGHUP', listener);
      const off = (): void => void signals.off('SIGHUP', listener);
      releases.push(off);
      return off;
    },
    close: () => {
      for (const release of releases.splice(0)) release();
    },
    confirm: async (message, fallback) => {
      if (!io.stdin.isTTY || !io.stderr.isTTY) return fallback;
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: fallback }, { input: io.stdin, output: io.stderr });
    },
  };
}

/**
 * Platform selection, as DESIGN.md states it: --local / --kubernetes, else MESHCTL_PLATFORM,
 * else kubernetes when a kubeconfig with a current context exists, else local.
 */
export function selectPlatform(globals: GlobalOptions, env: NodeJS.ProcessEnv): PlatformKind {
  if (globals.local && globals.kubernetes) throw new UsageError('--local and --kubernetes cannot be used together');
  if (globals.local) return 'local';
  if (globals.kubernetes) return 'kubernetes';
  const fromEnv = env.MESHCTL_PLATFORM;
  if (fromEnv === 'local' || fromEnv === 'kubernetes') return fromEnv;
  if (fromEnv)
    throw new UsageError(`MESHCTL_PLATFORM=${fromEnv} is not a platform`, 'set it to "local" or "kubernetes"');
  if (globals.context) return 'kubernetes';
  return kubeconfigHasCurrentContext(globals.kubeconfig, env) ? 'kubernetes' : 'local';
}

function kubeconfigHasCurrentContext(flag: string | undefined, env: NodeJS.ProcessEnv): boolean {
  const paths = flag
    ? [flag]
    : env.KUBECONFIG
      ? env.KUBECONFIG.split(delimiter)
      : [join(env.HOME ?? homedir(), '.kube', 'config')];
  for (const p of paths) {
    if (!p || !existsSync(p)) continue;
    // A regex instead of a YAML parse keeps this off the start-up path of every command.
    const text = readFileSync(p, 'utf8');
    if (/^current-context:\s*["']?[^\s"'#]+/m.test(text)) return true;
  }
  return false;
}
