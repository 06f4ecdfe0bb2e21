// Control-plane benchmark: a real control plane process (meshctl control-plane), S services applied
// as Service objects, P simulated proxies (stream clients that ACK everything, no data plane), then
// a config change (a VirtualService on one service): time from the apply to each proxy's ACK of
// the new routes (p50/p99/max), and the control plane's RSS and CPU before and after.
// Usage: node bench/control-plane/run.mjs [services] [proxies]   (after `npm run build`)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const services = Number(process.argv[2] ?? 1000);
const proxies = Number(process.argv[3] ?? 100);
const root = new URL('../..', import.meta.url).pathname;
const { LocalPlatform } = await import(join(root, 'dist/cluster/local/platform.js'));
const { CaIdentitySource } = await import(join(root, 'dist/proxy-runtime/identity/ca-client.js'));
const { grpcCertificateSigner } = await import(join(root, 'dist/proxy-runtime/identity/grpc-signer.js'));
const { XdsClient } = await import(join(root, 'dist/proxy-runtime/xds-client/client.js'));
const { TypeUrl } = await import(join(root, 'dist/protocol/stream/messages.js'));

const home = await mkdtemp(join(tmpdir(), 'meshctl-bench-'));
const cp = spawn(process.execPath, [join(root, 'bin/meshctl'), 'control-plane', '--home', home, '--stream-port', '0', '--debug-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
let cpLog = '';
cp.stderr.on('data', (d) => (cpLog += d));
const platform = new LocalPlatform(home);
await platform.waitForReady(30_000);

function usage() {
  // /proc/<pid>/stat: utime+stime in ticks (100/s), rss in pages (4 KiB).
  return readFile(`/proc/${cp.pid}/stat`, 'utf8').then((s) => {
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { cpuSeconds: (Number(f[11]) + Number(f[12])) / 100, rssMiB: (Number(f[21]) * 4096) / 2 ** 20 };
  });
}

const svcYaml = Array.from({ length: services }, (_, i) => `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: bench}\nspec:\n  selector: {app: svc-${i}}\n  ports: [{name: http, port: 9080, targetPort: 9080}]\n`).join('---\n');
let t = performance.now();
await platform.applyConfig([{ file: 'services.yaml', text: svcYaml }], { defaultNamespace: 'bench' });
console.log(`applied ${services} services in ${(performance.now() - t).toFixed(0)} ms`);

// One registered workload gives the simulated proxies their identity (they share its service account).
const reg = await platform.registerWorkload({ name: 'sim', namespace: 'bench', serviceAccount: 'sim', labels: { app: 'sim' }, address: '127.0.0.1', ports: [1] });
const signer = await grpcCertificateSigner({ address: reg.streamAddress, trustRoots: reg.trustRoots, credential: () => reg.token });
const identity = await CaIdentitySource.start({ signer, trustRoots: reg.trustRoots });

const types = [TypeUrl.clusters, TypeUrl.routes, TypeUrl.listeners];
const ackedRoutes = new Map(); // proxy index -> { version, at }
const clients = [];
t = performance.now();
for (let i = 0; i < proxies; i++) {
  const c = new XdsClient({
    address: reg.streamAddress, identity, types, backoff: { initialMs: 200, maxMs: 2000 },
    node: { id: `sim-${i}.bench`, workload: `sim-${i}`, namespace: 'bench', serviceAccount: 'sim', labels: { app: 'sim' }, proxyVersion: 'bench' },
    apply: (type, _resources, version) => {
      if (type === TypeUrl.routes) ackedRoutes.set(i, { version, at: performance.now() });
      return { ok: true };
    },
  });
  clients.push(c);
  await c.start();
}
const waitFor = async (what, pred, timeoutMs = 300_000) => {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
await waitFor('initial sync', () => ackedRoutes.size === proxies);
console.log(`${proxies} proxies connected and synced in ${(performance.now() - t).toFixed(0)} ms`);
await new Promise((r) => setTimeout(r, 500));
const before = await usage();

const vs = `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: svc-0, namespace: bench}\nspec:\n  hosts: [svc-0]\n  http:\n  - timeout: 3s\n    route: [{destination: {host: svc-0}}]\n`;
const oldVersions = new Map([...ackedRoutes].map(([k, v]) => [k, v.version]));
const t0 = performance.now();
await platform.applyConfig([{ file: 'vs.yaml', text: vs }], { defaultNamespace: 'bench' });
await waitFor('every proxy ACKs the change', () => [...ackedRoutes].every(([k, v]) => v.version !== oldVersions.get(k)));
const lat = [...ackedRoutes.values()].map((v) => v.at - t0).sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
const after = await usage();
const syncz = await platform.controlPlaneGet('/debug/pushz');
const push = syncz.pushes.at(-1);
console.log(JSON.stringify({
  services, proxies,
  changeToAckMs: { p50: Math.round(q(0.5)), p99: Math.round(q(0.99)), max: Math.round(lat.at(-1)) },
  note: 'includes the 100 ms debounce window',
  lastPush: { buildMs: push.buildMs, pushMs: push.pushMs, sent: push.sent },
  controlPlane: { rssMiB: Math.round(after.rssMiB), cpuSecondsForChange: +(after.cpuSeconds - before.cpuSeconds).toFixed(2), cpuSecondsTotal: after.cpuSeconds },
}, null, 2));

for (const c of clients) c.close();
identity.close();
cp.kill('SIGTERM');
await new Promise((r) => cp.on('exit', r));
