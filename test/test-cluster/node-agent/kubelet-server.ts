/**
 * The part of the kubelet's HTTPS API the API server proxies: /containerLogs with follow, previous,
 * tailLines and limitBytes (`kubectl logs`), and exec over WebSocket (exec-server.ts: pods/exec with
 * `v4.channel.k8s.io`). attach and port-forward answer 501.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { ContainerRun } from './container-run.js';
import type { PodWorker } from './pod-worker.js';
import { execUpgradeHandler } from './exec-server.js';

/** Finds a running pod's worker by namespace and name. */
export type WorkerLookup = (namespace: string, name: string) => PodWorker | undefined;

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
}

function tail(text: string, lines: number): string {
  const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  return all.slice(-lines).join('\n') + (all.length > 0 && text.length > 0 ? '\n' : '');
}

/** Streams a growing log file until the container's current run ends or the client goes away. */
function follow(res: ServerResponse, file: string, from: number, run: ContainerRun, restartCount: number): void {
  let offset = from;
  const timer = setInterval(() => {
    if (existsSync(file)) {
      const size = statSync(file).size;
      if (size > offset) {
        const fd = openSync(file, 'r');
        const buf = Buffer.alloc(size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        closeSync(fd);
        offset = size;
        res.write(buf);
      }
    }
    if (!run.running || run.restartCount !== restartCount) {
      clearInterval(timer);
      res.end();
    }
  }, 200);
  res.on('close', () => clearInterval(timer));
}

/** Starts the kubelet API on `host` (port chosen by the OS); resolves with the server once listening. */
export async function startKubeletServer(
  host: string,
  tls: { cert: string; key: string },
  lookup: WorkerLookup,
  log: (line: string) => void = () => undefined,
): Promise<Server> {
  const server = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'healthz') return send(res, 200, 'ok');
    if (parts[0] !== 'containerLogs')
      return send(
        res,
        501,
        parts[0] === 'exec'
          ? 'exec is served as a WebSocket upgrade only (v4.channel.k8s.io)'
          : `${parts[0] ?? '/'} is not supported by the meshctl test node agent (only containerLogs and exec are)`,
      );
    const [, namespace = '', name = '', containerName] = parts;
    const worker = lookup(namespace, name);
    if (!worker) return send(res, 404, `pod ${namespace}/${name} is not running on this node`);
    const runs = [...worker.inits, ...worker.apps];
    const run = containerName ? runs.find((r) => r.name === containerName) : worker.apps[0];
    if (!run) return send(res, 404, `container ${containerName} is not valid for pod ${name}`);
    const previous = url.searchParams.get('previous') === 'true';
    const restart = previous ? run.restartCount - 1 : run.restartCount;
    const file = join(worker.podDir, 'logs', run.name, `${restart}.log`);
    if (restart < 0 || !existsSync(file)) {
      return send(
        res,
        previous ? 400 : 404,
        previous
          ? `previous terminated container "${run.name}" in pod "${name}" not found`
          : `container "${run.name}" in pod "${name}" has not started`,
      );
    }
    let text = readFileSync(file, 'utf8');
    const tailLines = url.searchParams.get('tailLines');
    if (tailLines !== null) text = tail(text, Number(tailLines));
    const limit = url.searchParams.get('limitBytes');
    if (limit !== null) text = text.slice(0, Number(limit));
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(text);
    if (url.searchParams.get('follow') === 'true' && !previous && run.running)
      follow(res, file, statSync(file).size, run, run.restartCount);
    else res.end();
  });
  server.on('upgrade', execUpgradeHandler(lookup, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return server;
}
