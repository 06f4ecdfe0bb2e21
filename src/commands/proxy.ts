/**
 * `meshctl proxy`: the sidecar data plane. Sub-commands are registered from the list below, one
 * module each; a module must stay light at import time (the proxy runtime itself is imported
 * lazily inside the handler), because loading `proxy` loads every sub-command module.
 */
import type { CommandDefinition } from './command.js';

/** Every `meshctl proxy <sub-command>`, in the order `--help` lists them. */
const subcommands: readonly CommandDefinition[] = [
  (await import('./proxy-run.js')).default,
];

const command: CommandDefinition = {
  name: 'proxy',
  summary: 'Run the sidecar proxy and set up its traffic capture',
  define(cmd, bind) {
    for (const sub of subcommands) {
      const c = cmd.command(sub.name).summary(sub.summary).description(sub.summary);
      c.exitOverride();
      sub.define(c, bind);
    }
  },
};
export default command;
