/**
 * The proxy benchmark driver (run through run.sh). Starts a 1 KB nginx backend, the proxies under
 * test, measures each with wrk (saturation) and fortio (fixed rate), samples CPU and peak RSS of
 * the proxy processes from /proc, prints a table and writes JSON to bench/results/.
 * Besides the issue's rows, the same run measures the proxy with its HTTP/1.1 fast path off
 * (node:http + undici, the path the fast path replaced), a raw TCP splice in Node (the ceiling of
 * any Node proxy on this machine), and two hops with HTTP/1.1 carried over h2 between the sidecars:
 * ratios measured in one run stay comparable when the machine is busy.
 * Ports 18081-18099 on 127.0.0.1 are used.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
// The sidecar's launcher flags (run.sh builds dist/ first), so the benchmark measures the proxy as it is deployed.
const { SIDECAR_NODE_FLAGS } = (await import(resolve('dist/protocol/well-known.js'))) as {
  SIDECAR_NODE_FLAGS: readonly string[];
};

const DURATION = process.env.DURATION ?? '5s';
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
const RATE = Number(process.env.RATE ?? 1000);
/** Only rows whose name contains one of these (comma-separated, case-insensitive); all rows when unset. */
const SCENARIOS = (process.env.SCENARIOS ?? '')
  .split(',')
  .map((s) => s.trim().toLowerCase())
  .filter(Boolean);
/** How many times each budgeted comparison alternates its rows (A B A B ...); 0 skips the comparisons. */
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const FORTIO = process.env.FORTIO ?? 'fortio';
/** Only the comparisons whose row name contains one of these (comma-separated, case-insensitive), e.g. `COMPARE=100%`. */
const COMPARE = (process.env.COMPARE ?? '')
  .split(',')
  .map((s) => s.trim().toLowerCase())
  .filter(Boolean);
/**
 * A directory: every meshctl proxy runs under `node --cpu-prof` and writes `<process name>.cpuprofile` there when
 * the bench stops it (open in Chrome DevTools or speedscope). The profiler costs CPU: use it to find work, not to judge budgets.
 */
const CPU_PROF = process.env.CPU_PROF ? resolve(process.env.CPU_PROF) : undefined;
/**
 * Another checkout (built) whose proxy the twin runs: the twin control then compares two builds over the same
 * alternating rounds, e.g. `TWIN_BUILD=/work/wt/base SCENARIOS="meshctl (1 process)" ROUNDS=21` (before and after a
 * change to the proxy, in one run: single runs of two builds differ by their process as much as by their code).
 */
const TWIN_BUILD = process.env.TWIN_BUILD ? resolve(process.env.TWIN_BUILD) : undefined;
const NODE = resolve('node_modules/.bin/node');
const work = mkdtempSync(join(tmpdir(), 'meshctl-bench-'));
const children: ChildProcess[] = [];
const BODY = 'x'.repeat(1024);

const P = {
  backend: 18081,
  nginx: 18082,
  haproxy: 18083,
  meshctl: 18084,
  nginxHop1: 18085,
  nginxHop2: 18086,
  meshHop1: 18087,
  meshHop2: 18088,
  splice: 18090,
  meshAuthzHop1: 18093,
  meshAuthzHop2: 18094,
  nginxIngress: 18095,
  meshGateway: 18096,
  meshTrace1: 18097,
  meshTrace100: 18098,
  zipkinSink: 18099,
  /** the proxy whose config the same-process comparisons swap (its admin API on meshSwapAdmin) */
  meshSwap: 18089,
  meshSwapAdmin: 18091,
  /** a second process with the single-hop config: the A/A control of the comparisons between processes */
  meshTwin: 18092,
};

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function start(name: string, cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  c.on('exit', (code) => {
    if (code && code !== 0 && !stopping) process.stderr.write(`${name} exited with ${code}: ${err}\n`);
  });
  children.push(c);
  return c;
}

let stopping = false;
function stopAll(): void {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

async function waitFor(url: string, ms = 15000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const r = await fetch(url, { headers: { host: 'backend' } });
      if (r.status === 200) {
        await r.arrayBuffer();
        return;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready: ${url}`);
}

/** Waits until a TLS listener completes a handshake (fetch would refuse the bench CA). */
async function waitForTls(port: number, ms = 15000): Promise<void> {
  const { connect } = await import('node:tls');
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready: TLS on ${port}`);
}

/**
 * CPU seconds of the processes named: the sum over their threads of the scheduler's run time
 * (/proc/PID/task/TID/schedstat, nanoseconds), so a 5 s run is measured to far better than the 10 ms
 * clock tick of /proc/PID/stat (used when schedstat is missing). Threads are long-lived in these proxies.
 */
function cpuSeconds(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`))
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
    } catch {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / 100;
    }
  }
  return total;
}

function peakRssMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    kb += Number(m?.[1] ?? 0);
  }
  return kb / 1024;
}

function childPids(pid: number): number[] {
  try {
    return sh('pgrep', ['-P', String(pid)])
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

interface Wrk {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  requests: number;
  errors: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

function wrk(url: string): Wrk {
  const out = sh('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}`, '--latency', '-H', 'Host: backend', url]);
  const pct = (p: string) => toMs(new RegExp(`\\s${p}%\\s+(\\S+)`).exec(out)?.[1] ?? '');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(errs?.[1] ?? 0) + (sockErr ? sockErr.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: pct('50'),
    p90: pct('90'),
    p99: pct('99'),
    requests,
    errors,
  };
}

interface Fixed {
  p50: number;
  p90: number;
  p99: number;
  qps: number;
}

function fortio(url: string): Fixed | undefined {
  if (!existsSync(FORTIO) && FORTIO !== 'fortio') return undefined;
  const json = join(work, `fortio-${Date.now()}.json`);
  try {
    sh(FORTIO, [
      'load',
      '-k',
      '-qps',
      String(RATE),
      '-c',
      '8',
      '-t',
      DURATION,
      '-p',
      '50,90,99',
      '-H',
      'Host: backend',
      '-json',
      json,
      '-quiet',
      url,
    ]);
  } catch {
    return undefined;
  }
  const r = JSON.parse(readFileSync(json, 'utf8')) as {
    ActualQPS: number;
    DurationHistogram: { Percentiles: { Percentile: number; Value: number }[] };
  };
  const p = (n: number) => (r.DurationHistogram.Percentiles.find((x) => x.Percentile === n)?.Value ?? NaN) * 1000;
  return { p50: p(50), p90: p(90), p99: p(99), qps: r.ActualQPS };
}

function nginxConf(name: string, server: string): string {
  const file = join(work, `${name}.conf`);
  writeFileSync(
    file,
    `worker_processes 1; daemon off; pid ${work}/${name}.pid; error_log ${work}/${name}.err warn;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; ${server} }\n`,
  );
  return file;
}

function certs(): Record<string, string> {
  const d = join(work, 'pki');
  mkdirSync(d);
  const o = (args: string[]) => sh('openssl', args);
  o([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${d}/ca.key`,
    '-out',
    `${d}/ca.pem`,
    '-days',
    '1',
    '-subj',
    '/CN=bench CA',
  ]);
  for (const who of ['client', 'server']) {
    const ext = `${d}/${who}.ext`;
    writeFileSync(
      ext,
      `subjectAltName=URI:spiffe://cluster.local/ns/bench/sa/${who},DNS:${who}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    o([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${d}/${who}.key`,
      '-out',
      `${d}/${who}.csr`,
      '-subj',
      `/CN=${who}`,
    ]);
    o([
      'x509',
      '-req',
      '-in',
      `${d}/${who}.csr`,
      '-CA',
      `${d}/ca.pem`,
      '-CAkey',
      `${d}/ca.key`,
      '-CAcreateserial',
      '-out',
      `${d}/${who}.pem`,
      '-days',
      '1',
      '-extfile',
      ext,
    ]);
  }
  return { dir: d };
}

function meshctlConfig(file: string, cfg: unknown): string {
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

interface Row {
  scenario: string;
  name: string;
  pids: () => number[];
  url: string;
  /** measured only by the comparisons, not in the table */
  comparisonOnly?: boolean;
}

interface Result {
  scenario: string;
  name: string;
  rps: number;
  wrkP50: number;
  wrkP99: number;
  errors: number;
  fixed?: Fixed;
  addedP50?: number;
  addedP90?: number;
  addedP99?: number;
  cpuPer1000: number;
  /** CPU microseconds per request (the same as cpuPer1000 x 1000, kept for its digits) */
  cpuUsPerReq: number;
  peakRssMb: number;
}

/**
 * A budget: the CPU per request of `row` against `base`, measured alternately ROUNDS times in the same run so
 * machine load falls on both alike; the median of the per-round ratios is judged against `limit` (fraction).
 * Without `limit` the pair is a control: two identical sides, whose spread is the method's noise floor.
 */
interface Budget {
  base: string;
  row: string;
  limit?: number;
  issue?: string;
}

/** Budgets between two proxy processes (rows of the table). */
const BUDGETS: Budget[] = [
  { base: 'meshctl (1 process)', row: 'meshctl (1 process) twin' },
  { base: 'meshctl -> meshctl (mTLS)', row: 'meshctl -> meshctl, 10-rule policy', limit: 0.05, issue: '15' },
];

/**
 * Budgets measured in one proxy process whose config is swapped through its admin API (POST /config) before each
 * side's run: the sides then differ only in their config, not in their process (two processes with the same config
 * differ by a few percent, as the twin control shows: as much as the whole tracing-1% budget).
 */
const SWAP_BUDGETS: Budget[] = [
  { base: 'tracing off', row: 'tracing off (again)' },
  { base: 'tracing off', row: 'tracing 1%', limit: 0.03, issue: '19' },
  { base: 'tracing off', row: 'tracing 100%', limit: 0.15, issue: '19' },
];

const compared = (b: Budget): boolean =>
  COMPARE.length === 0 || COMPARE.some((c) => b.row.toLowerCase().includes(c) || b.base.toLowerCase().includes(c));

interface Comparison extends Budget {
  /** how the sides were run: two processes, or one process with swapped config */
  method: 'processes' | 'swapped config';
  /** CPU microseconds per request of each round, base and row */
  baseUs: number[];
  rowUs: number[];
  ratios: number[];
  medianRatio: number;
  /** the rows' summed CPU over the bases' (a second view of the same rounds: a few wild rounds move it, not the median) */
  meanRatio: number;
  /** spans the proxy dropped during the row's runs: a budget is only met with none (dropping is cheaper than exporting) */
  spansDropped?: number;
  spansExported?: number;
  /** undefined for a control pair */
  pass?: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU microseconds per request of one wrk run at saturation against a row. */
function cpuPerRequest(row: Row): number {
  const pids = row.pids();
  const cpu0 = cpuSeconds(pids);
  const w = wrk(row.url);
  return ((cpuSeconds(pids) - cpu0) / w.requests) * 1e6;
}

/**
 * Runs `measure(budget, side)` for both sides of every budget ROUNDS times: the budgets take turns within each round
 * and the order of the sides flips every round, so a slow minute of the machine falls on every pair alike and their
 * controls show the noise of the same minutes.
 */
async function alternate(
  budgets: Budget[],
  method: Comparison['method'],
  measure: (b: Budget, side: 'base' | 'row') => Promise<number>,
): Promise<Comparison[]> {
  const us = budgets.map(() => ({ base: [] as number[], row: [] as number[] }));
  for (let i = 0; i < ROUNDS; i++)
    for (const [k, b] of budgets.entries())
      for (const side of i % 2 === 0 ? (['base', 'row'] as const) : (['row', 'base'] as const))
        us[k]![side].push(await measure(b, side));
  return budgets.map((b, k) => {
    const { base: baseUs, row: rowUs } = us[k]!;
    const ratios = rowUs.map((r, i) => r / baseUs[i]!);
    const medianRatio = median(ratios);
    process.stderr.write(`  compared ${b.row} with ${b.base} (${method})\n`);
    return {
      ...b,
      method,
      baseUs,
      rowUs,
      ratios,
      medianRatio,
      meanRatio: rowUs.reduce((a, x) => a + x, 0) / baseUs.reduce((a, x) => a + x, 0),
      pass: b.limit === undefined ? undefined : medianRatio - 1 <= b.limit,
    };
  });
}

/** The budgets between processes: each side is its own row (process) of the table. */
async function compare(rows: Row[]): Promise<Comparison[]> {
  const sides = new Map<Budget, { base: Row; row: Row }>();
  for (const b of BUDGETS) {
    const base = rows.find((r) => r.name === b.base);
    const row = rows.find((r) => r.name === b.row);
    if (base && row && selected(row) && compared(b)) sides.set(b, { base, row });
  }
  return alternate([...sides.keys()], 'processes', async (b, side) => cpuPerRequest(sides.get(b)![side]));
}

/** A proxy whose config a comparison swaps through its admin API. */
interface SwapTarget {
  row: Row;
  adminPort: number;
  tokenFile: string;
  /** the token, read from tokenFile on first use (the proxy writes it when it starts) */
  token?: string;
  /** the config of each side, by the side's name in SWAP_BUDGETS */
  configs: Record<string, Record<string, unknown>>;
}

/** One request to the swap target's admin API on a new connection (a kept-alive one may hit its idle timeout). */
function admin(t: SwapTarget, method: string, path: string, body?: string): Promise<string> {
  const token = (t.token ??= readFileSync(t.tokenFile, 'utf8').trim());
  return new Promise<string>((resolveReply, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: t.adminPort,
        path,
        method,
        agent: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolveReply(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The proxy's span counters (meshctl_proxy_spans_exported_total and _dropped_total). */
async function spanCounters(t: SwapTarget): Promise<{ exported: number; dropped: number }> {
  const text = await admin(t, 'GET', '/stats/prometheus');
  const value = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return {
    exported: value('meshctl_proxy_spans_exported_total'),
    dropped: value('meshctl_proxy_spans_dropped_total'),
  };
}

let swaps = 0;
/** Applies a side's config (a new version each time, so the proxy really swaps) and warms the new path up. */
async function swapTo(t: SwapTarget, side: string): Promise<void> {
  const body = JSON.stringify({ ...t.configs[side], version: `swap-${++swaps}` });
  const result = JSON.parse(await admin(t, 'POST', '/config', body)) as { ok: boolean; errors?: string[] };
  if (!result.ok) throw new Error(`the proxy refused the "${side}" config: ${(result.errors ?? []).join('; ')}`);
  sh('wrk', ['-t1', `-c${CONNECTIONS}`, '-d1s', '-H', 'Host: backend', t.row.url]);
}

/** The budgets within one process: the sides are configs swapped in before each run. */
async function compareSwapped(t: SwapTarget): Promise<Comparison[]> {
  const budgets = SWAP_BUDGETS.filter(compared);
  const spans = new Map(budgets.map((b) => [b, { dropped: 0, exported: 0 }]));
  const out = await alternate(budgets, 'swapped config', async (b, side) => {
    await swapTo(t, side === 'base' ? b.base : b.row);
    if (side === 'base') return cpuPerRequest(t.row);
    const before = await spanCounters(t);
    const us = cpuPerRequest(t.row);
    // the last batch goes out within the exporter's flush interval (1 s)
    await new Promise((r) => setTimeout(r, 1200));
    const after = await spanCounters(t);
    const counted = spans.get(b)!;
    counted.dropped += after.dropped - before.dropped;
    counted.exported += after.exported - before.exported;
    return us;
  });
  for (const c of out) {
    const counted = [...spans].find(([b]) => b.row === c.row && b.base === c.base)![1];
    c.spansDropped = counted.dropped;
    c.spansExported = counted.exported;
    if (counted.dropped > 0 && c.pass) c.pass = false;
  }
  return out;
}

function selected(row: Row): boolean {
  return SCENARIOS.length === 0 || SCENARIOS.some((s) => row.name.toLowerCase().includes(s));
}

async function main(): Promise<void> {
  const pki = certs().dir;
  // Backend: nginx returning 1 KB.
  start('backend', 'nginx', [
    '-c',
    nginxConf('backend', `server { listen 127.0.0.1:${P.backend}; location / { return 200 "${BODY}"; } }`),
  ]);
  const upstream = `upstream b { server 127.0.0.1:${P.backend}; keepalive 64; }`;
  const proxyPass = 'proxy_http_version 1.1; proxy_set_header Connection "";';
  const nginx = start('nginx', 'nginx', [
    '-c',
    nginxConf(
      'nginx',
      `${upstream} server { listen 127.0.0.1:${P.nginx}; location / { proxy_pass http://b; ${proxyPass} } }`,
    ),
  ]);
  const haCfg = join(work, 'haproxy.cfg');
  writeFileSync(
    haCfg,
    `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\nfrontend f\n  bind 127.0.0.1:${P.haproxy}\n  default_backend b\nbackend b\n  http-reuse always\n  server s1 127.0.0.1:${P.backend}\n`,
  );
  const haproxy = start('haproxy', 'haproxy', ['-f', haCfg, '-db']);
  const single = meshctlConfig(join(work, 'mesh-single.json'), {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'bench',
    listeners: [
      { name: 'out', port: P.meshctl, direction: 'outbound', chains: [{ routeConfig: 'r', protocol: 'http1' }] },
    ],
    routes: [
      { name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'backend' }] }] }] },
    ],
    clusters: [{ name: 'backend', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: P.backend }] }],
  });
  const meshArgs = (cfg: string, admin: string[] = ['--admin-port', '0'], build = '.') => [
    ...SIDECAR_NODE_FLAGS,
    ...(CPU_PROF
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${CPU_PROF}`,
          `--cpu-prof-name=${cfg.replace(/^.*\//, '').replace(/\.json$/, '')}.cpuprofile`,
        ]
      : []),
    join(build, 'bin/meshctl'),
    'proxy',
    'run',
    '--config',
    cfg,
    ...admin,
    '--telemetry-port',
    '0',
    '--no-access-log',
    '--log-level',
    'warn',
  ];
  const mesh = start('meshctl', NODE, meshArgs(single));
  // Reference: a raw TCP splice in Node (no HTTP at all), the ceiling of any Node proxy here.
  const spliceJs = join(work, 'splice.mjs');
  writeFileSync(
    spliceJs,
    `import net from 'node:net';\nnet.createServer({ noDelay: true }, (c) => { const u = net.connect({ port: ${P.backend}, host: '127.0.0.1', noDelay: true }); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(${P.splice}, '127.0.0.1');\n`,
  );
  const splice = start('node-splice', NODE, [spliceJs]);
  // Tracing: the single-hop proxy exporting spans (Zipkin v2 JSON) at 1% and 100% sampling to a sink
  // that accepts every batch; compare CPU per request with the tracing-off row (issue 19: <= +3% at 1%, <= +15% at 100%).
  const sinkJs = join(work, 'zipkin-sink.mjs');
  writeFileSync(
    sinkJs,
    `import http from 'node:http';\nhttp.createServer((q, r) => { q.resume(); q.on('end', () => r.writeHead(202).end()); }).listen(${P.zipkinSink}, '127.0.0.1');\n`,
  );
  const sink = start('zipkin-sink', NODE, [sinkJs]);
  const traced = (port: number, sampling: number, name: string) => {
    const cfg = JSON.parse(readFileSync(single, 'utf8').replace(`"port":${P.meshctl}`, `"port":${port}`)) as Record<
      string,
      unknown
    >;
    return meshctlConfig(join(work, name), {
      ...cfg,
      telemetry: { tracing: { sampling, zipkin: { address: `127.0.0.1:${P.zipkinSink}` } } },
    });
  };
  const meshTrace1 = start('meshctl-trace-1', NODE, meshArgs(traced(P.meshTrace1, 1, 'mesh-trace-1.json')));
  const meshTrace100 = start('meshctl-trace-100', NODE, meshArgs(traced(P.meshTrace100, 100, 'mesh-trace-100.json')));
  // The tracing budgets measured inside one process: its config is swapped between off, 1% and 100% (compareSwapped).
  const withPort = (file: string, port: number) =>
    JSON.parse(readFileSync(file, 'utf8').replace(/"port":\d+,"direction"/, `"port":${port},"direction"`)) as Record<
      string,
      unknown
    >;
  const swapOff = withPort(single, P.meshSwap);
  const swapTokenFile = join(work, 'swap-admin-token');
  const meshSwap = start(
    'meshctl-swap',
    NODE,
    meshArgs(meshctlConfig(join(work, 'mesh-swap.json'), swapOff), [
      '--admin-port',
      String(P.meshSwapAdmin),
      '--admin-token-file',
      swapTokenFile,
    ]),
  );
  const swapConfigs = {
    'tracing off': swapOff,
    'tracing off (again)': swapOff,
    'tracing 1%': withPort(join(work, 'mesh-trace-1.json'), P.meshSwap),
    'tracing 100%': withPort(join(work, 'mesh-trace-100.json'), P.meshSwap),
  };
  // The same config as the single hop in a second process: the control pair of the comparisons between processes.
  const meshTwin = start(
    'meshctl-twin',
    NODE,
    meshArgs(meshctlConfig(join(work, 'mesh-twin.json'), withPort(single, P.meshTwin)), undefined, TWIN_BUILD),
  );
  // Two hops with mutual TLS.
  const id = (who: string) => ({
    certChain: `${pki}/${who}.pem`,
    privateKey: `${pki}/${who}.key`,
    trustRoots: `${pki}/ca.pem`,
  });
  const hop2 = meshctlConfig(join(work, 'mesh-hop2.json'), {
    apiVersion: 'proxy.meshctl.dev/v1',
    identity: id('server'),
    listeners: [
      {
        name: 'in',
        address: '127.0.0.1',
        port: P.meshHop2,
        direction: 'inbound',
        chains: [{ routeConfig: 'r', tls: 'strict' }],
      },
    ],
    routes: [{ name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] }],
    clusters: [{ name: 'app', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: P.backend }] }],
  });
  const hop1 = meshctlConfig(join(work, 'mesh-hop1.json'), {
    apiVersion: 'proxy.meshctl.dev/v1',
    identity: id('client'),
    listeners: [
      { name: 'out', port: P.meshHop1, direction: 'outbound', chains: [{ routeConfig: 'r', protocol: 'http1' }] },
    ],
    routes: [
      { name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'server' }] }] }] },
    ],
    clusters: [
      {
        name: 'server',
        tls: 'mutual',
        endpoints: [{ address: '127.0.0.1', port: P.meshHop2, identity: 'spiffe://cluster.local/ns/bench/sa/server' }],
      },
    ],
  });
  const meshA = start('meshctl-hop1', NODE, meshArgs(hop1));
  const meshB = start('meshctl-hop2', NODE, meshArgs(hop2));
  // The same two hops with a 10-rule AuthorizationPolicy at the server (issue 15's budget: at most 5% CPU per
  // request): nine rules that do not match the client (other principals, paths, methods, headers), the last one does.
  const tenRules = [
    ...Array.from({ length: 9 }, (_, i) => ({
      from: [{ source: { principals: [`cluster.local/ns/other/sa/client-${i}`], notIpBlocks: ['203.0.113.0/24'] } }],
      to: [{ operation: { methods: ['GET', 'POST'], paths: [`/api/v${i}/*`] } }],
      when: [{ key: 'request.headers[x-tenant]', values: [`t${i}`] }],
    })),
    {
      from: [{ source: { principals: ['cluster.local/ns/bench/sa/client'] } }],
      to: [{ operation: { methods: ['GET'], paths: ['/*'] } }],
    },
  ];
  const authzHop2 = JSON.parse(
    readFileSync(hop2, 'utf8').replaceAll(`"port":${P.meshHop2}`, `"port":${P.meshAuthzHop2}`),
  );
  authzHop2.listeners[0].authz = {
    policies: [{ name: 'ns[bench]-policy[ten-rules]', action: 'ALLOW', rules: tenRules }],
  };
  const meshAuthzB = start(
    'meshctl-authz-hop2',
    NODE,
    meshArgs(meshctlConfig(join(work, 'mesh-authz-hop2.json'), authzHop2)),
  );
  const meshAuthzA = start(
    'meshctl-authz-hop1',
    NODE,
    meshArgs(
      meshctlConfig(
        join(work, 'mesh-authz-hop1.json'),
        JSON.parse(
          readFileSync(hop1, 'utf8')
            .replaceAll(`"port":${P.meshHop1}`, `"port":${P.meshAuthzHop1}`)
            .replaceAll(`"port":${P.meshHop2}`, `"port":${P.meshAuthzHop2}`),
        ),
      ),
    ),
  );
  const tlsHop2 = `${upstream} server { listen 127.0.0.1:${P.nginxHop2} ssl; ssl_certificate ${pki}/server.pem; ssl_certificate_key ${pki}/server.key; ssl_client_certificate ${pki}/ca.pem; ssl_verify_client on; location / { proxy_pass http://b; ${proxyPass} } }`;
  const tlsHop1 = `upstream h2 { server 127.0.0.1:${P.nginxHop2}; keepalive 64; } server { listen 127.0.0.1:${P.nginxHop1}; location / { proxy_pass https://h2; ${proxyPass} proxy_ssl_certificate ${pki}/client.pem; proxy_ssl_certificate_key ${pki}/client.key; proxy_ssl_trusted_certificate ${pki}/ca.pem; proxy_ssl_verify on; proxy_ssl_name server; proxy_ssl_session_reuse on; } }`;
  const nginxB = start('nginx-hop2', 'nginx', ['-c', nginxConf('nginx-hop2', tlsHop2)]);
  const nginxA = start('nginx-hop1', 'nginx', ['-c', nginxConf('nginx-hop1', tlsHop1)]);
  // Ingress: TLS terminated at the edge, plain HTTP to the backend (a Gateway HTTPS server, SIMPLE).
  const ingressTls = `${upstream} server { listen 127.0.0.1:${P.nginxIngress} ssl; ssl_certificate ${pki}/server.pem; ssl_certificate_key ${pki}/server.key; ssl_session_cache shared:S:1m; location / { proxy_pass http://b; ${proxyPass} } }`;
  const nginxIngress = start('nginx-ingress', 'nginx', ['-c', nginxConf('nginx-ingress', ingressTls)]);
  // The same as a meshctl gateway's listener (what the control plane generates for the Gateway: serverTls + edge).
  const gateway = meshctlConfig(join(work, 'mesh-gateway.json'), {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'bench',
    listeners: [
      {
        name: 'gateway|443',
        address: '127.0.0.1',
        port: P.meshGateway,
        direction: 'outbound',
        chains: [
          {
            protocol: 'http1',
            edge: true,
            routeConfig: 'r',
            serverTls: {
              mode: 'simple',
              certificates: [{ name: 'bench/server', certChain: `${pki}/server.pem`, privateKey: `${pki}/server.key` }],
            },
          },
        ],
      },
    ],
    routes: [
      { name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'backend' }] }] }] },
    ],
    clusters: [{ name: 'backend', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: P.backend }] }],
  });
  const meshGateway = start('meshctl-gateway', NODE, meshArgs(gateway));

  for (const port of [
    P.backend,
    P.nginx,
    P.haproxy,
    P.meshctl,
    P.splice,
    P.meshHop1,
    P.meshAuthzHop1,
    P.nginxHop1,
    P.meshTrace1,
    P.meshTrace100,
    P.meshSwap,
    P.meshTwin,
  ])
    await waitFor(`http://127.0.0.1:${port}/`);
  for (const port of [P.nginxIngress, P.meshGateway]) await waitForTls(port);
  void sink;
  const workers = (c: ChildProcess) => () => childPids(c.pid!);
  const rows: Row[] = [
    { scenario: '1 hop', name: 'direct', pids: () => [], url: `http://127.0.0.1:${P.backend}/` },
    { scenario: '1 hop', name: 'nginx (1 worker)', pids: workers(nginx), url: `http://127.0.0.1:${P.nginx}/` },
    {
      scenario: '1 hop',
      name: 'haproxy (1 thread)',
      pids: () => [haproxy.pid!],
      url: `http://127.0.0.1:${P.haproxy}/`,
    },
    { scenario: '1 hop', name: 'meshctl (1 process)', pids: () => [mesh.pid!], url: `http://127.0.0.1:${P.meshctl}/` },
    {
      scenario: '1 hop',
      name: 'node TCP splice (ref.)',
      pids: () => [splice.pid!],
      url: `http://127.0.0.1:${P.splice}/`,
    },
    {
      scenario: '1 hop',
      name: 'meshctl (1 process) twin',
      pids: () => [meshTwin.pid!],
      url: `http://127.0.0.1:${P.meshTwin}/`,
      comparisonOnly: true,
    },
    {
      scenario: '1 hop',
      name: 'meshctl, tracing 1%',
      pids: () => [meshTrace1.pid!],
      url: `http://127.0.0.1:${P.meshTrace1}/`,
    },
    {
      scenario: '1 hop',
      name: 'meshctl, tracing 100%',
      pids: () => [meshTrace100.pid!],
      url: `http://127.0.0.1:${P.meshTrace100}/`,
    },
    {
      scenario: '2 hops mTLS',
      name: 'nginx -> nginx (TLS)',
      pids: () => [...childPids(nginxA.pid!), ...childPids(nginxB.pid!)],
      url: `http://127.0.0.1:${P.nginxHop1}/`,
    },
    {
      scenario: '2 hops mTLS',
      name: 'meshctl -> meshctl (mTLS)',
      pids: () => [meshA.pid!, meshB.pid!],
      url: `http://127.0.0.1:${P.meshHop1}/`,
    },
    {
      scenario: '2 hops mTLS',
      name: 'meshctl -> meshctl, 10-rule policy',
      pids: () => [meshAuthzA.pid!, meshAuthzB.pid!],
      url: `http://127.0.0.1:${P.meshAuthzHop1}/`,
    },
    {
      scenario: 'ingress TLS',
      name: 'nginx (1 worker, TLS)',
      pids: workers(nginxIngress),
      url: `https://127.0.0.1:${P.nginxIngress}/`,
    },
    {
      scenario: 'ingress TLS',
      name: 'meshctl gateway (TLS)',
      pids: () => [meshGateway.pid!],
      url: `https://127.0.0.1:${P.meshGateway}/`,
    },
  ];
  const results: Result[] = [];
  const swapTarget: SwapTarget = {
    row: {
      scenario: '1 hop',
      name: 'meshctl, tracing swapped in one process',
      pids: () => [meshSwap.pid!],
      url: `http://127.0.0.1:${P.meshSwap}/`,
      comparisonOnly: true,
    },
    adminPort: P.meshSwapAdmin,
    tokenFile: swapTokenFile,
    configs: swapConfigs,
  };
  for (const row of rows) {
    if (!selected(row) || row.comparisonOnly) continue;
    // Warm-up: JIT, connection pools, TLS sessions.
    sh('wrk', ['-t1', `-c${CONNECTIONS}`, '-d1s', '-H', 'Host: backend', row.url]);
    const pids = row.pids();
    const cpu0 = cpuSeconds(pids);
    const w = wrk(row.url);
    const cpu = cpuSeconds(pids) - cpu0;
    const fixed = fortio(row.url);
    results.push({
      scenario: row.scenario,
      name: row.name,
      rps: w.rps,
      wrkP50: w.p50,
      wrkP99: w.p99,
      errors: w.errors,
      fixed,
      cpuPer1000: pids.length ? (cpu / w.requests) * 1000 : 0,
      cpuUsPerReq: pids.length ? (cpu / w.requests) * 1e6 : 0,
      peakRssMb: pids.length ? peakRssMb(pids) : 0,
    });
    process.stderr.write(`  measured ${row.name}\n`);
  }
  const comparisons =
    ROUNDS > 0 ? [...(await compare(rows)), ...(selected(swapTarget.row) ? await compareSwapped(swapTarget) : [])] : [];
  const direct = results.find((r) => r.name === 'direct');
  for (const r of results) {
    if (r.fixed && direct?.fixed) {
      r.addedP50 = r.fixed.p50 - direct.fixed.p50;
      r.addedP90 = r.fixed.p90 - direct.fixed.p90;
      r.addedP99 = r.fixed.p99 - direct.fixed.p99;
    }
  }
  print(results);
  printComparisons(comparisons);
  const outDir = resolve('bench/results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'proxy.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model },
        node: process.version,
        load: { duration: DURATION, connections: CONNECTIONS, fixedRate: RATE, body: '1 KiB' },
        results,
        comparisons,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nJSON: ${file}`);
  stopAll();
}

function print(results: Result[]): void {
  const f = (n: number | undefined, d = 2) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  const header = [
    'scenario',
    'target',
    'req/s',
    'x nginx',
    'wrk p50',
    'wrk p99',
    'fixed p50',
    'p90',
    'p99',
    '+p50',
    '+p90',
    '+p99',
    'cpu s/1k req',
    'cpu µs/req',
    'peak RSS MB',
    'errors',
  ];
  const rows = results.map((r) => {
    const ref = results.find((x) => x.scenario === r.scenario && x.name.startsWith('nginx'));
    return [
      r.scenario,
      r.name,
      f(r.rps, 0),
      ref ? f(r.rps / ref.rps) : '-',
      f(r.wrkP50),
      f(r.wrkP99),
      f(r.fixed?.p50, 3),
      f(r.fixed?.p90, 3),
      f(r.fixed?.p99, 3),
      f(r.addedP50, 3),
      f(r.addedP90, 3),
      f(r.addedP99, 3),
      f(r.cpuPer1000, 4),
      f(r.cpuUsPerReq, 2),
      f(r.peakRssMb, 1),
      String(r.errors),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(
    `\nload: wrk -t1 -c${CONNECTIONS} -d${DURATION} (saturation); fortio ${RATE} qps -c 8 (fixed rate; +pXX = added over direct); latencies in ms`,
  );
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

function printComparisons(cs: Comparison[]): void {
  if (cs.length === 0) return;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  console.log(
    `\nCPU per request, sides alternated ${ROUNDS} times, the pairs of each method taking turns within a round (wrk -c${CONNECTIONS} -d${DURATION} each); median of the per-round ratios`,
  );
  for (const method of ['processes', 'swapped config'] as const) {
    const these = cs.filter((c) => c.method === method);
    if (these.length === 0) continue;
    console.log(
      method === 'processes'
        ? '  between two proxy processes:'
        : '  in one proxy process, its config swapped through the admin API before each side:',
    );
    for (const c of these) {
      const spans =
        c.spansExported || c.spansDropped ? `, spans exported ${c.spansExported} dropped ${c.spansDropped}` : '';
      const verdict =
        c.limit === undefined
          ? TWIN_BUILD && c.row.endsWith(' twin')
            ? `the twin runs ${TWIN_BUILD}: this build vs that one (negative: this build costs more)`
            : 'control (identical sides: the noise floor)'
          : `budget ${pct(c.limit)} (issue ${c.issue}): ${c.pass ? 'met' : 'NOT met'}`;
      console.log(
        `    ${c.row} vs ${c.base}: ${median(c.rowUs).toFixed(2)} vs ${median(c.baseUs).toFixed(2)} µs/req, ` +
          `median ${pct(c.medianRatio - 1)} (rounds ${c.ratios.map((r) => pct(r - 1)).join(' ')}; ratio of the means ` +
          `${pct(c.meanRatio - 1)})${spans}, ${verdict}`,
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  stopAll();
  process.exit(1);
});
