/**
 * `meshctl proxy`: the sidecar data plane. Sub-commands are registered from the list below: one
 * line each, one module each, every module exporting a `define…(parent, bind)` function. A module
 * must stay light at import time (the proxy runtime itself is imported lazily inside handlers),
 * because loading `proxy` loads every sub-command module.
 */
import type { Command } from 'commander';
import type { BindAction, CommandDefinition } from './command.js';

/** Declares one sub-command under `parent` and returns it. */
export type SubcommandDefiner = (parent: Command, bind: BindAction) => Command;

/** Every `meshctl proxy <sub-command>`, in the order `--help` lists them. */
const subcommands: readonly SubcommandDefiner[] = [
  (await import('./proxy-run.js')).defineProxyRun,
  (await import('./proxy-init.js')).defineProxyInit,
  (await import('./proxy-wait-ready.js')).defineProxyWaitReady,
  (await import('./proxy-request.js')).defineProxyRequest,
];

const command: CommandDefinition = {
  name: 'proxy',
  summary: 'Run the sidecar proxy and set up its traffic capture',
  define(cmd, bind) {
    for (const define of subcommands) define(cmd, bind).exitOverride();
  },
};
export default command;
