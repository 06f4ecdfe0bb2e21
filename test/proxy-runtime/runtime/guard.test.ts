/** The last-resort guard, in a real process: an escaped error is logged and counted, and the process keeps running. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('installLastResortGuard', () => {
  it('logs and counts an uncaught exception and an unhandled rejection; the process goes on; removal restores the default', () => {
    expect(existsSync(resolve('dist/cli.js')), 'dist/cli.js missing: npm test builds it (npm run build)').toBe(true);
    const guard = pathToFileURL(resolve('dist/proxy-runtime/runtime/guard.js')).href;
    const log = pathToFileURL(resolve('dist/proxy-runtime/ground/log.js')).href;
    const script = `
      const { installLastResortGuard } = await import(${JSON.stringify(guard)});
      const { ProxyLog } = await import(${JSON.stringify(log)});
      const counts = {};
      const off = installLastResortGuard({ log: new ProxyLog('error', (l) => process.stdout.write(l)), count: (k) => (counts[k] = (counts[k] ?? 0) + 1) });
      setTimeout(() => { throw new Error('escaped'); });
      setTimeout(() => void Promise.reject(new Error('rejected')));
      setTimeout(() => { process.stdout.write(JSON.stringify({ alive: true, counts }) + '\\n'); off(); setTimeout(() => { throw new Error('after removal'); }); }, 50);
    `;
    let out = '';
    let status = 0;
    try {
      out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch (err) {
      out = (err as { stdout: string }).stdout;
      status = (err as { status: number }).status;
    }
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.level === 'error').map((l) => [l.kind, l.error])).toEqual([
      ['exception', 'escaped'],
      ['rejection', 'rejected'],
    ]);
    expect(lines.at(-1)).toEqual({ alive: true, counts: { exception: 1, rejection: 1 } });
    // Without the guard an uncaught exception ends the process, as Node does by default.
    expect(status).toBe(1);
  });
});
