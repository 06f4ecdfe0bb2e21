// Simulated proxies for the control-plane benchmark, run as a child process of run.mjs (IPC).
//
// Each simulated proxy is a minimal config-stream client speaking mesh.proto through grpc-js (the
// same proto loader and stream messages as src/proxy-runtime/runtime/xds-client): its own TLS connection to
// 127.0.0.1 with its own workload certificate (own P-256 key, SPIFFE URI of its service account),
// subscribes to clusters, routes and listeners like a sidecar on the incremental (delta) stream, and
// ACKs every response as soon as it arrives. It does not JSON-decode or apply resources unless PARSE=1: a real sidecar does that on its
// own CPU, while here thousands of them would share the benchmark machine's two cores with the
// control plane being measured. The real XdsClient is not used because it always parses.
//
// Certificates are minted by the mesh's own CertificateAuthority with the daemon's root CA (read
// from the benchmark's temporary MESHCTL_HOME), without the token + CSR round-trip per proxy.
//
// Messages from the parent: {cmd:'start', ...}, {cmd:'arm', id}, {cmd:'stop'}.
// Messages to the parent: {ev:'ready', ...}, {ev:'acked', id, times:[epoch ms per proxy]}, {ev:'error', message}.
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const { loadMeshProto } = await import(join(root, 'dist/protocol/stream/grpc.js'));
const { TypeUrl } = await import(join(root, 'dist/protocol/stream/messages.js'));
const { CertificateAuthority, FileCaStorage, loadOrCreateCa } = await import(
  join(root, 'dist/control-plane/ca/index.js')
);
const { localLayout } = await import(join(root, 'dist/cluster/local-layout.js'));

const TYPES = [TypeUrl.clusters, TypeUrl.routes, TypeUrl.listeners];
const SERVER_NAME = 'meshctl-control-plane.mesh-system.svc';
const parse = process.env.PARSE === '1';
const now = () => performance.timeOrigin + performance.now();

/** One simulated proxy. */
class SimProxy {
  constructor(index, node, creds, proto, address) {
    this.index = index;
    this.routesVersion = '';
    this.routesAckAt = 0;
    this.responses = 0;
    this.bytes = 0;
    this.client = new proto.AdsClient(address, creds, {
      'grpc.ssl_target_name_override': SERVER_NAME,
      'grpc.default_authority': SERVER_NAME,
      // One connection per proxy, as with real sidecars (grpc-js would otherwise share subchannels).
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    this.node = node;
    this.open();
  }

  /** Opens the stream and subscribes; a lost stream is reopened (counted: the benchmark reports it). */
  open() {
    const call = this.client.DeltaAggregatedResources();
    this.call = call;
    const lost = (why) => {
      if (stopping || this.call !== call) return;
      this.call = undefined;
      reconnects.push(`proxy ${this.index}: ${why}`);
      setTimeout(() => !stopping && this.open(), 500);
    };
    call.on('data', (res) => this.onResponse(call, res));
    call.on('error', (err) => lost(err.details || err.message));
    call.on('end', () => lost('stream ended'));
    let first = true;
    for (const type_url of TYPES) {
      call.write({
        node: first ? this.node : null,
        type_url,
        initial_resource_versions: {},
        response_nonce: '',
        error_detail: null,
      });
      first = false;
    }
  }

  onResponse(call, res) {
    if (call !== this.call) return;
    this.responses++;
    for (const r of res.resources) this.bytes += r.resource.length;
    if (parse) for (const r of res.resources) JSON.parse(r.resource.toString('utf8'));
    call.write({
      node: null,
      type_url: res.type_url,
      initial_resource_versions: {},
      response_nonce: res.nonce,
      error_detail: null,
    });
    if (res.type_url === TypeUrl.routes) {
      this.routesVersion = res.system_version_info;
      this.routesAckAt = now();
      armed?.onAck(this);
    }
  }

  close() {
    this.call?.cancel();
    this.client.close();
  }
}

let proxies = [];
const reconnects = [];
let armed;
let stopping = false;
const send = (m) => process.send?.(m);

/** Waits until every proxy's routes version differs from the one it had when armed. */
function arm(id, timeoutMs) {
  const baseline = proxies.map((p) => p.routesVersion);
  const times = new Array(proxies.length).fill(0);
  let pending = proxies.length;
  const timer = setTimeout(() => {
    armed = undefined;
    send({
      ev: 'error',
      message: `change ${id}: ${pending} of ${proxies.length} proxies did not ACK new routes within ${timeoutMs} ms`,
    });
  }, timeoutMs);
  armed = {
    onAck(p) {
      if (times[p.index] || p.routesVersion === baseline[p.index]) return;
      times[p.index] = p.routesAckAt;
      if (--pending === 0) {
        clearTimeout(timer);
        armed = undefined;
        send({ ev: 'acked', id, times, version: p.routesVersion, reconnects: reconnects.length });
      }
    },
  };
}

async function start({ home, address, count, services, namespace, connectBatch }) {
  const proto = await loadMeshProto();
  const ca = await loadOrCreateCa({ storage: new FileCaStorage(localLayout(home).caDir) });
  const authority = new CertificateAuthority(ca);
  const t0 = now();
  const material = [];
  for (let i = 0; i < count; i++) {
    const sa = `svc-${i % services}`;
    const issued = await authority.issueServing({ dns: [], ips: [] }, { namespace, serviceAccount: sa }, 3600);
    material.push({ sa, ...issued });
  }
  const mintMs = now() - t0;
  const rootPem = Buffer.from(authority.rootPem);
  const t1 = now();
  for (let start = 0; start < count; start += connectBatch) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + connectBatch); i++) {
      const m = material[i];
      const creds = proto.grpc.credentials.createSsl(rootPem, Buffer.from(m.keyPem), Buffer.from(m.certChainPem));
      const node = {
        id: `proxy-${i}.${namespace}`,
        metadata: {
          workload_name: `proxy-${i}`,
          namespace,
          labels: { app: m.sa, version: i % 2 ? 'v2' : 'v1' },
          service_account: m.sa,
          proxy_version: 'bench',
        },
      };
      const p = new SimProxy(i, node, creds, proto, address);
      proxies.push(p);
      batch.push(p);
    }
    // Connect in batches so the initial sync is not one stampede of TLS handshakes.
    const end = Date.now() + 120_000;
    while (batch.some((p) => p.responses < TYPES.length)) {
      if (Date.now() > end)
        throw new Error(`initial sync of proxies ${start}..${start + batch.length - 1} did not finish within 120 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const initialBytes = proxies.reduce((a, p) => a + p.bytes, 0);
  send({
    ev: 'ready',
    reconnects: reconnects.length,
    firstReconnect: reconnects[0],
    mintMs: Math.round(mintMs),
    connectMs: Math.round(now() - t1),
    initialBytesPerProxy: Math.round(initialBytes / count),
  });
}

process.on('message', (m) => {
  if (m.cmd === 'start') start(m).catch((err) => send({ ev: 'error', message: `start: ${err.stack || err.message}` }));
  else if (m.cmd === 'arm') {
    const bytesBefore = proxies.reduce((a, p) => a + p.bytes, 0);
    arm(m.id, m.timeoutMs);
    send({ ev: 'armed', id: m.id, bytesBefore });
  } else if (m.cmd === 'bytes') send({ ev: 'bytes', bytes: proxies.reduce((a, p) => a + p.bytes, 0) });
  else if (m.cmd === 'usage') send({ ev: 'usage', usage: process.resourceUsage() });
  else if (m.cmd === 'stop') {
    stopping = true;
    for (const p of proxies) p.close();
    proxies = [];
    setTimeout(() => process.exit(0), 100);
  }
});
process.on('disconnect', () => process.exit(0));
send({ ev: 'loaded' });
