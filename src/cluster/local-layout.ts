/**
 * The local platform's files under `$MESHCTL_HOME` (default ~/.meshctl): the contract between the
 * control plane daemon (control-plane/daemon.ts), which owns and writes them, and the local backend
 * (cluster/local/), which reads the state file to find it and the admin token to talk to it. It sits
 * beside the interface, not in the backend, so the daemon reaches it without a backend's internals.
 */
import { join } from 'node:path';

/** Paths of the local mesh's state. */
export interface LocalLayout {
  readonly home: string;
  /** CA certificate and key (0600 files in a 0700 directory). */
  readonly caDir: string;
  /** The mesh root certificate, readable by workloads (public). */
  readonly caRoot: string;
  /** Hashes of workload tokens. */
  readonly tokens: string;
  /** Config objects, one YAML file each. */
  readonly storeDir: string;
  readonly workloads: string;
  /** Where the running daemon says it listens (JSON, ControlPlaneState). */
  readonly state: string;
  /** The token the CLI presents to the daemon's API (0600). */
  readonly adminToken: string;
  readonly pidFile: string;
  readonly logDir: string;
  readonly logFile: string;
  /** Istio MeshConfig (JSON, 0600) that `install --local -f/--set meshConfig.*` writes and the daemon follows. */
  readonly meshConfig: string;
}

/** The layout under `home`. */
export function localLayout(home: string): LocalLayout {
  return {
    home,
    caDir: join(home, 'ca'),
    caRoot: join(home, 'ca-root.pem'),
    tokens: join(home, 'tokens.json'),
    storeDir: join(home, 'store'),
    workloads: join(home, 'workloads.json'),
    state: join(home, 'control-plane.json'),
    adminToken: join(home, 'admin-token'),
    pidFile: join(home, 'control-plane.pid'),
    logDir: join(home, 'logs'),
    logFile: join(home, 'logs', 'control-plane.log'),
    meshConfig: join(home, 'mesh-config.json'),
  };
}

/** What the daemon writes once it listens. */
export interface ControlPlaneState {
  readonly pid: number;
  /** The process's start time (see processStartTime), so a reused pid is not mistaken for it. */
  readonly processStart?: string;
  /** host:port of the config stream + CA (TLS). */
  readonly streamAddress: string;
  /** http://host:port of the debug/API server. */
  readonly apiUrl: string;
  readonly version: string;
  readonly startedAt: string;
}

/** The admin token file of a local sidecar (0600; written by `meshctl run`, read by meshctl). */
export function proxyAdminTokenFile(layout: LocalLayout, name: string, namespace: string): string {
  return join(layout.home, 'proxies', `${name}.${namespace}.admin-token`);
}
