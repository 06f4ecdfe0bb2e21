/**
 * JSONPatch (RFC 6902) between a pod and its injected form, for the admission webhook's response.
 * The webhook runs the same pure transform as `meshctl inject`; this only expresses the difference.
 */
import { isObject } from './workloads.js';

/** One RFC 6902 operation. */
export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** Escapes a key for a JSON pointer (`~` -> `~0`, `/` -> `~1`). */
export function pointerToken(key: string | number): string {
  return String(key).replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The operations that turn `before` into `after`. Objects are diffed key by key; arrays and
 * scalars that differ are replaced whole (container lists are small, and whole replacement keeps
 * the order of containers exactly as the transform made it).
 */
export function diffToPatch(before: unknown, after: unknown, path = ''): PatchOperation[] {
  if (isObject(before) && isObject(after)) {
    const ops: PatchOperation[] = [];
    for (const key of Object.keys(before)) {
      if (!(key in after)) ops.push({ op: 'remove', path: `${path}/${pointerToken(key)}` });
    }
    for (const [key, value] of Object.entries(after)) {
      const p = `${path}/${pointerToken(key)}`;
      if (!(key in before)) ops.push({ op: 'add', path: p, value });
      else ops.push(...diffToPatch(before[key], value, p));
    }
    return ops;
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [{ op: 'replace', path: path === '' ? '' : path, value: after }];
}

/** Applies a patch made by diffToPatch (used to verify patches in tests and by the webhook's dry run). */
export function applyPatch<T>(doc: T, ops: readonly PatchOperation[]): T {
  let root: unknown = structuredClone(doc);
  for (const op of ops) {
    const tokens = op.path
      .split('/')
      .slice(1)
      .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (tokens.length === 0) {
      if (op.op === 'remove') throw new Error('cannot remove the document root');
      root = op.value;
      continue;
    }
    let parent = root as Record<string, unknown>;
    for (const t of tokens.slice(0, -1)) parent = parent[t] as Record<string, unknown>;
    const last = tokens[tokens.length - 1]!;
    if (op.op === 'remove') delete parent[last];
    else parent[last] = op.value;
  }
  return root as T;
}
