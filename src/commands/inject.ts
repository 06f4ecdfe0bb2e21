/** `meshctl inject`: adds the sidecar proxy to every workload in the given manifests. */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { collect, filenameOption, requireFilenames, runManifestTransform } from './manifest-inputs.js';
import { UsageError } from '../errors.js';
import { defaultProxyImage, meshctlVersion } from '../version.js';

interface InjectFlags {
  filename?: string[];
  output?: string;
  proxyImage?: string;
  nativeSidecar?: string | boolean;
  set?: string[];
}

function parseNative(v: string | boolean | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === true || v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`--native-sidecar=${String(v)}: expected true or false`);
}

const command: CommandDefinition = {
  name: 'inject',
  summary: 'Add the meshctl sidecar proxy to workloads in Kubernetes manifests',
  define(cmd, bind) {
    filenameOption(cmd)
      .option('-o, --output <format>', 'output format: yaml or json', 'yaml')
      .option('--proxy-image <image>', `proxy image (default ${defaultProxyImage()})`)
      .option(
        '--native-sidecar [bool]',
        'inject the proxy as a native sidecar (Kubernetes >= 1.29); --native-sidecar=false for a classic sidecar container',
      )
      .option(
        '--set <key=value>',
        'override a setting (repeatable): proxy.resources.requests.cpu=50m, proxy.logLevel=debug, ...',
        collect,
        [],
      )
      .addHelpText(
        'after',
        examples([
          '# Inject a manifest and apply it',
          'meshctl inject -f app.yaml | kubectl apply -f -',
          '',
          '# Inject what is running in a namespace',
          'kubectl get deploy -n shop -o yaml | meshctl inject -f - | kubectl apply -f -',
          '',
          '# A directory, with a classic sidecar for clusters older than 1.29',
          'meshctl inject -f k8s/ --native-sidecar=false',
          '',
          'Objects without a pod template pass through unchanged. The report goes to stderr.',
          'Per-pod overrides: annotations meshctl.dev/proxy-cpu-request, meshctl.dev/proxy-memory-limit, ...;',
          'opt out with meshctl.dev/inject: disabled.',
        ]),
      );
    bind<InjectFlags>(cmd, async (ctx, _args, flags) => {
      // validate: flags only, no I/O
      const files = requireFilenames(flags.filename, 'inject');
      const format = parseOutputFormat(flags.output, ['yaml', 'json'] as const, 'yaml');
      const native = parseNative(flags.nativeSidecar);
      const inject = await import('../inject/index.js');
      let options = inject.defaultInjectOptions(meshctlVersion(), flags.proxyImage ?? defaultProxyImage());
      options = inject.applySettings(options, flags.set ?? []);
      if (native !== undefined) options.nativeSidecar = native;
      if (flags.proxyImage) options.proxyImage = flags.proxyImage;

      // run
      return runManifestTransform(ctx, files, format, (obj, source, locate) =>
        inject.injectObject(obj, options, source, locate),
      );
    });
  },
};
export default command;
