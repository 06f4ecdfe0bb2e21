/**
 * Loading a kubeconfig the way kubectl does: `--kubeconfig FILE` alone when given; else every file of
 * `$KUBECONFIG` (missing ones skipped, the first file to set a cluster, user, context or current-context
 * wins); else `~/.kube/config`. `--context` picks a context by name. Inside a pod with no kubeconfig,
 * the in-cluster ServiceAccount is used (as client-go's rest.InClusterConfig).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { PlatformUnavailableError } from '../../errors.js';

/** How to find the cluster: the global flags and the environment. */
export interface KubeconfigOptions {
  /** `--kubeconfig`: this file only. */
  kubeconfig?: string;
  /** `--context`: this context instead of the current one. */
  context?: string;
  /** The environment to read KUBECONFIG/HOME from (the command's, for in-process tests). */
  env?: NodeJS.ProcessEnv;
  /** Use the pod's ServiceAccount (the control plane inside the cluster) when no kubeconfig is found. */
  inClusterFallback?: boolean;
}

/** A loaded kubeconfig and what it resolved to, for messages. */
export interface LoadedKubeconfig {
  kc: KubeConfig;
  /** The files read, in precedence order ('in-cluster' for the ServiceAccount). */
  sources: string[];
  contextName: string;
  server: string;
}

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The kubeconfig files kubectl would read, in precedence order. */
export function kubeconfigFiles(opts: KubeconfigOptions): string[] {
  const env = opts.env ?? process.env;
  if (opts.kubeconfig) return [opts.kubeconfig];
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter((p) => p.length > 0);
  return [join(env.HOME ?? homedir(), '.kube', 'config')];
}

/** Loads the kubeconfig (lazily importing client-node) and selects the context. */
export async function loadKubeconfig(opts: KubeconfigOptions = {}): Promise<LoadedKubeconfig> {
  const k8s = await import('@kubernetes/client-node');
  const env = opts.env ?? process.env;
  const files = kubeconfigFiles(opts);
  if (opts.kubeconfig && !existsSync(opts.kubeconfig)) {
    throw new PlatformUnavailableError(
      `kubeconfig ${opts.kubeconfig} does not exist`,
      'check the path given to --kubeconfig',
    );
  }
  const present = files.filter((f) => existsSync(f));
  const kc = new k8s.KubeConfig();
  let sources: string[];
  if (present.length === 0) {
    if (opts.inClusterFallback && env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN)) {
      kc.loadFromCluster();
      sources = ['in-cluster'];
    } else {
      throw new PlatformUnavailableError(
        `no kubeconfig found (looked in ${files.join(', ')})`,
        "point --kubeconfig or KUBECONFIG at your cluster's kubeconfig, or use --local for the single-machine platform",
      );
    }
  } else {
    const merged = {
      clusters: [] as KubeConfig['clusters'],
      users: [] as KubeConfig['users'],
      contexts: [] as KubeConfig['contexts'],
      currentContext: '',
    };
    for (const file of present) {
      const one = new k8s.KubeConfig();
      try {
        one.loadFromFile(file);
      } catch (err) {
        throw new PlatformUnavailableError(
          `kubeconfig ${file} cannot be read: ${(err as Error).message}`,
          'fix the file (kubectl config view shows what kubectl makes of it)',
        );
      }
      // kubectl's merge rule: the first file to define a name or the current context wins.
      for (const c of one.clusters) if (!merged.clusters.some((x) => x.name === c.name)) merged.clusters.push(c);
      for (const u of one.users) if (!merged.users.some((x) => x.name === u.name)) merged.users.push(u);
      for (const c of one.contexts) if (!merged.contexts.some((x) => x.name === c.name)) merged.contexts.push(c);
      if (!merged.currentContext && one.currentContext) merged.currentContext = one.currentContext;
    }
    kc.loadFromOptions(merged);
    sources = present;
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new PlatformUnavailableError(
        `context "${opts.context}" is not in ${sources.join(', ')}`,
        known.length ? `use one of: ${known.join(', ')}` : 'the kubeconfig defines no contexts',
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const contextName = kc.getCurrentContext();
  if (!contextName || !kc.getContextObject(contextName)) {
    throw new PlatformUnavailableError(
      `${sources.join(', ')} has no current context`,
      'pass --context NAME, or run kubectl config use-context NAME',
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new PlatformUnavailableError(
      `context "${contextName}" names no cluster with a server address`,
      "fix the context's cluster entry in the kubeconfig",
    );
  }
  return { kc, sources, contextName, server: cluster.server.replace(/\/+$/, '') };
}
