/** Runs the CLI in-process with captured streams, as a user would see it. */
import { spawnSync } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli.js';

/** What one CLI invocation produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `meshctl <argv>` in-process; `stdin` is fed as the standard input. */
export async function runCli(
  argv: string[],
  opts: { stdin?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const stdin = Readable.from(opts.stdin !== undefined ? [Buffer.from(opts.stdin)] : []);
  const code = await main(argv, {
    stdout: out,
    stderr: err,
    stdin,
    env: { NO_COLOR: '1', ...(opts.env ?? {}) },
    cwd: opts.cwd ?? process.cwd(),
  });
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}

/** Runs `bin/meshctl <argv>` as a real process (for commands that start daemons or need real exit codes). */
export function runMeshctlProcess(argv: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, ['bin/meshctl', ...argv], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
