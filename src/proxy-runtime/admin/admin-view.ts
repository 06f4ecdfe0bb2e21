/** What the admin and telemetry servers read from the proxy: a narrow view, so they stay testable. */
import type { ProxyLog } from '../log.js';

/** The outcome of applying a config: the ACK or NACK the control plane sees. */
export type ApplyResult = { ok: true; version: string } | { ok: false; version: string; error: string; errors: string[] };

/** The proxy as the admin API sees it. */
export interface AdminView {
  readonly log: ProxyLog;
  readiness(): { ready: boolean; state: string };
  configDump(): unknown;
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
