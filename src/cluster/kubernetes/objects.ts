/**
 * Generic object operations on any kind the API server serves: server-side apply (field manager
 * `meshctl`), get, list, delete. The REST path of a kind comes from API discovery, cached per
 * group/version and refreshed once when a kind is missing (a CRD that was just established).
 */
import { KubernetesApiError } from '../../errors.js';
import type { KubeRest } from './rest.js';

/** The field manager of everything meshctl applies. */
export const FIELD_MANAGER = 'meshctl';

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    ownerReferences?: { kind: string; name: string; uid?: string; controller?: boolean }[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** Names one object (or, without name, a collection). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name?: string;
  namespace?: string;
}

/** A list answer. */
export interface KubeList<T = KubeObject> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/** `deployment mesh-system/name`, for messages. */
export function describeRef(ref: ObjectRef): string {
  const kind = ref.kind.toLowerCase();
  if (!ref.name) return ref.namespace ? `${kind}s in namespace ${ref.namespace}` : `${kind}s`;
  return ref.namespace ? `${kind} ${ref.namespace}/${ref.name}` : `${kind} ${ref.name}`;
}

/** Options of apply. */
export interface ApplyOptions {
  /** Take ownership of fields another manager set (only where meshctl owns the field by design). */
  force?: boolean;
  /** Server-side dry run: validated and defaulted, not persisted. */
  dryRun?: boolean;
}

/** Options of delete. */
export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  gracePeriodSeconds?: number;
  /** Server-side dry run: admission and validation run, nothing is removed. */
  dryRun?: boolean;
}

/** Object operations over discovery. */
export class KubeObjects {
  private readonly discovery = new Map<string, Promise<ApiResource[]>>();

  constructor(readonly rest: KubeRest) {}

  private groupPath(apiVersion: string): string {
    return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  }

  private async resources(apiVersion: string, refresh: boolean): Promise<ApiResource[]> {
    let p = refresh ? undefined : this.discovery.get(apiVersion);
    if (!p) {
      p = this.rest
        .json<{ resources: ApiResource[] }>({ path: this.groupPath(apiVersion), what: `API ${apiVersion}` })
        .then((r) => r.resources.filter((x) => !x.name.includes('/')));
      this.discovery.set(apiVersion, p);
      p.catch(() => this.discovery.delete(apiVersion));
    }
    return p;
  }

  /** The REST resource of a kind: its plural and scope. */
  async resourceOf(apiVersion: string, kind: string): Promise<ApiResource> {
    let list: ApiResource[];
    try {
      list = await this.resources(apiVersion, false);
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 404) {
        throw new KubernetesApiError(
          `API ${apiVersion}`,
          404,
          'NotFound',
          'the cluster does not serve this API group/version',
          'install its CRDs (meshctl install), or check the apiVersion',
        );
      }
      throw err;
    }
    let found = list.find((r) => r.kind === kind);
    if (!found) found = (await this.resources(apiVersion, true)).find((r) => r.kind === kind);
    if (!found)
      throw new KubernetesApiError(
        `kind ${kind}`,
        404,
        'NotFound',
        `the cluster serves no ${kind} in ${apiVersion}`,
        'install its CRD, or check the kind and apiVersion',
      );
    return found;
  }

  /** Whether the cluster serves a kind (false for an unknown group/version or kind). */
  async serves(apiVersion: string, kind: string): Promise<boolean> {
    try {
      await this.resourceOf(apiVersion, kind);
      return true;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 404) return false;
      throw err;
    }
  }

  /** The REST path of an object, or of a collection when the ref has no name. */
  async pathOf(ref: ObjectRef): Promise<string> {
    const r = await this.resourceOf(ref.apiVersion, ref.kind);
    const ns = r.namespaced ? `/namespaces/${encodeURIComponent(ref.namespace ?? 'default')}` : '';
    return `${this.groupPath(ref.apiVersion)}${ns}/${r.name}${ref.name ? `/${encodeURIComponent(ref.name)}` : ''}`;
  }

  /** Server-side apply with field manager `meshctl`; returns the object as stored. */
  async apply<T extends KubeObject = KubeObject>(obj: KubeObject, opts: ApplyOptions = {}): Promise<T> {
    const ref = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
    };
    return this.rest.json<T>({
      method: 'PATCH',
      path: await this.pathOf(ref),
      query: {
        fieldManager: FIELD_MANAGER,
        force: opts.force ? true : undefined,
        dryRun: opts.dryRun ? 'All' : undefined,
      },
      contentType: 'application/apply-patch+yaml',
      body: obj,
      what: `applying ${describeRef(ref)}`,
    });
  }

  /** Creates an object; a 409 (already exists) throws KubernetesApiError with reason AlreadyExists. */
  async create<T extends KubeObject = KubeObject>(obj: KubeObject): Promise<T> {
    const ref = { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace };
    return this.rest.json<T>({
      method: 'POST',
      path: await this.pathOf(ref),
      query: { fieldManager: FIELD_MANAGER },
      body: obj,
      what: `creating ${describeRef({ ...ref, name: obj.metadata.name })}`,
    });
  }

  /** Reads an object; `undefined` when it does not exist. */
  async get<T extends KubeObject = KubeObject>(ref: ObjectRef & { name: string }): Promise<T | undefined> {
    return this.rest.jsonOrUndefined<T>({ path: await this.pathOf(ref), what: `reading ${describeRef(ref)}` });
  }

  /** The REST path of a collection; without namespace, a namespaced kind across all namespaces (for list and watch). */
  async collectionPath(ref: Omit<ObjectRef, 'name'>): Promise<string> {
    const r = await this.resourceOf(ref.apiVersion, ref.kind);
    const ns = r.namespaced && ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : '';
    return `${this.groupPath(ref.apiVersion)}${ns}/${r.name}`;
  }

  /** Lists objects (every page); without namespace a namespaced kind is listed across all namespaces. */
  async list<T extends KubeObject = KubeObject>(
    ref: Omit<ObjectRef, 'name'>,
    opts: { labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<KubeList<T>> {
    const path = await this.collectionPath(ref);
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.rest.json<KubeList<T>>({
        path,
        query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: 500, continue: cont },
        what: `listing ${describeRef(ref)}`,
      });
      // List items carry no apiVersion/kind; put them back so callers can treat items as objects.
      for (const it of page.items ?? []) items.push({ ...it, apiVersion: ref.apiVersion, kind: ref.kind });
      cont = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion;
    } while (cont);
    return { metadata: { resourceVersion }, items };
  }

  /** Deletes an object; false when it was already gone. Background propagation unless told otherwise. */
  async delete(ref: ObjectRef & { name: string }, opts: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.rest.json({
        method: 'DELETE',
        path: await this.pathOf(ref),
        // With a body, the API server reads the delete options from it alone (query parameters are ignored).
        body: {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          propagationPolicy: opts.propagationPolicy ?? 'Background',
          ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
          ...(opts.dryRun ? { dryRun: ['All'] } : {}),
        },
        what: `deleting ${describeRef(ref)}`,
      });
      return true;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 404) return false;
      throw err;
    }
  }
}
