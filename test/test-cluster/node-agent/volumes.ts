/**
 * Pod volumes materialised on the host, one directory per volume under the pod's directory, as the kubelet
 * does: emptyDir, configMap, secret, downwardAPI, projected (with ServiceAccount tokens from the
 * TokenRequest API, refreshed at 80% of their lifetime) and hostPath. Containers see them at their
 * mountPath through bind mounts in their own mount namespace (see container-process.ts).
 */
import {
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { ContainerConfigError, downwardValue, type EnvSources, type NodeFacts } from './env.js';

/** API reads a volume needs beyond the environment's. */
export interface VolumeSources extends EnvSources {
  secretBytes(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  configMapBytes(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  /** A bound ServiceAccount token (TokenRequest API). */
  token(
    pod: V1Pod,
    audience: string | undefined,
    expirationSeconds: number,
  ): Promise<{ token: string; expiresAt: Date }>;
}

/** The pod's volumes by name (host directory or file), and a stop() for token refreshers. */
export interface PodVolumes {
  paths: Map<string, string>;
  stop(): void;
}

interface ProjectedFile {
  path: string;
  content: Buffer;
  mode: number;
}

function safeRelative(path: string, volume: string): string {
  const p = normalize(path);
  if (p.startsWith('/') || p === '..' || p.startsWith('../'))
    throw new ContainerConfigError(
      `volume "${volume}": item path "${path}" must be relative and stay inside the volume`,
    );
  return p;
}

function keyFiles(
  volume: string,
  kind: string,
  name: string,
  data: Record<string, Buffer>,
  items: V1KeyToPath[] | undefined,
  defaultMode: number,
): ProjectedFile[] {
  if (!items || items.length === 0)
    return Object.entries(data).map(([k, v]) => ({ path: k, content: v, mode: defaultMode }));
  return items.map((item) => {
    const content = data[item.key];
    if (content === undefined)
      throw new ContainerConfigError(`volume "${volume}": ${kind} "${name}" has no key "${item.key}"`);
    return { path: safeRelative(item.path, volume), content, mode: item.mode ?? defaultMode };
  });
}

/**
 * How often configMap and secret volumes are brought up to date with their source. The kubelet does
 * it on its sync loop (about a minute, plus its cache TTL); the test node agent does it every few
 * seconds so that tests of what follows an update (a root CA rotation) do not wait a minute per step.
 */
const VOLUME_SYNC_MS = Number(process.env.MTC_VOLUME_SYNC_MS ?? 3_000);

function writeFiles(dir: string, files: ProjectedFile[], fsGroup: number | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const f of files) {
    const target = join(dir, f.path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    // Written aside and renamed over, as the kubelet's atomic writer swaps its ..data link: a reader
    // never sees a half-written file.
    const temp = join(dirname(target), `..${f.path.split('/').pop()}.tmp`);
    writeFileSync(temp, f.content);
    // As the kubelet: with an fsGroup, files belong to that group and are group-readable.
    if (fsGroup !== undefined) {
      chownSync(temp, 0, fsGroup);
      chmodSync(temp, f.mode | 0o040);
    } else {
      chmodSync(temp, f.mode);
    }
    renameSync(temp, target);
  }
}

/** Creates every volume of `pod` under `podDir/volumes/`. Throws ContainerConfigError when a source is missing. */
export async function materializeVolumes(
  pod: V1Pod,
  podDir: string,
  node: NodeFacts,
  sources: VolumeSources,
): Promise<PodVolumes> {
  const ns = pod.metadata?.namespace ?? 'default';
  const fsGroup = pod.spec?.securityContext?.fsGroup;
  const paths = new Map<string, string>();
  const timers: NodeJS.Timeout[] = [];
  const firstContainer = pod.spec?.containers[0];
  if (!firstContainer) throw new ContainerConfigError('pod has no containers');

  const projectionFiles = async (
    v: V1Volume,
  ): Promise<{
    files: ProjectedFile[];
    tokens: { path: string; audience?: string; expirationSeconds: number; mode: number }[];
  }> => {
    const files: ProjectedFile[] = [];
    const tokens: { path: string; audience?: string; expirationSeconds: number; mode: number }[] = [];
    const cmSecret = async (
      kind: 'configmap' | 'secret',
      name: string,
      items: V1KeyToPath[] | undefined,
      optional: boolean | undefined,
      mode: number,
    ): Promise<void> => {
      const data = kind === 'configmap' ? await sources.configMapBytes(ns, name) : await sources.secretBytes(ns, name);
      if (!data) {
        if (optional) return;
        throw new ContainerConfigError(`volume "${v.name}": ${kind} "${name}" not found`);
      }
      files.push(...keyFiles(v.name, kind, name, data, items, mode));
    };
    const downward = (items: NonNullable<V1Volume['downwardAPI']>['items'], mode: number): void => {
      for (const item of items ?? []) {
        files.push({
          path: safeRelative(item.path, v.name),
          content: Buffer.from(downwardValue(pod, item, firstContainer, node)),
          mode: item.mode ?? mode,
        });
      }
    };
    if (v.configMap)
      await cmSecret(
        'configmap',
        v.configMap.name ?? '',
        v.configMap.items,
        v.configMap.optional,
        v.configMap.defaultMode ?? 0o644,
      );
    if (v.secret)
      await cmSecret(
        'secret',
        v.secret.secretName ?? '',
        v.secret.items,
        v.secret.optional,
        v.secret.defaultMode ?? 0o644,
      );
    if (v.downwardAPI) downward(v.downwardAPI.items, v.downwardAPI.defaultMode ?? 0o644);
    if (v.projected) {
      const mode = v.projected.defaultMode ?? 0o644;
      for (const src of v.projected.sources ?? []) {
        if (src.configMap)
          await cmSecret('configmap', src.configMap.name ?? '', src.configMap.items, src.configMap.optional, mode);
        else if (src.secret)
          await cmSecret('secret', src.secret.name ?? '', src.secret.items, src.secret.optional, mode);
        else if (src.downwardAPI) downward(src.downwardAPI.items, mode);
        else if (src.serviceAccountToken) {
          const t = src.serviceAccountToken;
          tokens.push({
            path: safeRelative(t.path, v.name),
            ...(t.audience ? { audience: t.audience } : {}),
            expirationSeconds: t.expirationSeconds ?? 3600,
            mode,
          });
        } else
          throw new ContainerConfigError(
            `volume "${v.name}": projected source ${Object.keys(src).join(',')} is not supported by the test node agent`,
          );
      }
    }
    return { files, tokens };
  };

  try {
    for (const v of pod.spec?.volumes ?? []) {
      const dir = join(podDir, 'volumes', v.name);
      if (v.emptyDir) {
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, 0o777); // the kubelet's emptyDir mode
        paths.set(v.name, dir);
      } else if (v.hostPath) {
        const type = v.hostPath.type ?? '';
        if (type === 'DirectoryOrCreate') mkdirSync(v.hostPath.path, { recursive: true, mode: 0o755 });
        try {
          statSync(v.hostPath.path);
        } catch {
          if (type !== '')
            throw new ContainerConfigError(`volume "${v.name}": hostPath ${v.hostPath.path} does not exist`);
          mkdirSync(v.hostPath.path, { recursive: true, mode: 0o755 });
        }
        paths.set(v.name, v.hostPath.path);
      } else if (v.configMap || v.secret || v.downwardAPI || v.projected) {
        const { files, tokens } = await projectionFiles(v);
        writeFiles(dir, files, fsGroup);
        const sourced = v.configMap || v.secret || v.projected?.sources?.some((src) => src.configMap || src.secret);
        if (sourced) {
          // As the kubelet: a changed ConfigMap or Secret reaches the files (not subPath mounts, which keep theirs).
          const sync = setInterval(() => {
            projectionFiles(v).then(
              ({ files: now }) => {
                const changed = now.filter((f) => {
                  try {
                    return !readFileSync(join(dir, f.path)).equals(f.content);
                  } catch {
                    return true;
                  }
                });
                if (changed.length) writeFiles(dir, changed, fsGroup);
              },
              () => undefined, // the source is gone or unreadable: the files stay as they were, as the kubelet's
            );
          }, VOLUME_SYNC_MS);
          sync.unref();
          timers.push(sync);
        }
        for (const t of tokens) {
          const write = async (): Promise<void> => {
            const { token, expiresAt } = await sources.token(pod, t.audience, t.expirationSeconds);
            writeFiles(dir, [{ path: t.path, content: Buffer.from(token), mode: t.mode }], fsGroup);
            // Refresh at 80% of the lifetime, as the kubelet does.
            const ttl = expiresAt.getTime() - Date.now();
            const timer = setTimeout(
              () => void write().catch(() => {}),
              Math.max(1_000, Math.min(ttl * 0.8, 2 ** 31 - 1)),
            );
            timer.unref();
            timers.push(timer);
          };
          await write();
        }
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        paths.set(v.name, dir);
      } else {
        const kind = Object.keys(v)
          .filter((k) => k !== 'name')
          .join(',');
        throw new ContainerConfigError(
          `volume "${v.name}": ${kind || 'this'} volume type is not supported by the test node agent (emptyDir, configMap, secret, downwardAPI, projected, hostPath are)`,
        );
      }
      if (fsGroup !== undefined && (v.emptyDir || v.configMap || v.secret || v.downwardAPI || v.projected)) {
        chownSync(dir, 0, fsGroup);
        for (const entry of readdirSync(dir)) chownSync(join(dir, entry), 0, fsGroup);
      }
    }
  } catch (e) {
    for (const t of timers) clearTimeout(t);
    throw e;
  }
  return { paths, stop: () => timers.forEach((t) => clearTimeout(t)) };
}
