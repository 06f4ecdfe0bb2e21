/**
 * The commander root: global flags, lazy registration of the invoked command, and the single place
 * where errors become one clear line and an exit code. Nothing here calls process.exit.
 */
import { createRequire } from 'node:module';
import type * as CommanderModule from 'commander';
import { commandIndex } from './commands/index.js';
import type { BindAction } from './commands/command.js';
import { createContext, type CliContext, type CliIo, type GlobalOptions } from './context.js';
import { describeError, ExitCode, UsageError } from './errors.js';
import { meshctlVersion } from './version.js';

// commander is CommonJS: require() skips the ESM loader's export scan of it (~3 ms per start-up).
const { Command, CommanderError, Option } = createRequire(import.meta.url)('commander') as typeof CommanderModule;

/** Global options that take a value, so the command name can be found without parsing everything. */
const VALUE_FLAGS = new Set(['--kubeconfig', '--context', '-n', '--namespace']);

/** Finds the first positional token of argv: the command name, if any. */
function invokedCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (VALUE_FLAGS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

/** Runs meshctl with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io?: Partial<CliIo>): Promise<number> {
  const fullIo: CliIo = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    stdin: io?.stdin ?? process.stdin,
    env: io?.env ?? process.env,
    cwd: io?.cwd ?? process.cwd(),
  };
  let ctx: CliContext | undefined;
  let exitCode: number = ExitCode.Ok;
  const program = new Command('meshctl');
  const verbose = argv.includes('--verbose');

  program
    .description('A service mesh that runs your Istio and Linkerd/SMI YAML unchanged.')
    .addOption(new Option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)'))
    .addOption(new Option('--context <name>', 'kubeconfig context to use'))
    .addOption(new Option('-n, --namespace <ns>', 'namespace of the resources'))
    .addOption(new Option('--local', 'target the local (single-machine) platform'))
    .addOption(new Option('--kubernetes', 'target the Kubernetes cluster of the kubeconfig'))
    .addOption(new Option('--verbose', 'debug output, and stack traces of unexpected errors'))
    .addOption(new Option('--no-color', 'never colour the output'))
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void fullIo.stdout.write(s),
      writeErr: (s) => void fullIo.stderr.write(s),
      // Usage errors are printed by the catch below, as one line plus a hint.
      outputError: () => undefined,
    })
    .addHelpText(
      'after',
      `\nRun 'meshctl <command> --help' for a command's flags and examples. Version ${meshctlVersion()}.\n`,
    );

  const bind: BindAction = (cmd, handler) => {
    cmd.action(async () => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      ctx ??= createContext(fullIo, globals);
      exitCode = await handler(ctx, cmd.args, cmd.opts() as never);
    });
  };

  const name = invokedCommand(argv);
  const entry = commandIndex.find((e) => e.name === name);
  const entries = entry ? [entry] : commandIndex;
  const modules = await Promise.all(entries.map((e) => e.load()));
  for (const { default: def } of modules) {
    const cmd = program.command(def.name).summary(def.summary).description(def.summary);
    cmd.exitOverride().configureOutput({
      writeOut: (s) => void fullIo.stdout.write(s),
      writeErr: (s) => void fullIo.stderr.write(s),
      outputError: () => undefined,
    });
    def.define(cmd, bind);
  }

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version')
        return ExitCode.Ok;
      if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
      const usage = new UsageError(
        err.message.replace(/^error:\s*/i, ''),
        `run 'meshctl ${name && entry ? name + ' ' : ''}--help' for usage`,
      );
      printError(fullIo, usage, verbose);
      return usage.exitCode;
    }
    return printError(fullIo, err, verbose);
  } finally {
    // The command is done: signals end the process again by default.
    ctx?.close();
  }
}

/** Prints an error as one line plus a hint (and the stack with --verbose); returns its exit code. */
function printError(io: CliIo, err: unknown, verbose: boolean): number {
  const { message, hint, exitCode } = describeError(err);
  io.stderr.write(`Error: ${message}\n`);
  if (hint) io.stderr.write(`  hint: ${hint}\n`);
  if (verbose && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return exitCode;
}
