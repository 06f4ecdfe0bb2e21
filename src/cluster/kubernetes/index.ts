/**
 * The Kubernetes backend of the platform layer: one connected cluster (kubeconfig + context) with
 * the operations commands need: server-side apply, get/list/delete, readiness waits with per-pod
 * reasons, the API server's service/pod proxy, and the server version. Load it with `await import()`:
 * it pulls in @kubernetes/client-node.
 */
import { INJECTED_LABEL } from '../../protocol/well-known.js';
import { loadKubeconfig, type KubeconfigOptions, type LoadedKubeconfig } from './kubeconfig.js';
import {
  KubeObjects,
  type ApplyOptions,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type ObjectRef,
} from './objects.js';
import { proxyOpen, proxyText, type ProxyRequest, type ProxyTarget } from './proxy.js';
import { waitForDeployment, type PodLike, type WaitOptions } from './readiness.js';
import { KubeRest } from './rest.js';

export { loadKubeconfig, kubeconfigFiles, type KubeconfigOptions, type LoadedKubeconfig } from './kubeconfig.js';
export {
  FIELD_MANAGER,
  KubeObjects,
  describeRef,
  type ApplyOptions,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type ObjectRef,
} from './objects.js';
export { describeTarget, proxyOpen, proxyPath, proxyText, type ProxyRequest, type ProxyTarget } from './proxy.js';
export {
  deploymentReadiness,
  labelSelectorString,
  podProblem,
  podReady,
  pollUntil,
  waitForDeployment,
  type DeploymentReadiness,
  type PodLike,
  type WaitOptions,
} from './readiness.js';
export { KubeRest, readBody, type KubeRequest } from './rest.js';

/** The API server's version, as `kubectl version` shows it. */
export interface ServerVersion {
  major: number;
  minor: number;
  gitVersion: string;
}

/** A connected cluster. */
export class KubernetesCluster {
  readonly rest: KubeRest;
  readonly objects: KubeObjects;

  constructor(readonly config: LoadedKubeconfig) {
    this.rest = new KubeRest(config);
    this.objects = new KubeObjects(this.rest);
  }

  /** Loads the kubeconfig as kubectl does (--kubeconfig, KUBECONFIG, ~/.kube/config; --context). No request is sent yet. */
  static async connect(opts: KubeconfigOptions = {}): Promise<KubernetesCluster> {
    return new KubernetesCluster(await loadKubeconfig(opts));
  }

  /** `context "kind-x" (https://127.0.0.1:6443)`, for messages. */
  describe(): string {
    return `context "${this.config.contextName}" (${this.config.server})`;
  }

  /** The server's version; also the cheapest proof that the API server answers. */
  async serverVersion(): Promise<ServerVersion> {
    const v = await this.rest.json<{ major?: string; minor?: string; gitVersion?: string }>({
      path: '/version',
      what: 'reading the server version',
    });
    // Managed clusters report minors such as "29+".
    return {
      major: Number.parseInt(v.major ?? '0', 10),
      minor: Number.parseInt(v.minor ?? '0', 10),
      gitVersion: v.gitVersion ?? 'unknown',
    };
  }

  /** Server-side apply with field manager `meshctl`. */
  apply<T extends KubeObject = KubeObject>(obj: KubeObject, opts?: ApplyOptions): Promise<T> {
    return this.objects.apply<T>(obj, opts);
  }

  /** Reads one object (undefined when absent). */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef & { name: string }): Promise<T | undefined> {
    return this.objects.get<T>(ref);
  }

  /** Lists objects of a kind. */
  list<T extends KubeObject = KubeObject>(
    ref: Omit<ObjectRef, 'name'>,
    opts?: { labelSelector?: string; fieldSelector?: string },
  ): Promise<KubeList<T>> {
    return this.objects.list<T>(ref, opts);
  }

  /** Deletes one object; false when it was already gone. */
  delete(ref: ObjectRef & { name: string }, opts?: DeleteOptions): Promise<boolean> {
    return this.objects.delete(ref, opts);
  }

  /** Waits for a Deployment to be ready; the timeout error names each pod's reason. */
  waitForDeployment(namespace: string, name: string, opts: WaitOptions): Promise<void> {
    return waitForDeployment(this.objects, namespace, name, opts);
  }

  /** Pods that run the mesh's sidecar (label meshctl.dev/injected=true), in one namespace or all. */
  async injectedPods(namespace?: string): Promise<PodLike[]> {
    const list = await this.objects.list<PodLike>(
      { apiVersion: 'v1', kind: 'Pod', namespace },
      { labelSelector: `${INJECTED_LABEL}=true` },
    );
    return list.items.filter((p) => !p.metadata.deletionTimestamp);
  }

  /** A request to a Service or pod port through the API server proxy, read as text (non-2xx throws). */
  proxy(target: ProxyTarget, req: ProxyRequest): ReturnType<typeof proxyText> {
    return proxyText(this.rest, target, req);
  }

  /** The same, streaming: the caller consumes the response. */
  proxyStream(target: ProxyTarget, req: ProxyRequest): ReturnType<typeof proxyOpen> {
    return proxyOpen(this.rest, target, req);
  }
}
