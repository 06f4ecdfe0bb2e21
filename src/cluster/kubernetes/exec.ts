/**
 * Running a command in a pod's container through the API server's `pods/exec` subresource, as
 * `kubectl exec` and client-node's Exec do: a WebSocket to `/api/v1/namespaces/NS/pods/POD/exec`
 * speaking the `v4.channel.k8s.io` sub-protocol (binary frames, first byte the channel: 1 stdout,
 * 2 stderr, 3 the closing metav1.Status with the exit code).
 *
 * Why v4 and not v5: v5 adds only closing stdin, which a command without stdin does not need, and
 * v4 is served by every API server (v5 needs 1.30+); the API server passes a v4 WebSocket through
 * to the kubelet as it is, while a v5 one it translates to SPDY towards the kubelet.
 */
import type { IncomingMessage } from 'node:http';
import { KubernetesApiError, PlatformUnavailableError, TimeoutError } from '../../errors.js';
import type { LoadedKubeconfig } from './kubeconfig.js';
import { readBody } from './rest.js';

/** The sub-protocol offered (see above). */
export const EXEC_PROTOCOL = 'v4.channel.k8s.io';

/** Which container to run in. */
export interface ExecTarget {
  namespace: string;
  pod: string;
  container: string;
}

/** What the command did. */
export interface ExecResult {
  /** Exit code (0 when the Status says Success). */
  code: number;
  stdout: string;
  stderr: string;
}

/** The Status the kubelet sends on channel 3 when the command ends. */
interface ExecStatus {
  status?: string;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; type?: string; message?: string }[] };
}

const OUTPUT_LIMIT = 64 << 20;

/** The exit code a Status reports, or undefined when the command did not run (the message says why). */
export function exitCodeOf(status: ExecStatus): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason !== 'NonZeroExitCode') return undefined;
  const cause = status.details?.causes?.find((c) => (c.reason ?? c.type) === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) ? n : undefined;
}

/** Runs `command` (no stdin, no TTY) in the container and collects its output and exit code. */
export async function execInPod(
  config: LoadedKubeconfig,
  target: ExecTarget,
  command: readonly string[],
  opts: { timeoutMs?: number } = {},
): Promise<ExecResult> {
  const { default: WebSocket } = await import('ws');
  const what = `exec in pod ${target.namespace}/${target.pod} (container ${target.container})`;
  const url = new URL(
    `${config.server}/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/exec`,
  );
  for (const c of command) url.searchParams.append('command', c);
  url.searchParams.set('container', target.container);
  url.searchParams.set('stdout', 'true');
  url.searchParams.set('stderr', 'true');
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  // Certificates, tokens and exec plugins of the kubeconfig, as for every other request.
  const tls: Record<string, unknown> = {};
  await config.kc.applyToHTTPSOptions(tls);
  if (url.protocol === 'ws:') delete tls.agent;
  const timeoutMs = opts.timeoutMs ?? 60_000;

  return new Promise<ExecResult>((resolve, reject) => {
    const ws = new WebSocket(url, [EXEC_PROTOCOL], { ...tls, handshakeTimeout: timeoutMs, maxPayload: OUTPUT_LIMIT });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const status: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      finish(() =>
        reject(
          new TimeoutError(`waiting ${timeoutMs} ms for ${what}`, 'is the pod overloaded? retry, or check its logs'),
        ),
      );
      ws.terminate();
    }, timeoutMs);
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      // The API server refused before the upgrade (Forbidden, pod or container not found): a Status object.
      void readBody(res, 1 << 20)
        .catch(() => '')
        .then((text) => {
          let s: ExecStatus = {};
          try {
            s = JSON.parse(text) as ExecStatus;
          } catch {
            // a plain-text answer
          }
          const code = res.statusCode ?? 0;
          finish(() =>
            reject(
              new KubernetesApiError(
                what,
                code,
                s.reason ?? '',
                s.message ?? (text.trim().slice(0, 300) || `HTTP ${code}`),
                code === 403
                  ? `your user needs create on pods/exec in namespace ${target.namespace} (kubectl auth can-i create pods --subresource=exec -n ${target.namespace})`
                  : undefined,
              ),
            ),
          );
          ws.terminate();
        });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length < 1) return;
      size += data.length;
      if (size > OUTPUT_LIMIT) {
        finish(() => reject(new PlatformUnavailableError(`${what}: more than ${OUTPUT_LIMIT} bytes of output`, '')));
        ws.terminate();
        return;
      }
      const body = data.subarray(1);
      if (data[0] === 1) out.push(body);
      else if (data[0] === 2) err.push(body);
      else if (data[0] === 3) status.push(body);
    });
    ws.on('error', (e: NodeJS.ErrnoException) =>
      finish(() =>
        reject(
          new PlatformUnavailableError(
            `${what}: cannot reach the Kubernetes API server ${config.server} (${e.code ?? e.message})`,
            `check that the cluster is running and the context is right: kubectl --context ${config.contextName} cluster-info`,
          ),
        ),
      ),
    );
    ws.on('close', () => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const text = Buffer.concat(status).toString('utf8');
      let s: ExecStatus | undefined;
      try {
        s = text ? (JSON.parse(text) as ExecStatus) : undefined;
      } catch {
        s = undefined;
      }
      const code = s ? exitCodeOf(s) : undefined;
      if (code !== undefined) return finish(() => resolve({ code, stdout, stderr }));
      finish(() =>
        reject(
          new PlatformUnavailableError(
            `${what}: ${s?.message ?? 'the connection closed before the command reported how it ended'}`,
            'check that the container is running: kubectl -n NAMESPACE get pod POD',
          ),
        ),
      );
    });
  });
}
