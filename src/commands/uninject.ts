/** `meshctl uninject`: removes exactly what `meshctl inject` added. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { filenameOption, requireFilenames, runManifestTransform } from './manifest-inputs.js';

/** The flags of `meshctl uninject`. */
export interface UninjectFlags {
  filename?: string[];
  output?: string;
}

/** Checks the flags before any I/O: at least one -f, and the output format. */
export function validate(flags: UninjectFlags): { files: string[]; format: 'yaml' | 'json' } {
  const files = requireFilenames(flags.filename, 'uninject');
  return { files, format: parseOutputFormat(flags.output, ['yaml', 'json'] as const, 'yaml') };
}

const command: CommandDefinition = {
  name: 'uninject',
  summary: 'Remove the meshctl sidecar proxy from workloads in Kubernetes manifests',
  define(cmd, bind) {
    filenameOption(cmd)
      .option('-o, --output <format>', 'output format: yaml or json', 'yaml')
      .addHelpText(
        'after',
        examples([
          'kubectl get deploy web -o yaml | meshctl uninject -f - | kubectl apply -f -',
          'meshctl uninject -f injected.yaml > original.yaml',
        ]),
      );
    bind<UninjectFlags>(cmd, async (ctx, _args, flags) => {
      const { files, format } = validate(flags);
      const { uninjectObject } = await import('../inject/transform.js');
      return runManifestTransform(ctx, files, format, (obj, source) => uninjectObject(obj, source));
    });
  },
};
export default command;
