/**
 * An informer for one kind: list, then watch from the list's resourceVersion, as client-go's reflector.
 * - The watch is re-opened from the last seen resourceVersion when the server ends it (timeoutSeconds).
 * - 410 Gone (the version left etcd's window) or an ERROR event with code 410: full relist.
 * - Resync: every `resyncMs` a full relist replaces the cache, so a missed event cannot live forever.
 * - Any other failure (API down, kind not served yet because its CRD is missing): retried with
 *   exponential backoff (1 s .. 30 s), the cache kept meanwhile.
 * Changes reach `onEvent` as ADDED / MODIFIED / DELETED, also those found by a relist.
 */
import type { IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import type { KubeObject, KubeObjects } from '../../cluster/index.js';
import { KubernetesApiError } from '../../errors.js';

/** What happened to an object. */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Options of one informer. */
export interface ListWatchOptions<T extends KubeObject> {
  apiVersion: string;
  kind: string;
  /** One namespace; all when absent. */
  namespace?: string;
  labelSelector?: string;
  /** Full relist period (default 5 minutes). */
  resyncMs?: number;
  /** Server-side watch timeout, after which the watch is re-opened (default 240 s). */
  watchTimeoutSeconds?: number;
  onEvent: (type: WatchEventType, obj: T) => void;
  log?: (line: string) => void;
}

class GoneError extends Error {}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** A running informer with its cache. */
export class ListWatch<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  private resourceVersion = '';
  private stopped = false;
  private current: IncomingMessage | undefined;
  private resyncDue = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private firstAttempt: Promise<void>;
  private settleFirst!: () => void;
  private lastError = '';
  /** Whether a list has succeeded at least once. */
  synced = false;
  /**
   * The last list or watch failed with 404: the API server does not serve this kind (its CRD is not
   * installed). Unlike a refusal or an outage, waiting a few seconds will not change that.
   */
  notServed = false;
  /** How many full lists ran (initial, relists after 410, resyncs). */
  lists = 0;

  constructor(
    private readonly objects: KubeObjects,
    private readonly opts: ListWatchOptions<T>,
  ) {
    this.firstAttempt = new Promise((r) => (this.settleFirst = r));
  }

  /** `VirtualService (networking.istio.io/v1)`, for logs. */
  get description(): string {
    return `${this.opts.kind} (${this.opts.apiVersion})`;
  }

  /** Starts; resolves once the first list succeeded or failed (a failing kind keeps retrying in the background). */
  start(): Promise<void> {
    void this.loop();
    const resyncMs = this.opts.resyncMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => {
      this.resyncDue = true;
      this.current?.destroy();
    }, resyncMs);
    this.resyncTimer.unref();
    return this.firstAttempt;
  }

  /** Stops watching; the cache stays readable. */
  stop(): void {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.current?.destroy();
    this.wake?.();
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.store.values()];
  }

  /** One cached object. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(`${namespace ?? ''}/${name}`);
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async loop(): Promise<void> {
    let backoff = 0;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion || this.resyncDue) await this.relist();
        this.settleFirst();
        await this.watchOnce();
        backoff = 0;
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof GoneError) {
          this.opts.log?.(`${this.description}: watch expired (410 Gone); relisting`);
          this.resourceVersion = '';
          continue;
        }
        this.settleFirst();
        this.notServed = err instanceof KubernetesApiError && err.status === 404;
        const message = (err as Error).message;
        // The same failure repeated (a CRD not installed yet) is logged once, not every retry.
        if (message !== this.lastError) this.opts.log?.(`${this.description}: ${message}; retrying with backoff`);
        this.lastError = message;
        backoff = Math.min(backoff ? backoff * 2 : MIN_BACKOFF_MS, MAX_BACKOFF_MS);
        await this.sleep(backoff);
      }
    }
  }

  private async relist(): Promise<void> {
    this.resyncDue = false;
    const list = await this.objects.list<T>(
      { apiVersion: this.opts.apiVersion, kind: this.opts.kind, namespace: this.opts.namespace },
      { labelSelector: this.opts.labelSelector },
    );
    this.lists++;
    const seen = new Set<string>();
    for (const obj of list.items) {
      const key = keyOf(obj);
      seen.add(key);
      const old = this.store.get(key);
      this.store.set(key, obj);
      if (!old) this.opts.onEvent('ADDED', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.opts.onEvent('MODIFIED', obj);
    }
    for (const [key, old] of [...this.store]) {
      if (seen.has(key)) continue;
      this.store.delete(key);
      this.opts.onEvent('DELETED', old);
    }
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    this.synced = true;
    this.lastError = '';
  }

  private async watchOnce(): Promise<void> {
    const path = await this.objects.collectionPath({
      apiVersion: this.opts.apiVersion,
      kind: this.opts.kind,
      namespace: this.opts.namespace,
    });
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 240;
    const res = await this.objects.rest.open({
      path,
      query: {
        watch: 1,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        labelSelector: this.opts.labelSelector,
      },
      // The server closes the watch after timeoutSeconds; allow for that plus slack before calling it dead.
      timeoutMs: (timeoutSeconds + 30) * 1000,
      what: `watching ${this.description}`,
    });
    if (res.statusCode === 410) {
      res.resume();
      throw new GoneError();
    }
    if (res.statusCode !== 200) {
      throw await this.objects.rest.errorFromResponse({ path, what: `watching ${this.description}` }, res);
    }
    this.current = res;
    if (this.stopped || this.resyncDue) res.destroy();
    let failure: Error | undefined;
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as { type: string; object: T & { code?: number; message?: string } };
        if (event.type === 'ERROR') {
          failure =
            event.object.code === 410
              ? new GoneError()
              : new Error(`watch error ${event.object.code ?? ''}: ${event.object.message ?? 'unknown'}`);
          res.destroy();
          break;
        }
        const obj = event.object;
        if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (event.type === 'BOOKMARK') continue;
        if (!obj.metadata) continue;
        // Watch events carry apiVersion/kind of the requested version; keep them uniform with lists.
        const typed = { ...obj, apiVersion: this.opts.apiVersion, kind: this.opts.kind } as T;
        const key = keyOf(typed);
        if (event.type === 'DELETED') {
          this.store.delete(key);
          this.opts.onEvent('DELETED', typed);
        } else if (event.type === 'ADDED' || event.type === 'MODIFIED') {
          const existed = this.store.has(key);
          this.store.set(key, typed);
          this.opts.onEvent(existed ? 'MODIFIED' : 'ADDED', typed);
        }
      }
    } catch (err) {
      // A destroyed stream (stop, resync) ends the iteration with an error: not a failure.
      if (!this.stopped && !this.resyncDue && !failure) failure = err as Error;
    } finally {
      this.current = undefined;
    }
    if (failure) throw failure;
  }
}
