/**
 * The kubelet API's exec (`/exec/NS/POD[/UID]/CONTAINER?command=..&output=1&error=1&input=1`), as
 * the real kubelet serves it over WebSocket (k8s.io/kubelet pkg/cri/streaming/remotecommand): the
 * channel sub-protocols `v4.channel.k8s.io` and `channel.k8s.io` (binary; first byte the channel:
 * 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize), an empty frame on the lowest writable channel
 * once open, then the output as it comes, and on channel 3 a metav1.Status (v4: JSON; Success, or
 * Failure with reason NonZeroExitCode and the code as cause ExitCode). The command enters the
 * container's namespaces as its user with its environment (container-run.ts startExec).
 *
 * What reaches the kubelet (measured with kube-apiserver v1.34, see test/test-cluster/exec.test.ts): a
 * client offering only v4 (meshctl) has its WebSocket passed through as it is; a client offering v5
 * (kubectl 1.30+, client-node's Exec) is answered by the API server itself, which speaks SPDY/3.1 to
 * the kubelet. SPDY is not implemented here: such an upgrade gets a 501 naming the WebSocket way.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { WorkerLookup } from './kubelet-server.js';

/** The sub-protocols served (binary framing only: the base64 variants are for browsers). */
const PROTOCOLS = ['v4.channel.k8s.io', 'channel.k8s.io'];

const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3 } as const;

function refuse(socket: Duplex, status: number, reason: string, text: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

function frame(channel: number, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from([channel]), body]);
}

/** The v4 Status for an exit code. */
export function exitStatus(code: number): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** Serves exec upgrades; `log` records what each upgrade asked for (the measurement above). */
export function execUpgradeHandler(
  lookup: WorkerLookup,
  log: (line: string) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const upgrade = String(req.headers.upgrade ?? '');
    const offered = String(req.headers['sec-websocket-protocol'] ?? '');
    log(`exec upgrade ${url.pathname}: Upgrade: ${upgrade}; offered protocols: ${offered || '-'}`);
    if (parts[0] !== 'exec' || (parts.length !== 4 && parts.length !== 5))
      return refuse(socket, 404, 'Not Found', `${url.pathname}: only exec is served by the test node agent`);
    if (upgrade.toLowerCase() !== 'websocket')
      return refuse(
        socket,
        501,
        'Not Implemented',
        `exec over ${upgrade || 'a plain request'} is not supported by the meshctl test node agent: use a WebSocket client offering ${PROTOCOLS[0]} (the API server passes it through; meshctl's exec does)`,
      );
    const [, namespace = '', name = ''] = parts;
    const containerName = parts[parts.length - 1]!;
    const worker = lookup(namespace, name);
    if (!worker) return refuse(socket, 404, 'Not Found', `pod ${namespace}/${name} is not running on this node`);
    const run = [...worker.inits, ...worker.apps].find((r) => r.name === containerName);
    if (!run) return refuse(socket, 404, 'Not Found', `container ${containerName} is not valid for pod ${name}`);
    const command = url.searchParams.getAll('command');
    if (command.length === 0) return refuse(socket, 400, 'Bad Request', 'you must specify at least 1 command');
    if (url.searchParams.get('tty') === '1')
      return refuse(socket, 501, 'Not Implemented', 'a TTY is not supported by the meshctl test node agent');
    const wantOut = url.searchParams.get('output') === '1';
    const wantErr = url.searchParams.get('error') === '1';
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const status = (s: Record<string, unknown>): void => {
        ws.send(frame(CHANNEL.error, JSON.stringify(s)));
        ws.close(1000);
      };
      // The kubelet's "connection established" signal.
      ws.send(frame(wantOut ? CHANNEL.stdout : wantErr ? CHANNEL.stderr : CHANNEL.error, Buffer.alloc(0)));
      const child = run.startExec(command);
      if (!child) {
        return status({
          metadata: {},
          status: 'Failure',
          message: `container ${containerName} is not running`,
          reason: 'InternalError',
          code: 500,
        });
      }
      child.stdout!.on('data', (d: Buffer) => {
        if (wantOut) ws.send(frame(CHANNEL.stdout, d));
      });
      child.stderr!.on('data', (d: Buffer) => {
        if (wantErr) ws.send(frame(CHANNEL.stderr, d));
      });
      let ended = false;
      child.on('error', (e) => {
        ended = true;
        status({
          metadata: {},
          status: 'Failure',
          message: `error executing command in container: ${e.message}`,
          reason: 'InternalError',
          code: 500,
        });
      });
      child.on('close', (code, signal) => {
        if (ended) return;
        ended = true;
        status(exitStatus(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
      });
      // The client went away: the command goes too (its whole process group).
      ws.on('close', () => {
        if (!ended && child.pid) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      });
      ws.on('error', () => ws.terminate());
    });
  };
}
