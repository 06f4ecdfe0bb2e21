/**
 * After `meshctl apply`: waits until every connected proxy has answered the config push that
 * followed it (ACK or NACK), through the control plane's /debug/syncz on either platform, and
 * returns the refusals with their reasons. A reason names the config object behind the refused
 * resource and the file:line it was applied from (src/control-plane/push/pipeline.ts), so the user
 * learns at once which YAML a proxy would not take, rather than from a later `proxy-status`.
 */
import type { MeshPlatform } from './index.js';

interface SyncType {
  status?: string;
  lastNack?: { message: string };
}
interface Syncz {
  version: string;
  proxies: { proxy: { id: string }; types: Record<string, SyncType> }[];
}

/** One proxy's refusal of one config type. */
export interface ProxyRefusal {
  readonly proxy: string;
  /** `clusters`, `listeners`, `routes`, ... */
  readonly type: string;
  readonly message: string;
}

/** What the proxies answered: refusals, and the proxies that had not answered when the wait ended. */
export interface ProxyAnswers {
  readonly refusals: ProxyRefusal[];
  readonly pending: string[];
}

/** The control plane's config version now, or undefined when it cannot be asked (then apply does not wait). */
export async function configVersion(platform: MeshPlatform): Promise<string | undefined> {
  try {
    return (await platform.controlPlaneGet<Syncz>('/debug/syncz')).version;
  } catch {
    return undefined;
  }
}

/**
 * Polls until the version moved past `before` and no proxy has a response outstanding (STALE), or
 * until `timeoutMs`. NOT SENT types count as answered: nothing of that type is meant for the proxy.
 */
export async function awaitProxyAnswers(
  platform: MeshPlatform,
  before: string,
  timeoutMs: number,
  pollMs = 200,
): Promise<ProxyAnswers> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await platform.controlPlaneGet<Syncz>('/debug/syncz');
    const moved = s.version !== before;
    const pending = s.proxies
      .filter((p) => !moved || Object.values(p.types).some((t) => t.status === 'STALE'))
      .map((p) => p.proxy.id);
    if (s.proxies.length === 0 || (moved && pending.length === 0) || Date.now() >= deadline) {
      const refusals: ProxyRefusal[] = [];
      for (const p of s.proxies)
        for (const [typeUrl, t] of Object.entries(p.types))
          if (t.status === 'NACKED')
            refusals.push({
              proxy: p.proxy.id,
              type: typeUrl.slice(typeUrl.lastIndexOf('/') + 1),
              message: t.lastNack?.message ?? '(no reason given)',
            });
      return { refusals, pending: s.proxies.length === 0 ? [] : pending.sort() };
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
