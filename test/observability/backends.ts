/**
 * The real telemetry backends of the observability tests, started and stopped by them: Prometheus
 * (scraping static targets on loopback) and Jaeger v2 (OTLP/HTTP and Zipkin receivers, in-memory
 * storage, query API), both built from the Go module proxy by test/observability/build.sh.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Requirement } from '../support/requirements.js';

function versions(): Record<string, string> {
  const text = readFileSync(new URL('./versions.env', import.meta.url), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Where build.sh puts the binaries. */
export function observabilityBinDir(): string {
  if (process.env.MESHCTL_OBSERVABILITY_BIN_DIR) return process.env.MESHCTL_OBSERVABILITY_BIN_DIR;
  const v = versions();
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(
    cache,
    'meshctl',
    `observability-prometheus-${v.PROMETHEUS_MODULE_VERSION}-jaeger-${v.JAEGER_MODULE_VERSION}`,
  );
}

/** Prometheus and Jaeger are built. */
export const observabilityBinaries: Requirement = {
  name: 'Prometheus and Jaeger test binaries',
  met: () => existsSync(join(observabilityBinDir(), '.complete')),
  howToMeet: 'run bash test/observability/build.sh (cold: ~7-15 min on 2 cores, then cached)',
};

export { freePort } from '../support/ports.js';
import { freePort } from '../support/ports.js';

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  child: ChildProcess,
  output: () => string,
  tries = 600,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (child.exitCode !== null) throw new Error(`${what}: the process exited (${child.exitCode}):\n${output()}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} never became ready:\n${output()}`);
}

function startProcess(bin: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(join(observabilityBinDir(), bin), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => out };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A result of Prometheus's HTTP API. */
export interface PromSample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

/** A running Prometheus. */
export interface RunningPrometheus {
  readonly url: string;
  /** An instant query. */
  query(expr: string): Promise<PromSample[]>;
  /** A range query. */
  queryRange(expr: string, startSec: number, endSec: number, stepSec: number): Promise<PromSample[]>;
  /** GET on the HTTP API, parsed `data`. */
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `jobs` (job name -> targets host:port and metrics path) every second. */
export async function startPrometheus(
  jobs: { name: string; targets: string[]; path: string }[],
): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'meshctl-prometheus-'));
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: jobs.map((j) => ({
      job_name: j.name,
      metrics_path: j.path,
      static_configs: [{ targets: j.targets }],
    })),
  };
  await writeFile(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const { child, output } = startProcess('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopProcess(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('prometheus', async () => (await fetch(`${url}/-/ready`)).ok, child, output);
  } catch (err) {
    await stop();
    throw err;
  }
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${url}${path}`);
    const body = (await r.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  return {
    url,
    api,
    query: async (expr) =>
      (await api<{ result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    queryRange: async (expr, start, end, step) =>
      (
        await api<{ result: PromSample[] }>(
          `/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${start}&end=${end}&step=${step}`,
        )
      ).result,
    stop,
  };
}

/** A running Jaeger v2. */
export interface RunningJaeger {
  /** host:port of the OTLP/HTTP receiver (POST /v1/traces). */
  readonly otlpAddress: string;
  /** host:port of the Zipkin receiver (POST /api/v2/spans). */
  readonly zipkinAddress: string;
  /** Base URL of the query API (/api/traces/ID, /api/services). */
  readonly queryUrl: string;
  stop(): Promise<void>;
  /** Starts it again on the same ports (after a stop). */
  restart(): Promise<void>;
}

/**
 * Starts Jaeger v2 with in-memory storage, receiving OTLP/HTTP and Zipkin on free ports of `receiverHost`
 * (default loopback; a test cluster's host address lets its pods reach it), its query API on loopback.
 */
export async function startJaeger(receiverHost = '127.0.0.1'): Promise<RunningJaeger> {
  const dir = await mkdtemp(join(tmpdir(), 'meshctl-jaeger-'));
  const [otlp, zipkin, query, health] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = {
    service: {
      extensions: ['jaeger_storage', 'jaeger_query', 'healthcheckv2'],
      pipelines: {
        traces: { receivers: ['otlp', 'zipkin'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
      },
      telemetry: { logs: { level: 'warn' }, metrics: { level: 'none' } },
    },
    extensions: {
      healthcheckv2: { use_v2: true, http: { endpoint: `127.0.0.1:${health}` } },
      jaeger_query: {
        storage: { traces: 'memstore' },
        http: { endpoint: `127.0.0.1:${query}` },
        grpc: { endpoint: `127.0.0.1:${await freePort()}` },
      },
      jaeger_storage: { backends: { memstore: { memory: { max_traces: 100000 } } } },
    },
    receivers: {
      otlp: { protocols: { http: { endpoint: `${receiverHost}:${otlp}` } } },
      zipkin: { endpoint: `${receiverHost}:${zipkin}` },
    },
    processors: { batch: { timeout: '100ms' } },
    exporters: { jaeger_storage_exporter: { trace_storage: 'memstore' } },
  };
  await writeFile(join(dir, 'config.yaml'), stringify(config));
  let running: { child: ChildProcess; output: () => string } | undefined;
  const queryUrl = `http://127.0.0.1:${query}`;
  const start = async () => {
    running = startProcess('jaeger', ['--config', join(dir, 'config.yaml')]);
    await waitFor(
      'jaeger',
      async () => (await fetch(`${queryUrl}/api/services`)).ok && (await fetch(`http://127.0.0.1:${health}/status`)).ok,
      running.child,
      running.output,
    );
  };
  const stopOnly = async () => {
    if (running) await stopProcess(running.child);
    running = undefined;
  };
  try {
    await start();
  } catch (err) {
    await stopOnly();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    otlpAddress: `${receiverHost}:${otlp}`,
    zipkinAddress: `${receiverHost}:${zipkin}`,
    queryUrl,
    stop: stopOnly,
    restart: start,
  };
}
