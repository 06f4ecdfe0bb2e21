/** What the admin and telemetry servers read from the proxy: a narrow view, so they stay testable. */
import type { ProxyLog } from '../../ground/log.js';

/** The outcome of applying a config: the ACK or NACK the control plane sees. */
export type ApplyResult =
  { ok: true; version: string } | { ok: false; version: string; error: string; errors: string[] };

/** The proxy as the admin API sees it. */
export interface AdminView {
  readonly log: ProxyLog;
  readiness(): { ready: boolean; state: string };
  configDump(): unknown;
  /**
   * A hash of the config in force, and of the config the control-plane stream last sent (null when
   * no stream manages this proxy): they differ when the config was changed another way (admin API).
   */
  configHash(): { configHash: string; streamConfigHash: string | null };
  clusters(): unknown;
  listeners(): unknown;
  routes(): unknown;
  certs(): unknown;
  prometheus(): Promise<string>;
  statsJson(): Promise<unknown>;
  applyConfig(config: unknown): Promise<ApplyResult>;
  startDrain(): void;
  quit(): void;
}
