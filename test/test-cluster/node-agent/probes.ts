/**
 * Probes and lifecycle handlers as the kubelet runs them: HTTP and TCP from the node (host) to the pod IP,
 * exec inside the container; thresholds, periods, initial delay and timeouts from the probe spec.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { V1ContainerPort, V1LifecycleHandler, V1Probe } from '@kubernetes/client-node';
import type { ExecResult } from './container-process.js';

/** Where a probe or hook reaches the container. */
export interface ProbeTarget {
  podIP: string;
  ports: V1ContainerPort[];
  exec(argv: string[], timeoutMs: number): Promise<ExecResult>;
}

/** Outcome of one probe or hook run. */
export interface HandlerResult {
  ok: boolean;
  message: string;
}

/** The handler part shared by probes and lifecycle hooks. */
type Handler = Pick<V1Probe, 'exec' | 'httpGet' | 'tcpSocket' | 'grpc'> & Pick<V1LifecycleHandler, 'sleep'>;

function resolvePort(port: number | string | undefined, target: ProbeTarget): number {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  const named = target.ports.find((p) => p.name === port);
  if (!named) throw new Error(`port "${port}" is not a container port of this container`);
  return named.containerPort;
}

/** Runs a handler once; `agent` names the caller in an httpGet's User-Agent (hooks: kube-lifecycle). */
export async function runHandler(
  h: Handler,
  target: ProbeTarget,
  timeoutMs: number,
  kubeletVersion: string,
  agent: 'kube-probe' | 'kube-lifecycle' = 'kube-probe',
): Promise<HandlerResult> {
  try {
    if (h.exec) {
      const r = await target.exec(h.exec.command ?? [], timeoutMs);
      return {
        ok: r.code === 0,
        message:
          r.code === 0
            ? ''
            : `command ${JSON.stringify(h.exec.command)} exited with ${r.code}: ${(r.stdout + r.stderr).trim().slice(0, 300)}`,
      };
    }
    if (h.httpGet) {
      const g = h.httpGet;
      const port = resolvePort(g.port, target);
      const scheme = (g.scheme ?? 'HTTP').toUpperCase();
      const host = g.host || target.podIP;
      const headers: Record<string, string> = {
        'User-Agent': `${agent}/${kubeletVersion.replace(/^v/, '').split('.').slice(0, 2).join('.')}`,
        Accept: '*/*',
      };
      for (const hh of g.httpHeaders ?? []) headers[hh.name] = hh.value;
      const status = await new Promise<number>((resolve, reject) => {
        const req = (scheme === 'HTTPS' ? httpsRequest : httpRequest)(
          { host, port, path: g.path || '/', method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
        req.on('error', reject);
        req.end();
      });
      const ok = status >= 200 && status < 400;
      return { ok, message: ok ? '' : `HTTP probe failed with statuscode: ${status}` };
    }
    if (h.tcpSocket) {
      const port = resolvePort(h.tcpSocket.port, target);
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host: h.tcpSocket?.host || target.podIP, port, timeout: timeoutMs });
        s.on('connect', () => {
          s.destroy();
          resolve();
        });
        s.on('timeout', () => s.destroy(new Error(`timeout after ${timeoutMs}ms`)));
        s.on('error', reject);
      });
      return { ok: true, message: '' };
    }
    if (h.sleep) {
      await new Promise((r) => setTimeout(r, h.sleep!.seconds * 1000));
      return { ok: true, message: '' };
    }
    if (h.grpc) return { ok: false, message: 'gRPC probes are not supported by the test node agent' };
    return { ok: false, message: 'probe has no handler' };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}

/** A running probe: calls `onChange` whenever its verdict (per thresholds) changes. */
export class Prober {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  /** The current verdict; undefined until the thresholds decide. */
  verdict: boolean | undefined;
  lastMessage = '';

  private readonly probe: V1Probe;
  private readonly target: ProbeTarget;
  private readonly kubeletVersion: string;
  private readonly onChange: (ok: boolean, message: string) => void;

  constructor(
    probe: V1Probe,
    target: ProbeTarget,
    kubeletVersion: string,
    onChange: (ok: boolean, message: string) => void,
  ) {
    this.probe = probe;
    this.target = target;
    this.kubeletVersion = kubeletVersion;
    this.onChange = onChange;
  }

  start(): void {
    this.timer = setTimeout(() => void this.tick(), (this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const r = await runHandler(this.probe, this.target, (this.probe.timeoutSeconds ?? 1) * 1000, this.kubeletVersion);
    if (this.stopped) return;
    this.lastMessage = r.message;
    if (r.ok) {
      this.successes++;
      this.failures = 0;
      if (this.successes >= (this.probe.successThreshold ?? 1) && this.verdict !== true) {
        this.verdict = true;
        this.onChange(true, '');
      }
    } else {
      this.failures++;
      this.successes = 0;
      if (this.failures >= (this.probe.failureThreshold ?? 3) && this.verdict !== false) {
        this.verdict = false;
        this.onChange(false, r.message);
      }
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), (this.probe.periodSeconds ?? 10) * 1000);
  }
}
