/**
 * Waiting for workloads to be ready, and saying why they are not: for each pod that holds a rollout
 * back, the reason a user would otherwise dig out of `kubectl describe` (image pull, crash loop,
 * unschedulable, pending, failing readiness probe).
 */
import { TimeoutError } from '../../errors.js';
import type { KubeObject, KubeObjects } from './objects.js';

interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  image?: string;
  state?: {
    waiting?: { reason?: string; message?: string };
    running?: Record<string, unknown>;
    terminated?: { exitCode?: number; reason?: string; message?: string };
  };
  lastState?: { terminated?: { exitCode?: number; reason?: string; message?: string } };
}

/** The parts of a Pod this module reads. */
export interface PodLike extends KubeObject {
  spec?: { nodeName?: string; containers?: { name: string; image?: string }[] };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    podIP?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

const IMAGE_PULL = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

function oneLine(s: string | undefined): string {
  return (s ?? '').replace(/\s+/g, ' ').trim();
}

/** Whether a pod is Ready (its Ready condition is True). */
export function podReady(pod: PodLike): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Why a pod is not ready, in one line; undefined when it is ready. */
export function podProblem(pod: PodLike): string | undefined {
  if (podReady(pod)) return undefined;
  const st = pod.status ?? {};
  if (pod.metadata.deletionTimestamp) return 'terminating';
  const scheduled = st.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False')
    return `unschedulable: ${oneLine(scheduled.message) || scheduled.reason || 'no node fits'}`;
  if (st.phase === 'Failed') return `failed: ${oneLine(st.message) || st.reason || 'the pod terminated'}`;
  for (const [kind, list] of [
    ['init container', st.initContainerStatuses],
    ['container', st.containerStatuses],
  ] as const) {
    for (const cs of list ?? []) {
      const waiting = cs.state?.waiting;
      if (waiting?.reason && IMAGE_PULL.has(waiting.reason)) {
        return `image pull failed for ${kind} ${cs.name} (${cs.image ?? 'unknown image'}): ${waiting.reason}${waiting.message ? `: ${oneLine(waiting.message)}` : ''}`;
      }
      if (waiting?.reason === 'CrashLoopBackOff') {
        const last = cs.lastState?.terminated;
        const exit = last
          ? `; last exit code ${last.exitCode ?? '?'}${last.reason ? ` (${last.reason})` : ''}${last.message ? `: ${oneLine(last.message)}` : ''}`
          : '';
        return `crash loop: ${kind} ${cs.name} restarted ${cs.restartCount ?? 0} times${exit}`;
      }
      if (waiting?.reason && waiting.reason !== 'PodInitializing' && waiting.reason !== 'ContainerCreating') {
        return `${kind} ${cs.name} waiting: ${waiting.reason}${waiting.message ? `: ${oneLine(waiting.message)}` : ''}`;
      }
      const term = cs.state?.terminated;
      if (term && term.exitCode !== 0 && kind === 'container') {
        return `${kind} ${cs.name} exited with code ${term.exitCode ?? '?'}${term.reason ? ` (${term.reason})` : ''}`;
      }
    }
  }
  if (st.phase === 'Pending' || !st.phase) {
    const creating = [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? [])].find(
      (c) => c.state?.waiting,
    );
    return `pending${creating?.state?.waiting?.reason ? `: ${creating.state.waiting.reason}` : pod.spec?.nodeName ? '' : ': not yet scheduled'}`;
  }
  const notReady = (st.containerStatuses ?? []).filter((c) => !c.ready).map((c) => c.name);
  const cond = st.conditions?.find((c) => c.type === 'Ready');
  return `not ready${notReady.length ? ` (containers ${notReady.join(', ')})` : ''}${cond?.message ? `: ${oneLine(cond.message)}` : ': readiness probe not passing yet'}`;
}

/** `app=x,tier=y` from a matchLabels map. */
export function labelSelectorString(matchLabels: Record<string, string> | undefined): string {
  return Object.entries(matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

interface DeploymentLike extends KubeObject {
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
  };
}

/** Where a Deployment stands: ready or not, with the reasons of its pods. */
export interface DeploymentReadiness {
  ready: boolean;
  summary: string;
  /** `pod-name: reason` for each pod that is not ready. */
  podProblems: string[];
}

/** Reads a Deployment and its pods once and says whether it is rolled out and ready. */
export async function deploymentReadiness(
  objects: KubeObjects,
  namespace: string,
  name: string,
): Promise<DeploymentReadiness> {
  const d = await objects.get<DeploymentLike>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name });
  if (!d) return { ready: false, summary: `deployment ${namespace}/${name} does not exist`, podProblems: [] };
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const rolledOut = (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
  const ready =
    rolledOut && (s.updatedReplicas ?? 0) === want && (s.availableReplicas ?? 0) === want && (s.replicas ?? 0) === want;
  const summary = `${s.readyReplicas ?? 0}/${want} ready, ${s.updatedReplicas ?? 0} up to date`;
  if (ready) return { ready, summary, podProblems: [] };
  const pods = await objects.list<PodLike>(
    { apiVersion: 'v1', kind: 'Pod', namespace },
    { labelSelector: labelSelectorString(d.spec?.selector?.matchLabels) },
  );
  const podProblems = pods.items.flatMap((p) => {
    const why = podProblem(p);
    return why ? [`${p.metadata.name}: ${why}`] : [];
  });
  if (pods.items.length === 0)
    podProblems.push('no pods created yet (check the ReplicaSet: kubectl describe replicaset)');
  return { ready, summary, podProblems };
}

/** Options of a wait. */
export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Called when the state line changes (for spinners and progress lines). */
  onProgress?: (line: string) => void;
}

/** Waits for a Deployment to be fully rolled out and ready; on timeout the error lists each pod's reason. */
export async function waitForDeployment(
  objects: KubeObjects,
  namespace: string,
  name: string,
  opts: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: DeploymentReadiness | undefined;
  let lastLine = '';
  for (;;) {
    last = await deploymentReadiness(objects, namespace, name);
    if (last.ready) return;
    const line = [last.summary, ...last.podProblems].join('; ');
    if (line !== lastLine) opts.onProgress?.(line);
    lastLine = line;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(opts.intervalMs ?? 1000, Math.max(0, deadline - Date.now()))));
  }
  throw new TimeoutError(
    `waiting for deployment ${namespace}/${name} (${last.summary})${last.podProblems.length ? `:\n  ${last.podProblems.join('\n  ')}` : ''}`,
    `look at the pods: kubectl -n ${namespace} describe pods; a longer --timeout helps only if they are still starting`,
  );
}

/** Polls `check` until it returns a value other than undefined, or throws TimeoutError naming `what`. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; hint?: string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new TimeoutError(`waiting for ${what}`, opts.hint);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}
