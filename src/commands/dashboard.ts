/**
 * `meshctl dashboard [--prometheus URL] [--port P]`: serves, on loopback, meshctl's renderer of the
 * Grafana dashboards it ships (templates/dashboards), drawing each panel from a Prometheus that
 * scrapes the mesh, as `linkerd viz dashboard` serves its own UI. It runs until interrupted.
 */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { UsageError } from '../errors.js';
import { whenAborted } from '../context.js';

interface DashboardOptions {
  prometheus?: string;
  port?: string;
}

/** The checked options. */
export interface DashboardSettings {
  prometheus: string;
  port: number;
}

/** Checks the flags (pure). */
export function validate(opts: DashboardOptions): DashboardSettings {
  const prometheus = opts.prometheus ?? 'http://127.0.0.1:9090';
  let url: URL;
  try {
    url = new URL(prometheus);
  } catch {
    throw new UsageError(`--prometheus ${prometheus}: not a URL`, 'give the base URL, e.g. http://127.0.0.1:9090');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--prometheus ${prometheus}: only http:// or https://`, 'e.g. http://127.0.0.1:9090');
  const port = Number(opts.port ?? '15680');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port ${opts.port}: not a port`, 'a number from 0 (any free port) to 65535');
  return { prometheus: url.toString(), port };
}

const command: CommandDefinition = {
  name: 'dashboard',
  summary: "Serve the mesh dashboards (meshctl's renderer of its Grafana dashboards) on localhost",
  define(cmd, bind) {
    cmd
      .option('--prometheus <url>', 'the Prometheus that scrapes the mesh (default http://127.0.0.1:9090)')
      .option('--port <port>', 'local port to serve on, on 127.0.0.1 only (default 15680; 0 picks a free one)')
      .addHelpText(
        'after',
        examples([
          'meshctl dashboard',
          'meshctl dashboard --prometheus http://127.0.0.1:9090 --port 0',
          'kubectl -n monitoring port-forward svc/prometheus 9090 & meshctl dashboard',
        ]),
      );
    bind<DashboardOptions>(cmd, async (ctx, _args, opts) => {
      const settings = validate(opts);
      const { startDashboardServer } = await import('../dashboard/server.js');
      const server = await startDashboardServer(settings);
      ctx.out(
        `Dashboards at ${server.url} (reading ${settings.prometheus}): mesh, service, workload, control plane.\n` +
          `Press Ctrl+C to stop.\n`,
      );
      await new Promise<void>((resolve) => whenAborted(ctx.signal, resolve));
      await server.close();
      return 0;
    });
  },
};
export default command;
