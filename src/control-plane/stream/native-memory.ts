/**
 * Keeps the C heap from holding on to freed memory. Every proxy's initial sync is a ~1 MiB
 * response (concatenated, then copied once more by grpc-js into its frame): thousands of them are
 * allocated and freed as proxies connect. glibc raises its mmap threshold to the largest size freed
 * so far, so after the first free these buffers come from the heap instead of mmap, and the heap
 * fragments and is never given back: measured at 1000 services x 2000 proxies, ~290 MiB of the
 * daemon's 896 MiB RSS was such freed-but-kept memory. A fixed threshold keeps large buffers on
 * mmap (returned to the system on free). Best effort: a no-op where it cannot apply (not glibc).
 */
import { createRequire } from 'node:module';

/** glibc's mallopt parameter for the mmap threshold (malloc.h). */
const M_MMAP_THRESHOLD = -3;
/** glibc's default starting threshold; fixing it turns the dynamic raise off. */
const MMAP_THRESHOLD_BYTES = 128 * 1024;
/** glibc's mallopt parameter for how much free memory at the heap's top is kept rather than trimmed. */
const M_TRIM_THRESHOLD = -1;
/** Fixing the mmap threshold also pins this at 128 KiB: the heap top would shrink and regrow on every burst. */
const TRIM_THRESHOLD_BYTES = 8 * 1024 * 1024;

let applied: boolean | undefined;

/** Fixes the C heap's mmap threshold once per process; returns whether it took effect. */
export function keepLargeBuffersOffTheHeap(): boolean {
  if (applied !== undefined) return applied;
  applied = false;
  if (process.platform !== 'linux') return applied;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load(null);
    // musl has no mallopt: the lookup throws and nothing changes (musl does not keep large blocks).
    const mallopt = libc.func('int mallopt(int param, int value)') as unknown as (
      param: number,
      value: number,
    ) => number;
    applied = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1;
    if (applied) mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
  } catch {
    applied = false;
  }
  return applied;
}
