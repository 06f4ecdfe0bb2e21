/**
 * Processes of the mesh on this machine, as the local backend, the local control plane daemon and
 * the demo all need them: where the meshctl launcher is (to start a daemon or a workload as a
 * child), and a process's start time, which with its pid names one process for good. Not a
 * backend's internals: the daemon (control-plane/) and the demo reach them here.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * When a process started (Linux: clock ticks since boot, from /proc/<pid>/stat), or undefined
 * where that cannot be read. Together with the pid it names one process for good: a pid reused
 * by another process has another start time.
 */
export async function processStartTime(pid: number | 'self'): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 22, counted after the command name, which is in parentheses and may contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Where the launcher is (bin/meshctl of this package), run with the current Node. */
export function launcherPath(): string {
  return fileURLToPath(new URL('../../bin/meshctl', import.meta.url));
}
