// Control-plane scale benchmark (npm run bench:control-plane).
//
// Per scenario (services x proxies): a fresh temporary MESHCTL_HOME, the real `meshctl control-plane`
// daemon as a child process on 127.0.0.1 (ports chosen by the OS), S Kubernetes Services applied
// through the daemon's apply API, one registered workload per proxy (an endpoint of service
// i mod S), and P simulated proxies in a second child process (proxies.mjs: one TLS stream and one
// workload certificate each, ACK on receipt). Then R config changes: a VirtualService weight shift
// on svc-0 applied through the apply API; for each, the time from the apply request to every
// proxy's ACK of the new routes (p50, p99, max = the last proxy), the daemon's CPU for it, its RSS.
//
// Usage: node bench/control-plane/run.mjs [--scenarios 100x100,1000x100,1000x1000,1000x2000]
//        [--repeats 5] [--profile] [--parse]      (after `npm run build`; npm run bench:control-plane does both)
//   --profile  runs the daemon with --cpu-prof; profiles go to bench/control-plane/results/
//   --parse    simulated proxies also JSON-decode every resource (as a real proxy would, on its own CPU)
import { spawn, fork } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const resultsDir = join(root, 'bench/control-plane/results');
const { LocalPlatform } = await import(join(root, 'dist/cluster/local/platform.js'));

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const scenarios = option('scenarios', '100x100,1000x100,1000x1000,1000x2000')
  .split(',')
  .map((s) => s.split('x').map(Number))
  .map(([services, proxies]) => ({ services, proxies }));
const repeats = Number(option('repeats', '5'));
const profile = flag('profile');
const parse = flag('parse');
const NAMESPACE = 'bench';
const CHANGE_TIMEOUT_MS = 60_000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (utime + stime) and RSS / peak RSS (MiB) of a process, from /proc. */
async function usageOf(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return {
    cpuSeconds: (Number(f[11]) + Number(f[12])) / 100,
    rssMiB: kib('VmRSS') / 1024,
    peakRssMiB: kib('VmHWM') / 1024,
  };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

function servicesYaml(count) {
  const docs = [];
  for (let i = 0; i < count; i++) {
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: ${NAMESPACE}}\nspec:\n  selector: {app: svc-${i}}\n  ports: [{name: http, port: 9080, targetPort: 9080}]\n`,
    );
  }
  docs.push(
    `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: svc-0, namespace: ${NAMESPACE}}\nspec:\n  host: svc-0\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n`,
  );
  return docs.join('---\n');
}

function weightShift(v2Weight) {
  return `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: svc-0, namespace: ${NAMESPACE}}\nspec:\n  hosts: [svc-0]\n  http:\n  - route:\n    - {destination: {host: svc-0, subset: v1}, weight: ${100 - v2Weight}}\n    - {destination: {host: svc-0, subset: v2}, weight: ${v2Weight}}\n`;
}

/** Registered workloads, written before the daemon starts (registering thousands one by one rewrites the file each time). */
async function seedWorkloads(home, services, proxies) {
  const registeredAt = new Date().toISOString();
  const workloads = [];
  for (let i = 0; i < Math.max(services, proxies); i++) {
    const sa = `svc-${i % services}`;
    workloads.push({
      name: `proxy-${i}`,
      namespace: NAMESPACE,
      serviceAccount: sa,
      labels: { app: sa, version: i % 2 ? 'v2' : 'v1' },
      address: '127.0.0.1',
      proxyPort: 15006,
      ports: [9080],
      registeredAt,
    });
  }
  await writeFile(join(home, 'workloads.json'), JSON.stringify({ workloads }) + '\n', { mode: 0o600 });
}

/** A child process speaking the IPC protocol of proxies.mjs. */
function proxyProcess() {
  const child = fork(join(root, 'bench/control-plane/proxies.mjs'), [], {
    env: { ...process.env, PARSE: parse ? '1' : '0' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters = [];
  const errors = [];
  child.on('message', (m) => {
    if (m.ev === 'error') errors.push(m.message);
    for (const w of [...waiters]) {
      if (m.ev === 'error' || w.ev === m.ev) {
        waiters.splice(waiters.indexOf(w), 1);
        m.ev === 'error' ? w.reject(new Error(m.message)) : w.resolve(m);
      }
    }
  });
  child.on('exit', (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`simulated proxies exited (${code}) ${errors.join('; ')}`));
  });
  const next = (ev, timeoutMs) => {
    const p = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for '${ev}' from the simulated proxies`)),
        timeoutMs,
      );
      waiters.push({
        ev,
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
    // Awaited later (an ACK wait is set up before the change is applied): not an unhandled rejection meanwhile.
    p.catch(() => undefined);
    return p;
  };
  return { child, next, send: (m) => child.send(m) };
}

async function runScenario({ services, proxies }) {
  const home = await mkdtemp(join(tmpdir(), 'meshctl-bench-cp-'));
  await mkdir(home, { recursive: true });
  await seedWorkloads(home, services, proxies);
  const nodeArgs = profile
    ? ['--cpu-prof', `--cpu-prof-dir=${resultsDir}`, `--cpu-prof-name=cp-${services}x${proxies}.cpuprofile`]
    : [];
  const daemon = spawn(
    process.execPath,
    [
      ...nodeArgs,
      join(root, 'bin/meshctl'),
      'control-plane',
      '--home',
      home,
      '--stream-port',
      '0',
      '--debug-port',
      '0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let daemonLog = '';
  daemon.stderr.on('data', (d) => (daemonLog = (daemonLog + d).slice(-20_000)));
  const daemonExit = new Promise((r) => daemon.on('exit', r));
  let sim;
  try {
    const platform = new LocalPlatform(home);
    await platform.waitForReady(30_000);
    const state = await platform.state();
    const pid = state.pid;
    const idle = await usageOf(pid);
    const loadBefore = loadavg()[0];

    let t = now();
    await platform.applyConfig([{ file: 'services.yaml', text: servicesYaml(services) }], {
      defaultNamespace: NAMESPACE,
    });
    const applyServicesMs = now() - t;
    await platform.applyConfig([{ file: 'vs.yaml', text: weightShift(0) }], { defaultNamespace: NAMESPACE });
    await sleep(300);

    sim = proxyProcess();
    await sim.next('loaded', 30_000);
    sim.send({
      cmd: 'start',
      home,
      address: state.streamAddress,
      count: proxies,
      services,
      namespace: NAMESPACE,
      connectBatch: 200,
    });
    const ready = await sim.next('ready', 300_000);
    await sleep(1000);
    const connected = await usageOf(pid);
    // Where the daemon's memory is (V8 heap, Buffers, the rest is native: TLS, HTTP/2 sessions, code).
    const memory = (await platform.controlPlaneGet('/debug/info')).memory;

    const changes = [];
    // One unmeasured change first: the daemon's first push of a weight shift compiles its code paths.
    for (let r = -1; r < repeats; r++) {
      const before = await usageOf(pid);
      const simBefore = (await (sim.send({ cmd: 'usage' }), sim.next('usage', 10_000))).usage;
      sim.send({ cmd: 'arm', id: r, timeoutMs: CHANGE_TIMEOUT_MS });
      const armed = await sim.next('armed', 10_000);
      const acked = sim.next('acked', CHANGE_TIMEOUT_MS + 5_000);
      const t0 = now();
      await platform.applyConfig([{ file: 'vs.yaml', text: weightShift(10 * (r + 2)) }], {
        defaultNamespace: NAMESPACE,
      });
      const applyMs = now() - t0;
      const done = await acked;
      const after = await usageOf(pid);
      const simAfter = (await (sim.send({ cmd: 'usage' }), sim.next('usage', 10_000))).usage;
      const bytes = (await (sim.send({ cmd: 'bytes' }), sim.next('bytes', 10_000))).bytes;
      const lat = done.times.map((x) => x - t0).sort((a, b) => a - b);
      // The daemon's own record of the push, and its view of who ACKed (not only what the clients say).
      const push = (await platform.controlPlaneGet('/debug/pushz')).pushes.at(-1);
      const syncz = await platform.controlPlaneGet('/debug/syncz');
      const routesType = 'proxy.meshctl.dev/v1/routes';
      const serverAcked = syncz.proxies.filter((p) => p.types[routesType]?.ackedVersion === done.version).length;
      if (r >= 0)
        changes.push({
          p50Ms: quantile(lat, 0.5),
          p99Ms: quantile(lat, 0.99),
          lastMs: lat.at(-1),
          applyMs,
          push: { version: push.version, buildMs: push.buildMs, pushMs: push.pushMs, sent: push.sent },
          serverAcked,
          cpSeconds: after.cpuSeconds - before.cpuSeconds,
          simCpuSeconds:
            (simAfter.userCPUTime + simAfter.systemCPUTime - simBefore.userCPUTime - simBefore.systemCPUTime) / 1e6,
          bytesPerProxy: Math.round((bytes - armed.bytesBefore) / proxies),
          reconnectsSoFar: done.reconnects,
          cpRssMiB: after.rssMiB,
        });
      await sleep(500);
    }
    const end = await usageOf(pid);
    const med = (k) => [...changes.map((c) => c[k])].sort((a, b) => a - b)[Math.floor(changes.length / 2)];
    return {
      services,
      proxies,
      repeats,
      parse,
      // Other processes on the machine (1-minute load average) change wall-clock times; CPU seconds less so.
      loadAverage: { before: loadBefore, after: loadavg()[0] },
      reconnects: changes.at(-1)?.reconnectsSoFar ?? ready.reconnects,
      firstReconnect: ready.firstReconnect,
      setup: {
        applyServicesMs: Math.round(applyServicesMs),
        certMintMs: ready.mintMs,
        connectAndSyncMs: ready.connectMs,
        initialBytesPerProxy: ready.initialBytesPerProxy,
      },
      controlPlane: {
        idleRssMiB: idle.rssMiB,
        connectedRssMiB: connected.rssMiB,
        connectedMemory:
          memory && Object.fromEntries(Object.entries(memory).map(([k, v]) => [k, Math.round(v / 1048576)])),
        peakRssMiB: end.peakRssMiB,
        cpuSecondsConnectAndSync: connected.cpuSeconds - idle.cpuSeconds,
      },
      changes,
      summary: {
        lastAckMsMedian: med('lastMs'),
        lastAckMsWorst: Math.max(...changes.map((c) => c.lastMs)),
        p50MsMedian: med('p50Ms'),
        p99MsMedian: med('p99Ms'),
        cpSecondsPerChange: med('cpSeconds'),
        simCpuSecondsPerChange: med('simCpuSeconds'),
        bytesPerProxyPerChange: med('bytesPerProxy'),
        peakRssMiB: end.peakRssMiB,
        allAckedOnServer: changes.every((c) => c.serverAcked === proxies),
      },
    };
  } catch (err) {
    err.message += `\n--- control plane log (tail) ---\n${daemonLog.slice(-3000)}`;
    throw err;
  } finally {
    if (sim) {
      sim.send({ cmd: 'stop' });
      await Promise.race([new Promise((r) => sim.child.on('exit', r)), sleep(5000)]);
      if (sim.child.exitCode === null) sim.child.kill('SIGKILL');
    }
    daemon.kill('SIGTERM');
    await Promise.race([daemonExit, sleep(10_000)]);
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
  }
}

const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
await mkdir(resultsDir, { recursive: true });
const results = [];
const started = now();
const file = join(resultsDir, `control-plane-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const save = () =>
  writeFile(
    file,
    JSON.stringify(
      {
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
        runMs: Math.round(now() - started),
        results,
      },
      null,
      2,
    ) + '\n',
  );
for (const s of scenarios) {
  process.stderr.write(`scenario ${s.services} services x ${s.proxies} proxies ... `);
  const t = now();
  let r;
  try {
    r = await runScenario(s);
  } catch (err) {
    // A scenario that cannot finish is a result too; the others still run.
    results.push({ ...s, failed: err.message.split('\n')[0] });
    process.stderr.write(`FAILED: ${err.message}\n`);
    await save();
    continue;
  }
  results.push(r);
  await save();
  process.stderr.write(`${fmt(now() - t)}\n`);
}

console.log(
  `\nChange (VirtualService weight shift) applied -> ACK of the new routes by every proxy; median of ${repeats} changes (worst in brackets)${parse ? '; proxies JSON-decode' : ''}`,
);
const header = [
  'services',
  'proxies',
  'p50',
  'p99',
  'last ACK',
  'CP CPU/change',
  'sim CPU/change',
  'KiB/proxy/change',
  'CP RSS conn.',
  'CP peak RSS',
  'setup sync',
];
const rows = results
  .filter((r) => !r.failed)
  .map((r) =>
    [
      r.services,
      r.proxies,
      fmt(r.summary.p50MsMedian),
      fmt(r.summary.p99MsMedian),
      `${fmt(r.summary.lastAckMsMedian)} (${fmt(r.summary.lastAckMsWorst)})`,
      `${r.summary.cpSecondsPerChange.toFixed(2)} s`,
      `${r.summary.simCpuSecondsPerChange.toFixed(2)} s`,
      Math.round(r.summary.bytesPerProxyPerChange / 1024),
      `${Math.round(r.controlPlane.connectedRssMiB)} MiB`,
      `${Math.round(r.summary.peakRssMiB)} MiB`,
      fmt(r.setup.connectAndSyncMs),
    ].map(String),
  );
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
console.log(header.map((h, i) => h.padStart(widths[i])).join('  '));
for (const row of rows) console.log(row.map((c, i) => c.padStart(widths[i])).join('  '));
for (const r of results) if (r.failed) console.log(`!! ${r.services}x${r.proxies} failed: ${r.failed}`);
for (const r of results)
  if (r.reconnects)
    console.log(
      `!! ${r.services}x${r.proxies}: ${r.reconnects} stream(s) lost and reopened (first: ${r.firstReconnect ?? 'during the changes'})`,
    );
for (const r of results)
  if (!r.failed && !r.summary.allAckedOnServer)
    console.log(`!! ${r.services}x${r.proxies}: the daemon did not record every ACK`);
console.log(`\nresults: ${file}`);
