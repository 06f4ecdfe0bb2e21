/**
 * Per-type sync state of one proxy, as the control plane records it, and the status `proxy-status`
 * shows (Istio's words): NOT SENT (nothing sent yet), STALE (sent, not yet acknowledged), SYNCED
 * (the last response was ACKed), NACKED (the proxy rejected the last response; the reason is kept),
 * and DIVERGED, which only the proxy can tell (its admin API's /config_hash): it runs a config other
 * than the one the stream delivered.
 */

/** What was sent and answered for one resource type on one proxy's stream. */
export interface TypeSyncState {
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: string;
  ackedVersion?: string;
  ackedNonce?: string;
  ackedAt?: string;
  /** The last NACK: which response (nonce), the version the proxy kept, and its reason. */
  lastNack?: { nonce: string; keptVersion: string; message: string; at: string };
}

/** The four states of proxy-status. */
export type SyncStatus = 'SYNCED' | 'STALE' | 'NOT SENT' | 'NACKED';

/** Derives the status of one type from its recorded state. */
export function deriveSyncStatus(state: TypeSyncState | undefined): SyncStatus {
  if (!state?.sentNonce) return 'NOT SENT';
  if (state.lastNack && state.lastNack.nonce === state.sentNonce) return 'NACKED';
  if (state.ackedNonce === state.sentNonce) return 'SYNCED';
  return 'STALE';
}

/** A proxy's /config_hash answer: the config in force and the last config its stream delivered. */
export interface ConfigHashes {
  configHash?: string;
  /** null when no control-plane stream manages the proxy */
  streamConfigHash?: string | null;
}

/** Whether a proxy runs a config other than the one its stream delivered (changed through its admin API). */
export function isDiverged(h: ConfigHashes | undefined): boolean {
  return Boolean(h?.configHash && h.streamConfigHash && h.configHash !== h.streamConfigHash);
}
