/** `meshctl uninject`: removes exactly what `meshctl inject` added. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { filenameOption, requireFilenames, runManifestTransform } from './manifest-inputs.js';

interface UninjectFlags {
  filename?: string[];
  output?: string;
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
      const files = requireFilenames(flags.filename, 'uninject');
      const format = parseOutputFormat(flags.output, ['yaml', 'json'] as const, 'yaml');
      const { uninjectObject } = await import('../inject/transform.js');
      return runManifestTransform(ctx, files, format, (obj, source) => uninjectObject(obj, source));
    });
  },
};
export default command;
