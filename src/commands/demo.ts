/**
 * `meshctl demo [--keep] [--cleanup]` end to end on the local platform: control plane (started only if none runs),
 * the bookinfo-like workloads through `meshctl run`, then the steps of the scenario, each applied,
 * waited for on the proxy that routes it, exercised with traffic and checked against what the
 * answers and the sidecars' metrics show. Everything it started is stopped unless `--keep`.
 */
import { connect, createServer } from 'node:net';
import { Option } from 'commander';
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import type { CliContext } from '../context.js';
import type { ConfigObjectKey, LocalPlatform, PlatformKind } from '../cluster/index.js';
import { localPlatformOf } from './platform-of.js';
import { PlatformUnavailableError, TimeoutError, UsageError } from '../errors.js';
import { renderTable } from '../ui/table.js';
import { startProgress } from '../ui/spinner.js';
import { Symbols } from '../ui/style.js';
import { collectProxyStatus, proxyDiff } from '../cluster/proxy-status.js';
import { renderProxyStatus } from './proxy-status.js';
import {
  acceptedRange,
  baseConfig,
  DEMO_SERVICE_PORT,
  DEMO_WORKLOADS,
  demoSteps,
  REVIEWS_VERSIONS,
  type ReviewsVersion,
  type TrafficExpectation,
} from '../demo/scenario.js';
import {
  difference,
  reviewsMetrics,
  sendTraffic,
  productpageRequest,
  reviewsVersionOf,
  type VersionCounts,
} from '../demo/traffic.js';
import {
  logTail,
  readDemoState,
  removeDemoState,
  startDemoWorkload,
  stopDemoWorkloads,
  writeDemoState,
  type DemoProcess,
  type DemoState,
} from '../demo/workloads.js';

/** Options of a demo run. */
export interface DemoOptions {
  readonly keep: boolean;
  /** Requests per traffic batch. */
  readonly requests: number;
  readonly readyTimeoutMs: number;
}

const ENTRY = 'productpage-v1';

async function portFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function demoConfigKeys(namespace: string): ConfigObjectKey[] {
  return [
    { group: 'networking.istio.io', kind: 'VirtualService', namespace, name: 'reviews' },
    { group: 'networking.istio.io', kind: 'DestinationRule', namespace, name: 'reviews' },
    ...['productpage', 'details', 'reviews', 'ratings'].map((name) => ({
      group: '',
      kind: 'Service',
      namespace,
      name,
    })),
  ];
}

/** Stops what a demo state names: workloads, its config, and the control plane if the demo started it. */
export async function cleanupDemo(
  ctx: CliContext,
  platform: LocalPlatform,
  state: DemoState,
  keepControlPlane = false,
): Promise<string[]> {
  const done: string[] = [];
  const stopped = await stopDemoWorkloads(state.processes);
  if (stopped.length) done.push(`stopped ${stopped.length} workloads`);
  if (await platform.runningControlPlane()) {
    const removed = (await platform.deleteConfig(demoConfigKeys(state.namespace)).catch(() => [])).filter(
      (o) => o.action === 'deleted',
    );
    if (removed.length) done.push('removed the demo config');
    if (state.startedControlPlane && !keepControlPlane) {
      await platform.stopControlPlane();
      done.push('stopped the control plane the demo had started');
    }
  }
  await removeDemoState(ctx.meshHome());
  return done;
}

/** Runs the demo; resolves with the exit code. */
export async function runDemo(ctx: CliContext, opts: DemoOptions): Promise<number> {
  const home = ctx.meshHome();
  const namespace = ctx.namespace();
  const platform = await localPlatformOf(ctx);
  const s = ctx.style;
  const out = (t: string) => ctx.out(t);
  // Read now: from here on SIGINT/SIGTERM stop the demo at its next step, which cleans up.
  const interrupted = ctx.signal;
  const check = () => {
    if (interrupted.aborted) throw new PlatformUnavailableError('interrupted', 'the demo stopped what it had started');
  };

  const previous = await readDemoState(home);
  let startedControlPlane = previous?.startedControlPlane ?? false;
  if (previous) {
    const p = await startProgress(
      ctx.io.stderr,
      ctx.errStyle,
      'Stopping the demo left running by an earlier meshctl demo --keep',
    );
    await stopDemoWorkloads(previous.processes);
    await removeDemoState(home);
    p.succeed();
  }
  let state: DemoState = { namespace, processes: [], startedControlPlane };
  let failures = 0;
  try {
    // 1. The control plane: reuse a running one, start one otherwise (standard ports when free).
    let progress = await startProgress(ctx.io.stderr, ctx.errStyle, 'Starting the local control plane');
    const existing = await platform.runningControlPlane();
    if (existing) progress.succeed(`Using the running control plane (pid ${existing.pid}, ${home})`);
    else {
      const standard = (await portFree(15012)) && (await portFree(15014));
      const { state: cp } = await platform.startControlPlane({
        extraArgs: standard ? [] : ['--stream-port', '0', '--debug-port', '0'],
        env: ctx.io.env,
      });
      startedControlPlane = true;
      progress.succeed(`Started the control plane (pid ${cp.pid}, state in ${home})`);
    }
    state = { ...state, startedControlPlane };
    await writeDemoState(home, state);

    // 2. Services and subsets first, so the workloads join known services; no VirtualService yet.
    await platform.deleteConfig([demoConfigKeys(namespace)[0]!]);
    await platform.applyConfig([{ file: 'demo/bookinfo-services.yaml', text: baseConfig(namespace) }], {
      defaultNamespace: namespace,
    });

    // 3. The workloads, as `meshctl run` processes.
    progress = await startProgress(
      ctx.io.stderr,
      ctx.errStyle,
      `Starting ${DEMO_WORKLOADS.length} workloads (productpage, details, reviews v1/v2/v3, ratings) with their sidecars`,
    );
    // One workload first, the rest once it is registered: the control plane loads its token store on
    // the first registration, and registrations racing that load can lose their tokens (reported bug).
    const first = await startDemoWorkload(DEMO_WORKLOADS[0]!, { home, namespace, env: ctx.io.env });
    await writeDemoState(home, { ...state, processes: [first] });
    await waitForRegistration(platform, first, opts.readyTimeoutMs, check);
    const started = [
      first,
      ...(await Promise.all(
        DEMO_WORKLOADS.slice(1).map((w) => startDemoWorkload(w, { home, namespace, env: ctx.io.env })),
      )),
    ];
    state = { ...state, processes: started.map(({ exited: _e, ...p }) => p) };
    await writeDemoState(home, state);
    const restart = async (i: number): Promise<void> => {
      started[i] = await startDemoWorkload(DEMO_WORKLOADS[i]!, { home, namespace, env: ctx.io.env });
      state = { ...state, processes: started.map(({ exited: _e, ...p }) => p) };
      await writeDemoState(home, state);
    };
    const ready = await waitForWorkloads(platform, started, restart, opts.readyTimeoutMs, check);
    progress.succeed(`Started ${started.length} workloads; every sidecar has its certificate and config`);
    const { rows } = await collectProxyStatus(platform);
    out(`\n${s.bold('meshctl proxy-status')}\n${renderProxyStatus(ctx, rows, renderTable)}`);

    // 4. The steps.
    const steps = demoSteps(namespace);
    for (const [i, step] of steps.entries()) {
      check();
      out(`\n${s.bold(`Step ${i + 1}/${steps.length}: ${step.title}`)}\n`);
      progress = await startProgress(
        ctx.io.stderr,
        ctx.errStyle,
        step.config ? 'Applying and waiting for productpage-v1 to run it' : 'Sending traffic',
      );
      if (step.config) {
        const before = (await platform.controlPlaneGet<{ version: string }>('/ready')).version;
        await platform.applyConfig([{ file: `demo/step-${i + 1}.yaml`, text: step.config }], {
          defaultNamespace: namespace,
        });
        await waitForProxyToRun(platform, namespace, before, check);
      }
      out(`  applied: ${step.describeConfig}\n`);
      const status = (await collectProxyStatus(platform)).rows;
      const synced = status.filter(
        (r) => r.clusters === 'SYNCED' && r.listeners === 'SYNCED' && r.routes === 'SYNCED',
      ).length;
      out(
        `  proxy-status: ${synced}/${status.length} proxies SYNCED${
          synced < status.length
            ? ` (${status
                .filter((r) => r.routes !== 'SYNCED' || r.clusters !== 'SYNCED' || r.listeners !== 'SYNCED')
                .map((r) => r.name)
                .join(', ')} not yet)`
            : ''
        }\n`,
      );
      for (const t of step.traffic) {
        progress.update(`Sending ${opts.requests} requests (${t.label})`);
        const ok = await trafficBatch(ctx, ready, t, opts.requests);
        if (!ok) failures++;
      }
      progress.succeed(`Step ${i + 1}: ${step.title}`);
    }

    out(
      `\n${failures === 0 ? s.green(`${Symbols.ok} Every step showed the traffic split its config asked for.`) : s.red(`${Symbols.fail} ${failures} check(s) failed (see above).`)}\n`,
    );
    if (opts.keep) {
      out(explore(ready.outboundPort, home));
    }
  } catch (err) {
    failures++;
    throw err;
  } finally {
    if (!opts.keep || failures > 0 || interrupted.aborted) {
      if (opts.keep && failures > 0) ctx.err('The demo failed: cleaning up despite --keep.\n');
      const p = await startProgress(ctx.io.stderr, ctx.errStyle, 'Cleaning up');
      const done = await cleanupDemo(ctx, platform, { ...state, startedControlPlane });
      p.succeed(`Cleaned up: ${done.join(', ') || 'nothing was left'}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

/** Where the demo sends traffic, and where it reads the reviews metrics. */
interface ReadyDemo {
  readonly outboundPort: number;
  readonly reviewsAdmin: Record<ReviewsVersion, number>;
}

/** Waits until one workload is in the control plane's registry (or exited). */
async function waitForRegistration(
  platform: LocalPlatform,
  p: DemoProcess & { exited: () => number | null | undefined },
  timeoutMs: number,
  check: () => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await platform.listWorkloads()).some((w) => w.name === p.name)) {
    check();
    if (p.exited() !== undefined) return; // waitForWorkloads reports or restarts it.
    if (Date.now() > deadline) throw new TimeoutError(`waiting for ${p.name} to register`, `see ${p.logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until every workload is registered, connected, synced, and productpage answers through the mesh. */
async function waitForWorkloads(
  platform: LocalPlatform,
  started: readonly (DemoProcess & { exited: () => number | null | undefined })[],
  restart: (index: number) => Promise<void>,
  timeoutMs: number,
  check: () => void,
): Promise<ReadyDemo> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no workload registered yet';
  let restarts = 0;
  for (;;) {
    check();
    for (const [i, p] of started.entries()) {
      const code = p.exited();
      if (code === undefined) continue;
      const tail = await logTail(p.logFile);
      // A port picked free can be taken by another process before the app binds it, and a token can be
      // lost in the control plane's token-store race: start that workload again.
      if ((tail.includes('EADDRINUSE') || tail.includes('unknown or revoked token')) && restarts++ < 10) {
        await restart(i);
        continue;
      }
      throw new PlatformUnavailableError(
        `the ${p.name} workload exited with code ${code}: ${tail}`,
        `see ${p.logFile}`,
      );
    }
    const workloads = await platform.listWorkloads();
    const entry = workloads.find((w) => w.name === ENTRY);
    const admin = Object.fromEntries(
      REVIEWS_VERSIONS.map((v) => [v, workloads.find((w) => w.name === `reviews-${v}`)?.adminPort ?? 0]),
    ) as Record<ReviewsVersion, number>;
    const { rows } = await collectProxyStatus(platform);
    const syncedNames = rows
      .filter((r) => r.clusters === 'SYNCED' && r.listeners === 'SYNCED' && r.routes === 'SYNCED')
      .map((r) => r.workload);
    const synced = started.filter((p) => syncedNames.includes(p.name));
    // A sidecar is SYNCED before its app listens: traffic then would be answered 502 by that sidecar.
    const listening = await Promise.all(synced.map((p) => accepts(p.appPort)));
    const missing = started.filter((p) => !synced.includes(p) || !listening[synced.indexOf(p)]).map((p) => p.name);
    if (!missing.length && entry?.outboundPort && REVIEWS_VERSIONS.every((v) => admin[v])) {
      const probe = await productpageRequest(entry.outboundPort, undefined, 5_000);
      if (probe.status === 200 && reviewsVersionOf(probe.answer))
        return { outboundPort: entry.outboundPort, reviewsAdmin: admin };
      last = `productpage answered ${probe.status}${probe.error ? ` (${probe.error})` : ''}`;
    } else last = `waiting for ${missing.join(', ') || 'productpage'} to connect, sync and listen`;
    if (Date.now() > deadline)
      throw new TimeoutError(
        `waiting for the demo workloads (${last})`,
        `see the logs in ${platform.layout.logDir}/demo-*.log`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Whether the app on 127.0.0.1:`port` accepts a connection. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Waits until the control plane has a snapshot newer than `before`, productpage-v1 runs exactly what it would send, and every proxy is SYNCED. */
async function waitForProxyToRun(
  platform: LocalPlatform,
  namespace: string,
  before: string,
  check: () => void,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const target = { name: ENTRY, namespace, id: `${ENTRY}.${namespace}` };
  for (;;) {
    check();
    const diff = await proxyDiff(platform, target);
    // Then every proxy ACKed what it was sent, so the proxy-status printed next is the settled one.
    if (diff.controlPlaneVersion !== before && diff.types.every((t) => t.match)) {
      const { rows } = await collectProxyStatus(platform);
      if (rows.every((r) => r.clusters === 'SYNCED' && r.listeners === 'SYNCED' && r.routes === 'SYNCED')) return;
    }
    if (Date.now() > deadline)
      throw new TimeoutError(
        `waiting for ${target.id} to run the new config (${
          diff.types
            .filter((t) => !t.match)
            .map((t) => t.type)
            .join(', ') || 'no new snapshot'
        } differ)`,
        `see meshctl proxy-status ${target.id}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One batch: traffic, the counts from answers and from metrics, and the check; prints and returns whether it passed. */
async function trafficBatch(ctx: CliContext, ready: ReadyDemo, t: TrafficExpectation, n: number): Promise<boolean> {
  const s = ctx.style;
  const before = await reviewsMetrics(ready.reviewsAdmin, ENTRY);
  const result = await sendTraffic(ready.outboundPort, n, t.user ? { user: t.user } : {});
  const answered = n - result.failed;
  // A sidecar counts a request when it finishes it, which may be just after the client has the answer.
  let metrics: VersionCounts = difference(await reviewsMetrics(ready.reviewsAdmin, ENTRY), before);
  for (let i = 0; i < 40 && REVIEWS_VERSIONS.some((v) => metrics[v] < result.counts[v]); i++) {
    await new Promise((r) => setTimeout(r, 50));
    metrics = difference(await reviewsMetrics(ready.reviewsAdmin, ENTRY), before);
  }
  const problems: string[] = [];
  const rows = REVIEWS_VERSIONS.map((v) => {
    const p = t.shares[v] ?? 0;
    const [lo, hi] = acceptedRange(answered, p);
    const got = result.counts[v];
    if (got < lo || got > hi) problems.push(`${v}: ${got} of ${answered} is outside ${lo}..${hi}`);
    if (metrics[v] !== got) problems.push(`${v}: the sidecar metrics count ${metrics[v]}, the answers ${got}`);
    const expected = p === 0 ? '0' : p === 1 ? `all ${answered}` : `${Math.round(p * 100)}% (${lo}..${hi})`;
    return [v, String(got), String(metrics[v]), expected];
  });
  if (result.failed) problems.push(`${result.failed} of ${n} requests failed (${result.failure})`);
  ctx.out(`  traffic: ${n} requests to productpage (${t.label}); reviews answered by:\n`);
  ctx.out(
    renderTable(
      ['    VERSION', 'ANSWERS', 'SIDECAR METRICS', 'EXPECTED'],
      rows.map((r) => [`    ${r[0]}`, ...r.slice(1)]),
    ),
  );
  if (problems.length) ctx.out(problems.map((p) => `  ${s.red(Symbols.fail)} ${p}\n`).join(''));
  else ctx.out(`  ${s.green(Symbols.ok)} as configured\n`);
  return problems.length === 0;
}

function explore(proxyPort: number, home: string): string {
  const proxy = `http://127.0.0.1:${proxyPort}`;
  const lines: [string, string][] = [
    ['meshctl proxy-status', 'every sidecar, SYNCED per config type'],
    [`meshctl proxy-status ${ENTRY}`, 'what the control plane would send vs what it runs'],
    [`meshctl proxy-config routes ${ENTRY}`, 'the reviews routes: header match, weights'],
    [`meshctl proxy-config endpoints ${ENTRY}`, 'the endpoints of each subset'],
    ['meshctl get vs reviews -o yaml', 'the VirtualService in force'],
    [`curl -x ${proxy} http://productpage:${DEMO_SERVICE_PORT}/`, "through productpage's sidecar (its HTTP_PROXY)"],
    [`curl -x ${proxy} -H 'end-user: jason' http://productpage:${DEMO_SERVICE_PORT}/`, 'jason is routed to reviews v3'],
  ];
  const width = Math.max(...lines.map(([c]) => c.length)) + 2;
  return `\nThe demo is still running (state in ${home}). Explore it:\n${lines.map(([c, what]) => `  ${c.padEnd(width)}# ${what}\n`).join('')}Stop it with 'meshctl demo --cleanup'.\n`;
}

/** The flags of `meshctl demo`. */
export interface DemoFlags {
  keep?: boolean;
  cleanup?: boolean;
  requests?: string;
  readyTimeout?: string;
}

/** Checks the flags before any I/O: the counts, --keep without --cleanup, and the local platform. */
export function validate(
  flags: DemoFlags,
  platform: PlatformKind,
): { requests: number; readyTimeoutMs: number; keep: boolean; cleanup: boolean } {
  const requests = Number(flags.requests);
  if (!Number.isInteger(requests) || requests < 10 || requests > 100_000)
    throw new UsageError(`--requests ${flags.requests}: not a count from 10 to 100000`);
  const readyTimeout = Number(flags.readyTimeout);
  if (!(readyTimeout > 0)) throw new UsageError(`--ready-timeout ${flags.readyTimeout}: not a number of seconds`);
  if (flags.keep && flags.cleanup) throw new UsageError('--keep and --cleanup cannot be used together');
  if (platform !== 'local')
    throw new PlatformUnavailableError(
      'meshctl demo runs on the local platform',
      'add --local (or set MESHCTL_PLATFORM=local)',
    );
  return { requests, readyTimeoutMs: readyTimeout * 1000, keep: flags.keep === true, cleanup: flags.cleanup === true };
}

const command: CommandDefinition = {
  name: 'demo',
  summary:
    'Run the bookinfo-like demo on the local mesh: canary 90/10, 50/50, 100 and a header route, with what the proxies see',
  define(cmd, bind) {
    cmd
      .option('--keep', 'leave the demo running to explore it (stop it later with --cleanup)')
      .option('--cleanup', 'stop a demo left running by --keep, and only that')
      .addOption(new Option('--requests <n>', 'requests per traffic batch').default('200').hideHelp())
      .addOption(
        new Option('--ready-timeout <seconds>', 'how long workloads may take to start').default('45').hideHelp(),
      )
      .addHelpText('after', examples(['meshctl demo', 'meshctl demo --keep', 'meshctl demo --cleanup']));
    bind<DemoFlags>(cmd, async (ctx, _args, flags) => {
      const { requests, readyTimeoutMs, keep, cleanup } = validate(flags, ctx.platformKind());
      if (cleanup) {
        const state = await readDemoState(ctx.meshHome());
        if (!state) {
          ctx.err(`No demo is running in ${ctx.meshHome()}.\n`);
          return 0;
        }
        const done = await cleanupDemo(ctx, await localPlatformOf(ctx), state);
        ctx.out(`${ctx.style.green(Symbols.ok)} Cleaned up: ${done.join(', ') || 'nothing was left'}\n`);
        return 0;
      }
      return runDemo(ctx, { keep, requests, readyTimeoutMs });
    });
  },
};
export default command;
