/**
 * The config store: the mesh resources users applied (Istio, Linkerd, SMI kinds, and Kubernetes
 * Services on the local platform). Every object is validated with src/config before it is
 * accepted; an apply with any invalid object changes nothing. The local implementation keeps one
 * YAML file per object, written atomically, so the state survives restarts and can be read by eye.
 */
import { EventEmitter } from 'node:events';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigInvalidError } from '../../errors.js';
import {
  formatIssue,
  splitApiVersion,
  validateResource,
  type CoreObject,
  type MeshResource,
  type ResourceInput,
} from '../../config/index.js';
import { writeFileAtomic } from '../atomic-file.js';
import type { ConfigKey } from '../push/snapshot.js';

/** What the store holds: mesh resources, and (local platform) Kubernetes Service objects. */
export type StoredObject = MeshResource | CoreObject;

/** Whether a stored object is a core Service (registry input) rather than a mesh resource (config). */
export function isServiceObject(o: StoredObject): o is CoreObject {
  return o.kind === 'Service' && splitApiVersion(o.apiVersion).group === '';
}

/** A stored object's full key: API group too, since two groups define an AuthorizationPolicy. */
export interface StoreKey extends ConfigKey {
  readonly group: string;
}

/** A stored mesh resource. */
function isMeshResource(o: StoredObject): o is MeshResource {
  return !isServiceObject(o);
}

/** What happened to one object of an apply or delete. */
export interface StoreOutcome {
  readonly key: StoreKey;
  readonly apiVersion: string;
  readonly action: 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found';
}

/** Storage of config objects; emits 'change' with the keys that changed. */
export interface ConfigStore extends EventEmitter {
  list(filter?: { kind?: string; namespace?: string; group?: string }): StoredObject[];
  get(key: StoreKey): StoredObject | undefined;
  /** Validates every input, then stores them all; throws ConfigInvalidError (and stores nothing) if any is invalid. */
  apply(inputs: readonly ResourceInput[], opts: { defaultNamespace: string }): Promise<StoreOutcome[]>;
  delete(keys: readonly StoreKey[]): Promise<StoreOutcome[]>;
}

/** The key of an object. */
export function storeKeyOf(obj: StoredObject): StoreKey {
  return {
    group: splitApiVersion(obj.apiVersion).group,
    kind: obj.kind,
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name ?? '',
  };
}

function keyString(k: StoreKey): string {
  return `${k.group || 'core'}/${k.kind}/${k.namespace}/${k.name}`;
}

/** Validates inputs as the store accepts them: mesh kinds, Services and Secrets; returns the typed objects or every problem. */
export function validateForStore(
  inputs: readonly ResourceInput[],
  defaultNamespace: string,
): { objects: StoredObject[]; problems: string[] } {
  const objects: StoredObject[] = [];
  const problems: string[] = [];
  for (const input of inputs) {
    const r = validateResource(input, { defaultNamespace });
    const where = (): string => {
      const pos = input.document?.positionOf(input.path ?? []);
      return pos ? `${pos.file}:${pos.line}:${pos.column}: ` : '';
    };
    const subject = `${r.identity.kind} ${r.identity.namespace ? `${r.identity.namespace}/` : ''}${r.identity.name}`;
    if (r.errors.length) {
      for (const e of r.errors) problems.push(`${subject}: ${formatIssue(e)}`);
      continue;
    }
    if (r.core) {
      // Secrets hold gateway certificates (credentialName) and TLS origination credentials.
      if (r.core.role !== 'service' && r.core.role !== 'secret') {
        problems.push(
          `${where()}${subject}: a ${r.core.kind} is not mesh config; on the local platform, start workloads with 'meshctl run' (Services, Secrets and mesh kinds are accepted)`,
        );
        continue;
      }
      if (r.coreObject) objects.push(r.coreObject);
      continue;
    }
    if (!r.kind || !r.resource) {
      problems.push(
        `${where()}${subject}: unknown kind ${r.identity.apiVersion} ${r.identity.kind}; run 'meshctl get --help' for the kinds the mesh understands`,
      );
      continue;
    }
    objects.push(r.resource);
  }
  const seen = new Map<string, number>();
  objects.forEach((o, i) => {
    const k = keyString(storeKeyOf(o));
    if (seen.has(k))
      problems.push(`${o.kind} ${o.metadata.namespace}/${o.metadata.name} appears twice in the input; keep one`);
    seen.set(k, i);
  });
  return { objects, problems };
}

/** Config objects as YAML files under a directory: `<group>/<Kind>/<namespace>/<name>.yaml`. */
export class FileConfigStore extends EventEmitter implements ConfigStore {
  private readonly objects = new Map<string, StoredObject>();
  private yaml: { parse(text: string, file: string): unknown; stringify(value: unknown): string } | undefined;
  // Writes are serialised so two applies never interleave their files.
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {
    super();
  }

  /** Opens the store, loading what is on disk; files that no longer validate are reported through `warn` and skipped. */
  static async open(dir: string, warn: (line: string) => void = () => undefined): Promise<FileConfigStore> {
    const store = new FileConfigStore(dir);
    // Read and written as Kubernetes reads YAML (1.1 scalars), like every YAML the CLI reads.
    const [{ parseYamlValue }, { stringifyForKubernetes }] = await Promise.all([
      import('../../config/documents.js'),
      import('../../ui/kube-yaml.js'),
    ]);
    store.yaml = { parse: parseYamlValue, stringify: (v) => stringifyForKubernetes(v) };
    for (const file of await listYamlFiles(dir)) {
      let obj: unknown;
      try {
        obj = store.yaml.parse(await readFile(file, 'utf8'), file);
      } catch (err) {
        warn(`${file}: not readable YAML, skipped (${(err as Error).message})`);
        continue;
      }
      const { objects, problems } = validateForStore([{ object: obj }], 'default');
      if (problems.length || !objects[0]) {
        warn(`${file}: no longer valid, skipped: ${problems.join('; ')}`);
        continue;
      }
      store.objects.set(keyString(storeKeyOf(objects[0])), objects[0]);
    }
    return store;
  }

  list(filter: { kind?: string; namespace?: string; group?: string } = {}): StoredObject[] {
    return [...this.objects.values()]
      .filter(
        (o) =>
          (!filter.kind || o.kind === filter.kind) &&
          (!filter.namespace || o.metadata.namespace === filter.namespace) &&
          (filter.group === undefined || splitApiVersion(o.apiVersion).group === filter.group),
      )
      .sort((a, b) => keyString(storeKeyOf(a)).localeCompare(keyString(storeKeyOf(b))));
  }

  get(key: StoreKey): StoredObject | undefined {
    return this.objects.get(keyString(key));
  }

  /** The mesh resources (config the generators read), sorted. */
  meshResources(): MeshResource[] {
    return this.list().filter(isMeshResource);
  }

  /** The Service objects (the registry's services on the local platform), sorted. */
  serviceObjects(): CoreObject[] {
    return this.list().filter(isServiceObject);
  }

  apply(inputs: readonly ResourceInput[], opts: { defaultNamespace: string }): Promise<StoreOutcome[]> {
    return this.serialised(async () => {
      const { objects, problems } = validateForStore(inputs, opts.defaultNamespace);
      if (problems.length)
        throw new ConfigInvalidError(
          'the config',
          problems,
          'nothing was applied; fix the fields named above and apply again',
        );
      const outcomes: StoreOutcome[] = [];
      const changed: StoreKey[] = [];
      for (const obj of objects) {
        const key = storeKeyOf(obj);
        const previous = this.objects.get(keyString(key));
        const text = this.yaml!.stringify(obj);
        if (previous && this.yaml!.stringify(previous) === text) {
          outcomes.push({ key, apiVersion: obj.apiVersion, action: 'unchanged' });
          continue;
        }
        await writeFileAtomic(this.fileOf(key), text, 0o600);
        this.objects.set(keyString(key), obj);
        changed.push(key);
        outcomes.push({ key, apiVersion: obj.apiVersion, action: previous ? 'configured' : 'created' });
      }
      if (changed.length) this.emit('change', changed);
      return outcomes;
    });
  }

  delete(keys: readonly StoreKey[]): Promise<StoreOutcome[]> {
    return this.serialised(async () => {
      const outcomes: StoreOutcome[] = [];
      const changed: StoreKey[] = [];
      for (const key of keys) {
        const existing = this.objects.get(keyString(key));
        if (!existing) {
          outcomes.push({ key, apiVersion: '', action: 'not found' });
          continue;
        }
        await rm(this.fileOf(key), { force: true });
        this.objects.delete(keyString(key));
        changed.push(key);
        outcomes.push({ key, apiVersion: existing.apiVersion, action: 'deleted' });
      }
      if (changed.length) this.emit('change', changed);
      return outcomes;
    });
  }

  private fileOf(key: StoreKey): string {
    return join(this.dir, key.group || 'core', key.kind, key.namespace, `${key.name}.yaml`);
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

async function listYamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const e of entries)
    if (e.isFile() && e.name.endsWith('.yaml') && !e.name.startsWith('.')) out.push(join(e.parentPath, e.name));
  return out.sort();
}
