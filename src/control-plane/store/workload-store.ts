/**
 * Workloads registered on the local platform (`meshctl run`), persisted in one `0600` JSON file so
 * a restarted control plane still knows its endpoints. Emits 'change' with the workload's key.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import type { WorkloadRecord } from '../registry/model.js';

/** A registered workload with when it registered. */
export interface RegisteredWorkload extends WorkloadRecord {
  readonly registeredAt: string;
}

/** Workload records in a JSON file. */
export class WorkloadStore extends EventEmitter {
  private readonly records = new Map<string, RegisteredWorkload>();

  private constructor(private readonly file: string) {
    super();
  }

  static async open(file: string): Promise<WorkloadStore> {
    const store = new WorkloadStore(file);
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { workloads?: RegisteredWorkload[] };
      // Records written before peersDialAddress existed: a captured local workload is dialed by address.
      for (const w of parsed.workloads ?? [])
        store.records.set(
          `${w.namespace}/${w.name}`,
          w.capture && w.peersDialAddress === undefined ? { ...w, peersDialAddress: true } : w,
        );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return store;
  }

  list(namespace?: string): RegisteredWorkload[] {
    return [...this.records.values()]
      .filter((w) => !namespace || w.namespace === namespace)
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  get(namespace: string, name: string): RegisteredWorkload | undefined {
    return this.records.get(`${namespace}/${name}`);
  }

  /** Adds or replaces a workload. */
  async register(record: WorkloadRecord): Promise<RegisteredWorkload> {
    const w: RegisteredWorkload = { ...record, registeredAt: new Date().toISOString() };
    this.records.set(`${w.namespace}/${w.name}`, w);
    await this.persist();
    this.emit('change', `${w.namespace}/${w.name}`);
    return w;
  }

  /** Marks a workload serving or not (an endpoint or not); false when it is not registered. */
  async setServing(namespace: string, name: string, serving: boolean): Promise<boolean> {
    const key = `${namespace}/${name}`;
    const w = this.records.get(key);
    if (!w) return false;
    if ((w.serving !== false) === serving) return true;
    this.records.set(key, { ...w, serving });
    await this.persist();
    this.emit('change', key);
    return true;
  }

  /** Removes a workload; false when it was not registered. */
  async unregister(namespace: string, name: string): Promise<boolean> {
    if (!this.records.delete(`${namespace}/${name}`)) return false;
    await this.persist();
    this.emit('change', `${namespace}/${name}`);
    return true;
  }

  private async persist(): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify({ workloads: [...this.records.values()] }, null, 2) + '\n', 0o600);
  }
}
