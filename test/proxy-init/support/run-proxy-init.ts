/**
 * Runs `meshctl proxy init ARGS` in-process and returns what a user sees. Through the real CLI
 * root once src/commands/proxy.ts registers the sub-command; until then, the same definition
 * bound the way src/cli.ts binds commands, with errors printed by the same describeError.
 */
import { PassThrough, Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type * as CommanderModule from 'commander';
import { runCli, type CliResult } from '../../support/cli.js';
import { commandIndex } from '../../../src/commands/index.js';
import { defineProxyInit } from '../../../src/commands/proxy-init.js';
import { createContext, type CliContext, type GlobalOptions } from '../../../src/context.js';
import { describeError } from '../../../src/errors.js';
import type { BindAction } from '../../../src/commands/command.js';

const { Command, CommanderError } = createRequire(import.meta.url)('commander') as typeof CommanderModule;

/** Runs `meshctl proxy init <args>`. */
export async function runProxyInit(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  if (commandIndex.some((e) => e.name === 'proxy')) return runCli(['proxy', 'init', ...args], { env });
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const io = { stdout: out, stderr: err, stdin: Readable.from([]), env: { NO_COLOR: '1', ...env }, cwd: process.cwd() };
  let code = 0;
  let ctx: CliContext | undefined;
  const program = new Command('meshctl').exitOverride().configureOutput({
    writeOut: (s) => void out.write(s),
    writeErr: (s) => void err.write(s),
    outputError: () => undefined,
  });
  const bind: BindAction = (cmd, handler) => {
    cmd.action(async () => {
      ctx ??= createContext(io, cmd.optsWithGlobals() as GlobalOptions);
      code = await handler(ctx, cmd.args, cmd.opts() as never);
    });
  };
  const proxy = program.command('proxy').exitOverride();
  defineProxyInit(proxy, bind)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void out.write(s),
      writeErr: (s) => void err.write(s),
      outputError: () => undefined,
    });
  try {
    await program.parseAsync(['proxy', 'init', ...args], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed') code = 0;
      else {
        err.write(`Error: ${e.message.replace(/^error:\s*/i, '')}\n`);
        code = 64;
      }
    } else {
      const d = describeError(e);
      err.write(`Error: ${d.message}\n`);
      if (d.hint) err.write(`  hint: ${d.hint}\n`);
      code = d.exitCode;
    }
  }
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}
