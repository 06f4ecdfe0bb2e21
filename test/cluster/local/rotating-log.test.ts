/**
 * Local access logs rotate by size with a kept count: lines are never split across files, the
 * newest rotated file is .1, the oldest beyond `keep` is deleted, files are 0600. (A real
 * `meshctl run` access log rotating: test/e2e/control-plane-restart.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingFile } from '../../../src/cluster/local/rotating-log.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const write = (f: RotatingFile, line: string) => new Promise<void>((r, j) => f.write(line, (e) => (e ? j(e) : r())));

describe('RotatingFile', () => {
  it('rotates before a write would pass maxBytes, keeps `keep` files, never splits a line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-rot-'));
    dirs.push(dir);
    const file = join(dir, 'web.default.access.log');
    const f = new RotatingFile(file, { maxBytes: 100, keep: 2 });
    // 30-byte lines: 3 per file.
    for (let i = 0; i < 12; i++) await write(f, `{"n":${i},"pad":"${'x'.repeat(i < 10 ? 11 : 10)}"}\n`);
    await new Promise<void>((r) => f.end(r));
    expect((await readdir(dir)).sort()).toEqual([
      'web.default.access.log',
      'web.default.access.log.1',
      'web.default.access.log.2',
    ]);
    const lines = async (name: string) =>
      (await readFile(join(dir, name), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { n: number }).n);
    expect(await lines('web.default.access.log')).toEqual([9, 10, 11]);
    expect(await lines('web.default.access.log.1')).toEqual([6, 7, 8]);
    expect(await lines('web.default.access.log.2')).toEqual([3, 4, 5]);
    for (const n of await readdir(dir)) expect((await stat(join(dir, n))).mode & 0o777).toBe(0o600);
  });

  it('appends to an existing file and counts its size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-rot-'));
    dirs.push(dir);
    const file = join(dir, 'a.log');
    const first = new RotatingFile(file, { maxBytes: 50, keep: 1 });
    await write(first, 'x'.repeat(40) + '\n');
    await new Promise<void>((r) => first.end(r));
    const second = new RotatingFile(file, { maxBytes: 50, keep: 1 });
    await write(second, 'y'.repeat(20) + '\n');
    await new Promise<void>((r) => second.end(r));
    expect(await readFile(`${file}.1`, 'utf8')).toBe('x'.repeat(40) + '\n');
    expect(await readFile(file, 'utf8')).toBe('y'.repeat(20) + '\n');
  });
});
