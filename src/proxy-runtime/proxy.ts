/**
 * The sidecar proxy: owns the listeners, the admin and telemetry servers, the identity and the
 * live cluster state, and swaps config versions atomically:
 *   validate -> build an immutable Runtime -> bind new listeners -> swap -> retire what is unused.
 * Anything failing before the swap is a NACK: the error (with its field path) is returned and the
 * last good config keeps serving. `applyConfig` is what the control-plane stream client calls.
 */
import type { Server } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { validateProxyConfigLazily, type IdentityConfig, type ProxyConfig } from '../protocol/proxy-config/index.js';
import { ProxyCounterDrain } from './runtime/drain.js';
import { Runtime } from './http/config-version.js';
import { nodeInfo } from './ground/peer-metadata.js';
import type { ProxyContext } from './downstream/context.js';
import { ClusterStateRegistry } from './upstream/state.js';
import { ListenerHandle } from './listeners/listener.js';
import { localAddressAsDestination, type OriginalDestinationResolver } from './listeners/original-destination.js';
import { Telemetry } from './telemetry/telemetry.js';
import { compileLogFilter, compileTagValue } from '../config/log-filter.js';
import { ProxyLog } from './ground/log.js';
import { MeshTls } from './ground/tls/contexts.js';
import { StaticIdentitySource, type IdentitySource } from './ground/tls/identity.js';
import { startAdminServer } from './runtime/admin/admin-server.js';
import { startTelemetryServer } from './runtime/admin/telemetry-server.js';
import type { AdminView, ApplyResult } from './runtime/admin/admin-view.js';
import { describeClusters, describeListeners } from './runtime/admin/describe.js';
import { ProxyPorts } from '../protocol/well-known.js';
import { proxyDns } from './ground/dial/dns-cache.js';
import { installLastResortGuard } from './runtime/guard.js';
import type { JwtKeyMiss } from './http/authz/jwt.js';

export type { ApplyResult } from './runtime/admin/admin-view.js';

/** How a proxy is started. */
export interface ProxyOptions {
  /** Certificates from elsewhere (the CA-backed source); default: the PEM files of `identity` in the config. */
  identitySource?: IdentitySource;
  /** SO_ORIGINAL_DST for capture listeners (provided by the capture layer). */
  resolveOriginalDst?: OriginalDestinationResolver;
  /** Where access log lines go; default: as the config says (stdout). */
  accessLog?: NodeJS.WritableStream | null;
  log?: ProxyLog;
  /** Override the admin / telemetry ports of the config (tests use 0). */
  adminPort?: number;
  telemetryPort?: number;
  /** Override the telemetry bind address of the config (local sidecars: loopback unless `meshctl run --address`). */
  telemetryAddress?: string;
  /** Called after /quitquitquit finished draining. */
  onQuit?: () => void;
  /**
   * Install the process-wide last-resort guard (runtime/guard.ts) for the life of the proxy: set
   * where the proxy owns its process (`proxy run`, `meshctl run`), not by tests sharing one.
   */
  guardProcess?: boolean;
  /**
   * Where the admin token is written (0600, created with the directory if missing): the token the
   * mutating admin endpoints ask for. Unset: the token stays in this process (`adminToken`).
   */
  adminTokenFile?: string;
  /** DNS servers for the names the proxy resolves itself (`ip` or `ip:port`); default: /etc/resolv.conf's. */
  dnsServers?: readonly string[];
}

/** A running proxy. */
export class Proxy implements ProxyContext {
  readonly log: ProxyLog;
  readonly telemetry: Telemetry;
  private runtime!: Runtime;
  private readonly state: ClusterStateRegistry;
  private readonly handles = new Map<string, ListenerHandle>();
  private meshTls: MeshTls | undefined;
  private identitySource: IdentitySource | undefined;
  private identityKey = '';
  private readonly drainTracker = new ProxyCounterDrain();
  private drainingFlag = false;
  private inboundActive = 0;
  private inboundLastStart = 0;
  private inboundStopped = false;
  private admin: { server: Server; port: number } | undefined;
  private telemetryServer: { server: Server; port: number } | undefined;
  private lastRejected: { version: string; error: string; at: string } | undefined;
  private appliedAt = '';
  private applying: Promise<unknown> = Promise.resolve();
  private drainPromise: Promise<void> | undefined;
  private unguard: (() => void) | undefined;
  /** The token of the mutating admin endpoints (random per start; never logged). */
  readonly adminToken = randomBytes(32).toString('base64url');
  private adminTokenFile: string | undefined;
  private configHash = '';
  private streamConfigHash: string | null = null;
  /**
   * Told when a JWT names a key its issuer's keys lack; the config stream sets it to tell the
   * control plane (which fetches the issuer's keys again). Unset: nobody is told.
   */
  jwtKeyMiss: JwtKeyMiss | undefined;
  private readonly keyMiss: JwtKeyMiss = (issuer, kid) => this.jwtKeyMiss?.(issuer, kid);

  private constructor(private readonly opts: ProxyOptions) {
    this.log = opts.log ?? new ProxyLog();
    this.telemetry = new Telemetry(opts.accessLog === null ? undefined : (opts.accessLog ?? process.stdout));
    this.state = new ClusterStateRegistry(undefined);
  }

  /** Validates and applies `config`, binds everything; throws the NACK error if the config is refused. */
  static async start(config: unknown, opts: ProxyOptions = {}): Promise<Proxy> {
    const p = new Proxy(opts);
    if (opts.dnsServers?.length) proxyDns.setServers(opts.dnsServers);
    if (opts.guardProcess) {
      const errors = p.telemetry.metrics.internalErrors;
      p.unguard = installLastResortGuard({ log: p.log, count: (kind) => errors.labels(kind).inc() });
    }
    const r = await p.applyConfig(config);
    if (!r.ok) {
      p.closeIdentity();
      p.unguard?.();
      throw new ProxyConfigRejected(r.errors);
    }
    const cfg = p.runtime.config;
    if (opts.adminTokenFile) p.writeAdminToken(opts.adminTokenFile);
    try {
      p.admin = await startAdminServer(p.adminView(), opts.adminPort ?? cfg.admin?.port ?? ProxyPorts.admin, {
        token: p.adminToken,
        file: p.adminTokenFile,
      });
      p.telemetryServer = await startTelemetryServer(
        p.adminView(),
        opts.telemetryAddress ?? cfg.telemetry?.address ?? '0.0.0.0',
        opts.telemetryPort ?? cfg.telemetry?.port ?? ProxyPorts.telemetry,
      );
    } catch (err) {
      await p.close();
      throw err;
    }
    return p;
  }

  private writeAdminToken(file: string): void {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, this.adminToken + '\n', { mode: 0o600 });
      chmodSync(file, 0o600); // an older file keeps its mode on rewrite
      this.adminTokenFile = file;
    } catch (err) {
      this.log.warn('cannot write the admin token file: the mutating admin endpoints are usable only in this process', {
        file,
        error: (err as Error).message,
      });
    }
  }

  // ---- ProxyContext ----
  current(): Runtime {
    return this.runtime;
  }
  mesh(): MeshTls | undefined {
    return this.meshTls;
  }
  get draining(): boolean {
    return this.drainingFlag;
  }
  requestStarted(inbound: boolean): void {
    this.drainTracker.started();
    this.telemetry.metrics.activeRequests.inc();
    if (inbound) {
      this.inboundActive++;
      this.inboundLastStart = performance.now();
    }
  }
  requestFinished(inbound: boolean): void {
    this.drainTracker.finished();
    this.telemetry.metrics.activeRequests.dec();
    if (inbound) this.inboundActive--;
  }

  /**
   * Inbound requests and TCP streams (for the local app) in flight, and when the last one started
   * (`performance.now()`; 0: none yet): a terminating pod's sidecar waits until its peers stopped sending.
   */
  get inbound(): { readonly inFlight: number; readonly lastStartedAt: number } {
    return { inFlight: this.inboundActive, lastStartedAt: this.inboundLastStart };
  }

  /**
   * Stops accepting inbound connections (its app has exited: a peer still sending here now gets a
   * refused connection, which it retries elsewhere whatever the method) and closes idle inbound
   * connections; requests in flight finish, outbound listeners are untouched. Later configs bind no
   * inbound listener.
   */
  async stopInbound(): Promise<void> {
    this.inboundStopped = true;
    const inbound = [...this.handles.values()].filter((h) => h.cfg.direction === 'inbound');
    for (const h of inbound) h.drain();
    await Promise.all(inbound.map((h) => h.stopAccepting()));
  }

  /** Requests and TCP streams in flight (both directions), for a graceful stop. */
  get inFlight(): number {
    return this.drainTracker.inFlight;
  }

  /** The version of the config serving now. */
  get version(): string {
    return this.runtime?.version ?? '';
  }

  /** The bound port of a listener (after port 0). */
  listenerPort(name: string): number {
    for (const h of this.handles.values()) if (h.cfg.name === name) return h.port;
    throw new Error(`no listener named ${name}`);
  }

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  get telemetryPort(): number {
    return this.telemetryServer?.port ?? 0;
  }

  /** Applies a config (serialised with other applies). Never throws: the result is the ACK/NACK. */
  applyConfig(config: unknown, source?: 'stream'): Promise<ApplyResult> {
    const run = this.applying.then(() => this.applyNow(config, source));
    this.applying = run.catch(() => undefined);
    return run;
  }

  /**
   * Records a config that never reached `applyConfig` (a file that does not parse) as rejected,
   * so /config_dump and the metrics show it like any NACK.
   */
  noteRejected(version: string, errors: string[]): ApplyResult {
    this.lastRejected = { version, error: errors.join('; '), at: new Date().toISOString() };
    this.telemetry.metrics.configApplies.labels('rejected').inc();
    this.log.warn('config rejected, keeping the last good config', { version, errors });
    return { ok: false, version, error: errors.join('; '), errors };
  }

  private async applyNow(input: unknown, source: 'stream' | undefined): Promise<ApplyResult> {
    const version =
      typeof (input as { version?: unknown })?.version === 'string'
        ? (input as { version: string }).version
        : 'unversioned';
    const nack = (errors: string[]): ApplyResult => this.noteRejected(version, errors);
    const v = await validateProxyConfigLazily(input);
    if (!v.ok) return nack(v.errors);
    const config = v.config;
    try {
      this.ensureIdentity(config.identity);
    } catch (err) {
      return nack([(err as Error).message]);
    }
    try {
      if (config.telemetry?.accessLogFilter !== undefined) compileLogFilter(config.telemetry.accessLogFilter);
    } catch (err) {
      return nack([`telemetry.accessLogFilter: ${(err as Error).message}`]);
    }
    for (const [i, o] of (config.telemetry?.metrics?.overrides ?? []).entries()) {
      for (const t of o.tags ?? []) {
        try {
          if (t.value !== undefined) compileTagValue(t.value);
        } catch (err) {
          return nack([`telemetry.metrics.overrides[${i}] tag ${t.name}: ${(err as Error).message}`]);
        }
      }
    }
    let runtime: Runtime;
    try {
      this.state.beginBuild();
      runtime = new Runtime(config, nodeInfo(config, this.meshTls?.current.summary.spiffeId), this.state, this.keyMiss);
    } catch (err) {
      return nack([`building the runtime failed: ${(err as Error).message}`]);
    }
    const wanted = new Map(config.listeners.map((l) => [ListenerHandle.key(l), l]));
    const added: ListenerHandle[] = [];
    // Listeners this config retires whose port a new listener needs (0.0.0.0:15001 becoming [::]:15001):
    // they give the port up before the swap and take it back if the config is refused.
    const released: ListenerHandle[] = [];
    for (const [key, l] of wanted) {
      if (this.handles.has(key) || (this.inboundStopped && l.direction === 'inbound')) continue;
      const h = new ListenerHandle(this, l, this.opts.resolveOriginalDst ?? localAddressAsDestination);
      try {
        await h.listen().catch(async (err: NodeJS.ErrnoException) => {
          const holders =
            l.port === 0 || err.code !== 'EADDRINUSE'
              ? []
              : [...this.handles]
                  .filter(([k, old]) => !wanted.has(k) && old.cfg.port === l.port && old.listening)
                  .map(([, old]) => old);
          if (holders.length === 0) throw err;
          for (const old of holders) old.releasePort();
          released.push(...holders);
          return h.listen();
        });
      } catch (err) {
        for (const a of added) await a.stopAccepting();
        for (const old of released)
          await old.listen().catch((e: Error) =>
            this.log.error('could not take a listener port back after a refused config', {
              listener: old.cfg.name,
              error: e.message,
            }),
          );
        return nack([
          `listeners[${config.listeners.indexOf(l)}]: cannot listen on ${l.address ?? ''}:${l.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        ]);
      }
      added.push(h);
    }
    // The swap: from here on new connections and requests see the new version.
    const previous = this.runtime as Runtime | undefined;
    this.runtime = runtime;
    // A kept listener whose chains now speak another protocol (a Server's proxyProtocol, a port
    // turned TCP): its open connections were read as the old one, so they drain as Envoy drains a
    // changed filter chain (idle ones close, busy ones after their response) and clients reconnect.
    for (const [key, h] of this.handles) {
      const next = wanted.get(key);
      if (previous && next && chainProtocols(previous, h.cfg.name) !== chainProtocols(runtime, next.name)) h.drain();
    }
    for (const h of added) this.handles.set(ListenerHandle.key(h.cfg), h);
    for (const [key, h] of this.handles) {
      if (wanted.has(key)) continue;
      this.handles.delete(key);
      void h.stopAccepting();
      h.drain();
      setTimeout(() => h.destroyAll(), runtime.drainPeriodMs).unref();
    }
    this.state.sweep(new Set(runtime.clusters.keys()));
    this.telemetry.configure(config.telemetry);
    this.appliedAt = new Date().toISOString();
    this.configHash = createHash('sha256').update(JSON.stringify(config)).digest('hex');
    if (source === 'stream') this.streamConfigHash = this.configHash;
    const m = this.telemetry.metrics;
    m.configVersion.reset();
    m.configVersion.labels(runtime.version).set(1);
    m.configApplies.labels('accepted').inc();
    this.log.info('config applied', { version: runtime.version });
    return { ok: true, version: runtime.version };
  }

  private ensureIdentity(cfg: IdentityConfig | undefined): void {
    const source = this.opts.identitySource;
    const key = source ? 'external' : cfg ? JSON.stringify(cfg) : '';
    if (key === this.identityKey) return;
    let next: IdentitySource | undefined = source;
    if (!source && cfg) next = new StaticIdentitySource(cfg, { watch: true });
    let mesh: MeshTls | undefined;
    try {
      mesh = next ? new MeshTls(next) : undefined;
    } catch (err) {
      if (next !== source) next?.close();
      throw new Error(`identity: the certificate or key is unusable: ${(err as Error).message}`);
    }
    this.closeIdentity();
    this.identitySource = next;
    this.identityKey = key;
    this.meshTls = mesh;
    this.state.setMesh(mesh);
    this.state.rotate();
    if (mesh) {
      const expiry = (): void => {
        const s = mesh.current.summary;
        this.telemetry.metrics.certExpiry.reset();
        this.telemetry.metrics.certExpiry.labels(s.spiffeId ?? 'unknown').set(s.expiresAtSeconds);
      };
      expiry();
      mesh.onRotate(() => {
        expiry();
        // New connections present the new certificate; open ones serve until a new one to the same peer
        // has connected, so peers that renew later (after a CA outage) lose nothing meanwhile.
        this.state.renewed();
        if (this.runtime) void this.applyConfig(this.runtime.config);
        this.log.info('workload certificate rotated', { spiffeId: mesh.current.summary.spiffeId });
      });
    }
  }

  private closeIdentity(): void {
    this.meshTls?.close();
    if (this.identitySource && this.identitySource !== this.opts.identitySource) this.identitySource.close();
  }

  /**
   * Drains: stops accepting, tells clients to go away (GOAWAY, Connection: close), waits for
   * in-flight requests up to the config's drainPeriod, then closes what is left.
   */
  drain(): Promise<void> {
    this.drainPromise ??= (async () => {
      this.drainingFlag = true;
      for (const h of this.handles.values()) {
        void h.stopAccepting();
        h.drain();
      }
      await this.drainTracker.idle(this.runtime.drainPeriodMs);
      for (const h of this.handles.values()) h.destroyAll();
    })();
    return this.drainPromise;
  }

  /** Drains, then closes the admin and telemetry servers and the pools. */
  async close(): Promise<void> {
    if (this.runtime) await this.drain();
    this.telemetry.close();
    this.admin?.server.closeAllConnections();
    this.telemetryServer?.server.closeAllConnections();
    await Promise.all(
      [this.admin, this.telemetryServer].map((s) =>
        s ? new Promise<void>((r) => s.server.close(() => r())) : undefined,
      ),
    );
    this.state.close();
    this.closeIdentity();
    this.unguard?.();
  }

  private adminView(): AdminView {
    return {
      log: this.log,
      readiness: () =>
        this.drainingFlag
          ? { ready: false, state: 'DRAINING' }
          : this.runtime
            ? { ready: true, state: 'LIVE' }
            : { ready: false, state: 'PRE_INITIALIZING' },
      configDump: () => ({
        version: this.version,
        appliedAt: this.appliedAt,
        lastRejected: this.lastRejected ?? null,
        configHash: this.configHash,
        streamConfigHash: this.streamConfigHash,
        config: redact(this.runtime.config),
      }),
      configHash: () => ({ configHash: this.configHash, streamConfigHash: this.streamConfigHash }),
      clusters: () => describeClusters(this.runtime, Date.now()),
      listeners: () => describeListeners(this.runtime, this.handles),
      routes: () => this.runtime.config.routes ?? [],
      certs: () => {
        const m = this.meshTls;
        if (!m) return { identity: null };
        const s = m.current.summary;
        return {
          identity: {
            spiffeId: s.spiffeId ?? null,
            serialNumber: s.serialNumber,
            validFrom: s.validFrom,
            validTo: s.validTo,
            issuer: s.issuer,
          },
          trustRoots: m.current.trustRoots,
          roots: m.current.roots,
          generation: m.current.generation,
        };
      },
      prometheus: () => this.telemetry.metrics.exposition(),
      statsJson: () => Promise.resolve(this.telemetry.metrics.registry.getMetricsAsJSON()),
      applyConfig: (c) => this.applyConfig(c),
      startDrain: () => void this.drain(),
      quit: () => {
        void this.close().then(() => this.opts.onQuit?.());
      },
    };
  }
}

/** The identity section names files, not secrets, so the dump shows it as is; keys are never read into it. */
function redact(config: ProxyConfig): ProxyConfig {
  return config;
}

/** The initial config was refused: carries every problem with its field path. */
export class ProxyConfigRejected extends Error {
  constructor(readonly errors: readonly string[]) {
    super(`proxy config is invalid:\n  ${errors.join('\n  ')}`);
  }
}

/** The protocols and TLS modes of a listener's chains, to tell whether its connections may stay. */
function chainProtocols(runtime: Runtime, listener: string): string {
  const l = runtime.listeners.get(listener);
  return l ? l.chains.map((c) => `${c.protocol}/${c.tls}`).join(',') : '';
}
