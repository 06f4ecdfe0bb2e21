/** `meshctl uninject`: removes exactly what `meshctl inject` added. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { filenameOption, requireFilenames } from './manifest-inputs.js';
import { meshctlVersion } from '../version.js';

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
      const inject = await import('../inject/index.js');
      const { readSources } = await import('../config/sources.js');
      const { renderRefusals, renderReport } = await import('../inject/render-report.js');
      const sources = await readSources(files, { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
      const result = inject.transformManifests(sources, (obj, source) => inject.uninjectObject(obj, source), format);
      if (result.refused.length > 0) {
        ctx.err(renderRefusals(result.refused, ctx.errStyle));
        return 1;
      }
      ctx.out(inject.joinDocuments(result.documents, format));
      ctx.err(renderReport(result.entries, ctx.errStyle, meshctlVersion()));
      return 0;
    });
  },
};
export default command;
