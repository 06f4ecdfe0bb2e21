/**
 * `meshctl proxy request METHOD PATH [-d JSON]`: one request to the proxy's admin API on 127.0.0.1,
 * made inside the proxy's own container, as Istio's `pilot-agent request` is. A POST carries the
 * admin token read from the proxy's token file, so the token never leaves the pod and is never
 * printed. This is what `meshctl proxy-config log` and `proxy-status` run through the API server's
 * pods/exec on Kubernetes (`kubectl exec POD -c mesh-proxy -- meshctl proxy request ...` alike).
 * The answer's body goes to stdout; a non-2xx answer also exits 1 with the status on stderr.
 */
import type { Command } from 'commander';
import type { BindAction } from './command.js';
import { examples } from './command.js';
import type { CliContext } from '../context.js';
import { PlatformUnavailableError, UsageError } from '../errors.js';
import { ADMIN_TOKEN_FILE, ProxyEnv, ProxyMounts, ProxyPorts } from '../protocol/well-known.js';

interface RequestFlags {
  data?: string;
  adminPort: string;
  tokenFile?: string;
}

/** A checked request, after validate(). */
export interface AdminRequest {
  readonly method: 'GET' | 'POST';
  /** Path and query on the admin API, starting with `/`. */
  readonly path: string;
  readonly body?: string;
  readonly port: number;
  /** Read for a POST only. */
  readonly tokenFile: string;
}

/** Where the injected sidecar writes its token: the identity volume (`$MESH_CERTS_DIR/admin-token`). */
export function podAdminTokenFile(env: NodeJS.ProcessEnv): string {
  return `${env[ProxyEnv.certsDir] || ProxyMounts.certsDir}/${ADMIN_TOKEN_FILE}`;
}

/** Checks the arguments before any I/O: the method, a path on the admin API (never a URL), the body, the port. */
export function validate(method: string, path: string, flags: RequestFlags, env: NodeJS.ProcessEnv): AdminRequest {
  const m = method.toUpperCase();
  if (m !== 'GET' && m !== 'POST') throw new UsageError(`method ${method}: the admin API serves GET and POST only`);
  // Istio's form (`logging?level=debug`) is accepted too; a scheme, host or `//` is not: the request stays on 127.0.0.1.
  const p = path.startsWith('/') ? path : `/${path}`;
  if (p.startsWith('//') || /[\s#\\]/.test(p) || /^\/?[a-z][a-z0-9+.-]*:/i.test(path))
    throw new UsageError(`path ${path}: not a path on the admin API`, 'give a path such as /logging?level=debug');
  if (flags.data !== undefined) {
    if (m !== 'POST') throw new UsageError('--data goes with POST only');
    try {
      JSON.parse(flags.data);
    } catch (err) {
      throw new UsageError(`--data: not JSON (${(err as Error).message})`, 'the admin API reads JSON bodies only');
    }
  }
  const port = Number(flags.adminPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`--admin-port ${flags.adminPort}: not a port`, 'give a number from 1 to 65535');
  return {
    method: m,
    path: p,
    ...(flags.data !== undefined ? { body: flags.data } : {}),
    port,
    tokenFile: flags.tokenFile ?? podAdminTokenFile(env),
  };
}

/** Sends the request; prints the body; exit 0 on 2xx, else 1 (the status on stderr). */
export async function run(ctx: CliContext, req: AdminRequest): Promise<number> {
  const headers: Record<string, string> = {};
  if (req.method === 'POST') {
    const { readFile } = await import('node:fs/promises');
    let token: string;
    try {
      token = (await readFile(req.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new PlatformUnavailableError(
        `cannot read the proxy's admin token ${req.tokenFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        'run this in the proxy container, as the proxy user (kubectl exec POD -c mesh-proxy -- ...), or pass --token-file',
      );
    }
    headers.authorization = `Bearer ${token}`;
    headers['content-type'] = 'application/json';
  }
  const { request } = await import('node:http');
  const answer = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const r = request(
      { host: '127.0.0.1', port: req.port, method: req.method, path: req.path, headers, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error('no answer within 30 s')));
    r.on('error', reject);
    r.end(req.body);
  }).catch((err: NodeJS.ErrnoException) => {
    throw new PlatformUnavailableError(
      `the proxy's admin API does not answer on 127.0.0.1:${req.port} (${err.code ?? err.message})`,
      'is the proxy running in this container? (its admin port is 15000 unless --admin-port says otherwise)',
    );
  });
  ctx.out(answer.body.toString('utf8'));
  if (answer.status >= 200 && answer.status < 300) return 0;
  ctx.err(`${req.method} ${req.path.split('?')[0]}: the admin API answered ${answer.status}\n`);
  return 1;
}

/** Declares `request` under the `proxy` command. */
export function defineProxyRequest(parent: Command, bind: BindAction): Command {
  const cmd = parent
    .command('request')
    .description(
      "Send one request to this container's proxy admin API (POST carries the admin token from the pod's token file)",
    )
    .argument('<method>', 'GET or POST')
    .argument('<path>', 'path on the admin API, e.g. /logging?level=debug or /config_hash')
    .option('-d, --data <json>', 'JSON body of a POST (e.g. a proxy config for POST /config)')
    .option('--admin-port <port>', 'admin API port on 127.0.0.1', String(ProxyPorts.admin))
    .option('--token-file <path>', `admin token file (default: $${ProxyEnv.certsDir}/${ADMIN_TOKEN_FILE})`)
    .addHelpText(
      'after',
      examples([
        'meshctl proxy request GET /config_hash',
        'meshctl proxy request POST "/logging?level=debug"',
        'kubectl exec POD -c mesh-proxy -- node /opt/meshctl/bin/meshctl proxy request GET /logging',
      ]),
    );
  bind<RequestFlags>(cmd, (ctx, args, flags) => run(ctx, validate(args[0] ?? '', args[1] ?? '', flags, ctx.io.env)));
  return cmd;
}
