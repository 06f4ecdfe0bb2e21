/**
 * The wait both `meshctl run` and `meshctl gateway run` do after connecting a proxy: until its first
 * listeners are applied (it serves from then on), refused (the control plane sent config it cannot
 * apply), or the deadline passes.
 */
import { PlatformUnavailableError } from '../../errors.js';

/** What the wait reads of the proxy's listener type on its config stream. */
export interface ListenerSyncState {
  readonly appliedVersion?: string | undefined;
  readonly lastError?: string | undefined;
}

/** Resolves once the first listeners are applied; throws PlatformUnavailableError when refused or late. */
export async function awaitFirstConfig(
  state: () => ListenerSyncState | undefined,
  o: { what: string; from: string; timeoutMs: number; refusedHint: string },
): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const st = state();
    if (st?.appliedVersion) return;
    if (st?.lastError)
      throw new PlatformUnavailableError(`the ${o.what} refused its config: ${st.lastError}`, o.refusedHint);
    if (Date.now() > deadline)
      throw new PlatformUnavailableError(
        `the ${o.what} got no config from ${o.from} within ${o.timeoutMs / 1000}s`,
        "check the control plane with 'meshctl check'",
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}
