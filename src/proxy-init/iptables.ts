/**
 * Running the iptables binaries, and choosing between iptables-nft and iptables-legacy the way
 * istio-iptables does: legacy when the namespace already has legacy rules (someone else uses it,
 * and mixing the two makes both misbehave), else nft when the kernel supports it, else whatever
 * plain `iptables` is.
 */
import type { IpFamily } from './options.js';

/** The outcome of one command. `exitCode` is undefined when the binary could not be started. */
export interface CommandResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/** Runs a command, optionally inside another network namespace; never throws for a failed command. */
export interface CommandRunner {
  /** How commands are prefixed (`ip netns exec NAME`), for messages and dry runs. */
  readonly prefix: readonly string[];
  run(file: string, args: readonly string[], input?: string): Promise<CommandResult>;
}

/** A runner that starts commands with execa, in this namespace or under `ip netns exec <netns>`. */
export function execaRunner(netns?: string): CommandRunner {
  const prefix = netns ? ['ip', 'netns', 'exec', netns] : [];
  return {
    prefix,
    async run(file, args, input) {
      const { execa } = await import('execa');
      const [cmd, ...rest] = prefix.length ? [...prefix, file, ...args] : [file, ...args];
      const r = await execa(cmd!, rest, {
        reject: false,
        ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
        // numeric owners only, but keep iptables away from NSS lookups and the user's locale
        env: { LC_ALL: 'C' },
        timeout: 30_000,
      });
      // With a prefix, a missing binary shows up as ip's exit code 255 and "No such file".
      const missing =
        r.exitCode === undefined ||
        (prefix.length > 0 &&
          r.exitCode === 255 &&
          /No such file or directory/.test(String(r.stderr)) &&
          /exec of/.test(String(r.stderr)));
      return {
        exitCode: missing ? undefined : r.exitCode,
        stdout: String(r.stdout ?? ''),
        stderr: String(r.stderr ?? ''),
      };
    },
  };
}

/** One set of iptables binaries for one family. */
export interface IptablesBackend {
  family: IpFamily;
  mode: 'nft' | 'legacy' | 'plain';
  /** `iptables-nft`, `ip6tables-legacy`, ... */
  binary: string;
  save: string;
  restore: string;
}

function binaries(family: IpFamily, mode: IptablesBackend['mode']): IptablesBackend {
  const base = family === 'ipv4' ? 'iptables' : 'ip6tables';
  const binary = mode === 'plain' ? base : `${base}-${mode}`;
  return { family, mode, binary, save: `${binary}-save`, restore: `${binary}-restore` };
}

/** Why no backend could be used, per candidate tried. */
export class NoIptablesBackend extends Error {
  constructor(
    readonly family: IpFamily,
    readonly tried: readonly string[],
  ) {
    super(`no usable ${family === 'ipv4' ? 'iptables' : 'ip6tables'}: ${tried.join('; ')}`);
  }
}

async function hasRules(runner: CommandRunner, b: IptablesBackend): Promise<boolean> {
  const r = await runner.run(b.save, []);
  return r.exitCode === 0 && /^-A /m.test(r.stdout);
}

/** Whether the kernel supports this backend's nat table here (listing it fails otherwise; it changes nothing). */
async function usable(runner: CommandRunner, b: IptablesBackend): Promise<string | undefined> {
  const r = await runner.run(b.binary, ['-t', 'nat', '-S']);
  if (r.exitCode === undefined) return `${b.binary}: not installed`;
  if (r.exitCode !== 0) return `${b.binary}: ${firstLine(r.stderr) || `exit ${r.exitCode}`}`;
  return undefined;
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

/** Picks the backend for a family: forced by `mode`, or detected as istio-iptables does. */
export async function detectBackend(
  runner: CommandRunner,
  family: IpFamily,
  mode: 'auto' | 'nft' | 'legacy',
): Promise<IptablesBackend> {
  const tried: string[] = [];
  const attempt = async (b: IptablesBackend) => {
    const why = await usable(runner, b);
    if (why) tried.push(why);
    return why ? undefined : b;
  };
  if (mode !== 'auto') {
    const b = await attempt(binaries(family, mode));
    if (b) return b;
    throw new NoIptablesBackend(family, tried);
  }
  const legacy = binaries(family, 'legacy');
  // Only a save is run against legacy: probing it with a rule would load legacy tables and make
  // every later run believe legacy is in use.
  if (await hasRules(runner, legacy)) {
    const b = await attempt(legacy);
    if (b) return b;
  }
  return (
    (await attempt(binaries(family, 'nft'))) ??
    (await attempt(binaries(family, 'plain'))) ??
    (await attempt(legacy)) ??
    Promise.reject(new NoIptablesBackend(family, tried))
  );
}

/** Extra arguments for writes: legacy takes the xtables lock and should wait for it. */
export function writeArgs(b: IptablesBackend): string[] {
  return b.mode === 'legacy' ? ['--noflush', '--wait=30'] : ['--noflush'];
}
