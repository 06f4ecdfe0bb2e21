/**
 * A pod's proxy admin API, reached as istioctl reaches Envoy's (`pilot-agent request` through
 * `kubectl exec`): the admin API listens on 127.0.0.1 inside the pod, so the CLI runs
 * `meshctl proxy request METHOD PATH` in the proxy's container through the API server's pods/exec
 * (exec.ts). That command reads the pod's admin token from the pod's own 0600 file for a POST, so
 * the token never leaves the pod, and meshctl never sees it. Needs `create pods/exec` (as
 * `istioctl proxy-config log` needs it), in the pod's namespace.
 */
import { NotFoundError, PlatformUnavailableError } from '../../errors.js';
import { ProxyEnv } from '../../protocol/well-known.js';
import type { KubernetesCluster } from './index.js';
import type { KubeObject } from './objects.js';
import { execInPod } from './exec.js';

interface PodContainers extends KubeObject {
  spec?: {
    initContainers?: ContainerSpec[];
    containers?: ContainerSpec[];
  };
}

interface ContainerSpec {
  name: string;
  command?: string[];
  env?: { name: string; value?: string }[];
}

/** The image's entrypoint (Dockerfile: `ENTRYPOINT ["node", "/opt/meshctl/bin/meshctl"]`). */
const IMAGE_ENTRYPOINT = ['node', '/opt/meshctl/bin/meshctl'];

/**
 * The proxy's container in a pod: the one the injector (or install, for gateways) gave the
 * control plane's address, whatever its name (`mesh-proxy` in injected pods, `gateway` in gateways).
 */
export function proxyContainerOf(pod: PodContainers): ContainerSpec | undefined {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) =>
    (c.env ?? []).some((e) => e.name === ProxyEnv.controlPlaneAddress),
  );
}

/** Sends one admin request to the proxy of a pod through pods/exec; parses the JSON answer. */
export async function podAdminRequest<T>(
  cluster: KubernetesCluster,
  workload: { name: string; namespace: string },
  method: 'GET' | 'POST',
  path: string,
): Promise<T> {
  const id = `${workload.name}.${workload.namespace}`;
  const pod = await cluster.get<PodContainers>({
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: workload.namespace,
    name: workload.name,
  });
  if (!pod)
    throw new NotFoundError(`pod ${workload.namespace}/${workload.name}`, "list proxies with 'meshctl proxy-status'");
  const container = proxyContainerOf(pod);
  if (!container)
    throw new NotFoundError(
      `a mesh proxy in pod ${workload.namespace}/${workload.name}`,
      'inject the workload (meshctl inject, or label its namespace meshctl.dev/inject=enabled) and restart it',
    );
  // An image whose entrypoint the pod overrides keeps that command; otherwise the image's own.
  const entry = container.command?.length ? container.command : IMAGE_ENTRYPOINT;
  const result = await execInPod(
    cluster.config,
    { namespace: workload.namespace, pod: workload.name, container: container.name },
    [...entry, 'proxy', 'request', method, path],
  );
  if (result.code === 0) {
    try {
      return JSON.parse(result.stdout) as T;
    } catch {
      throw new PlatformUnavailableError(
        `the proxy of ${id} answered ${method} ${path.split('?')[0]} with something other than JSON`,
        `look at it: kubectl -n ${workload.namespace} exec ${workload.name} -c ${container.name} -- ${[...entry, 'proxy', 'request', method, `'${path}'`].join(' ')}`,
      );
    }
  }
  // The admin API's error bodies name the problem (`unknown level`); the command's own errors are on stderr.
  let detail = '';
  try {
    detail = String((JSON.parse(result.stdout) as { error?: unknown }).error ?? '');
  } catch {
    detail = '';
  }
  const why = (detail || result.stderr.trim().split('\n').slice(0, 2).join(' ')).slice(0, 300);
  throw new PlatformUnavailableError(
    `${method} ${path.split('?')[0]} on the proxy of ${id} (container ${container.name}) failed: ${why || `exit code ${result.code}`}`,
    result.code === 1
      ? 'the proxy refused it: see its answer above'
      : `run it by hand to see more: kubectl -n ${workload.namespace} exec ${workload.name} -c ${container.name} -- ${[...entry, 'proxy', 'request', method, `'${path}'`].join(' ')}`,
  );
}

/** At most `size` tasks at once; the others wait their turn in order. */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  /** Runs `task` when a slot is free. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.size) this.active++;
    else await new Promise<void>((r) => this.waiting.push(r)); // a finishing task hands its slot over
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
