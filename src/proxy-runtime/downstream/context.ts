/** What the data path needs from the proxy around it: the current runtime, telemetry, log, drain state. */
import type { ProxyLog } from '../ground/log.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { MeshTls } from '../ground/tls/contexts.js';
import type { Runtime } from '../http/config-version.js';

/** The proxy as the data path sees it. */
export interface ProxyContext {
  /** The runtime of the current config version (a request keeps the one it started with). */
  current(): Runtime;
  readonly telemetry: Telemetry;
  readonly log: ProxyLog;
  /** mTLS material, when the config has an identity */
  mesh(): MeshTls | undefined;
  /** true once draining started: finish what is in flight, close connections after it */
  readonly draining: boolean;
  /**
   * Counts requests and TCP streams in flight, so drain knows when it is done; `inbound` (those
   * arriving for the local app) also tell a terminating pod's sidecar when its peers stopped sending.
   */
  requestStarted(inbound: boolean): void;
  requestFinished(inbound: boolean): void;
}
