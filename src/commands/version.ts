/** `meshctl version`: the client version (and, once a mesh is reachable, the control and data plane versions). */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { meshctlVersion } from '../version.js';
import { toJson } from '../ui/printers.js';

/** The flags of `meshctl version`. */
export interface VersionOptions {
  client?: boolean;
  output?: string;
}

/** Checks the flags before any I/O: the output format. */
export function validate(opts: VersionOptions): { format: 'text' | 'json' | 'short' } {
  return { format: parseOutputFormat(opts.output, ['text', 'json', 'short'] as const, 'text') };
}

const command: CommandDefinition = {
  name: 'version',
  summary: 'Print the meshctl client version',
  define(cmd, bind) {
    cmd
      .option('--client', 'print only the client version, without contacting a mesh')
      .option('-o, --output <format>', 'output format: text or json')
      .addHelpText('after', examples(['meshctl version --client', 'meshctl version -o json']));
    bind<VersionOptions>(cmd, async (ctx, _args, opts) => {
      const { format } = validate(opts);
      const client = {
        version: meshctlVersion(),
        nodeVersion: process.versions.node,
        platform: `${process.platform}/${process.arch}`,
      };
      if (format === 'json') ctx.out(toJson({ clientVersion: client }));
      else if (format === 'short') ctx.out(`${client.version}\n`);
      else ctx.out(`client version: ${client.version} (node ${client.nodeVersion}, ${client.platform})\n`);
      return 0;
    });
  },
};
export default command;
