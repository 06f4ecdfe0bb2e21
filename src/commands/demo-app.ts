/** `meshctl demo-app`: one service of the demo application (what the demo's workloads run). */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { UsageError } from '../errors.js';
import { whenAborted } from '../context.js';

interface DemoAppFlags {
  service?: string;
  version: string;
  port: string;
  host?: string;
  calls?: string;
  failStatus?: string;
}

const command: CommandDefinition = {
  name: 'demo-app',
  summary: 'Run one service of the demo application (used by meshctl demo and templates/demo)',
  define(cmd, bind) {
    cmd
      .option('--service <name>', 'the service this instance is (productpage, details, reviews, ratings)')
      .option('--version <v>', 'its version label, reported in every answer', 'v1')
      .option('--port <port>', 'port to listen on', '9080')
      .option('--host <address>', 'address to listen on', '0.0.0.0')
      .option('--calls <list>', 'comma-separated services to call on every request, e.g. details,reviews')
      .option(
        '--fail-status <code>',
        'answer every request with this HTTP status (to demonstrate retries and ejection)',
      )
      .addHelpText(
        'after',
        examples(['meshctl demo-app --service reviews --version v2 --calls ratings', 'curl localhost:9080/']),
      );
    bind<DemoAppFlags>(cmd, async (ctx, _args, flags) => {
      if (!flags.service) throw new UsageError('demo-app needs --service', 'for example --service reviews');
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError(`--port ${flags.port}: not a port number`);
      const failStatus = flags.failStatus === undefined ? undefined : Number(flags.failStatus);
      if (failStatus !== undefined && !(failStatus >= 100 && failStatus <= 599))
        throw new UsageError(`--fail-status ${flags.failStatus}: not an HTTP status`);
      const { startDemoApp } = await import('../demo/app.js');
      const server = await startDemoApp({
        service: flags.service,
        version: flags.version,
        port,
        host: flags.host,
        calls: (flags.calls ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        failStatus,
        httpProxy: ctx.io.env.HTTP_PROXY ?? ctx.io.env.http_proxy,
        podName: ctx.io.env.MESH_POD_NAME ?? ctx.io.env.POD_NAME,
      });
      const address = server.address();
      ctx.err(
        `demo-app ${flags.service} ${flags.version} listening on ${typeof address === 'object' && address ? `${address.address}:${address.port}` : port}\n`,
      );
      await new Promise<void>((resolve) => {
        whenAborted(ctx.signal, () => server.close(() => resolve()));
      });
      return 0;
    });
  },
};
export default command;
