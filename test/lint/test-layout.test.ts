/**
 * Tests mirror src/ (test/README.md): every folder of test/ has a src/ counterpart, unless it is a listed
 * special suite or a helper folder (support/, testdata/, fixtures/). A tree with a feature-named folder fails,
 * naming the folder; the real test/ passes; and test/README.md lists exactly the special suites.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** Top-level folders of test/ that are suites of their own, not tests of one src/ module (test/README.md). */
const SPECIAL = [
  'e2e',
  'kubernetes-e2e',
  'netns',
  'peers',
  'observability',
  'test-cluster',
  'lint',
  'support',
  'fixtures',
] as const;

/** Folder names that hold helpers or data wherever they are: not descended into. */
const HELPERS = new Set(['support', 'testdata', 'fixtures']);

/**
 * Folders not yet mirrored, each with who moves it. An entry that has gone, or that now has a src/
 * counterpart, fails: remove it then.
 */
const PENDING: Record<string, string> = {};

/** The folders under `testDir` (relative, `/`-separated) with no counterpart under `srcDir`. */
function unmirrored(testDir: string, srcDir: string, special: readonly string[] = SPECIAL): string[] {
  const problems: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(testDir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (!statSync(join(testDir, path)).isDirectory() || HELPERS.has(name)) continue;
      if (!rel && special.includes(name)) continue;
      if (!isDirectory(join(srcDir, path))) problems.push(path);
      walk(path);
    }
  };
  walk('');
  return problems;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A temporary tree with the given files (path -> text). */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshctl-layout-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('test layout mirrors src/', () => {
  it('names a feature-named folder and a nested one with no src/ counterpart; helpers and special suites pass', () => {
    const dir = tree({
      'src/control-plane/translate/index.ts': '',
      'src/commands/apply.ts': '',
      'test/control-plane/translate/fields.test.ts': '',
      'test/control-plane/translate/testdata/a.yaml': '',
      'test/commands/support/mesh.ts': '',
      'test/commands/apply.test.ts': '',
      'test/e2e/gateway.test.ts': '',
      'test/translate/fields.test.ts': '',
      'test/control-plane/routing/routes.test.ts': '',
    });
    expect(unmirrored(join(dir, 'test'), join(dir, 'src'))).toEqual(['control-plane/routing', 'translate']);
    // The same tree with the stray folders moved under their modules passes.
    rmSync(join(dir, 'test/translate'), { recursive: true });
    rmSync(join(dir, 'test/control-plane/routing'), { recursive: true });
    expect(unmirrored(join(dir, 'test'), join(dir, 'src'))).toEqual([]);
    // A special suite is special only at the top: test/commands/e2e/ would be a stray folder.
    mkdirSync(join(dir, 'test/commands/e2e'));
    expect(unmirrored(join(dir, 'test'), join(dir, 'src'))).toEqual(['commands/e2e']);
  });

  it('holds for the real test/: every folder mirrors src/ or is a listed special suite', () => {
    const problems = unmirrored(join(root, 'test'), join(root, 'src')).filter((p) => !(p in PENDING));
    expect(
      problems,
      'move these under the src/ module they test, or list a new special suite in test/README.md',
    ).toEqual([]);
  });

  it('lists only pending folders that still exist and still have no src/ counterpart', () => {
    const stale = Object.keys(PENDING).filter(
      (p) => !isDirectory(join(root, 'test', p)) || isDirectory(join(root, 'src', p)),
    );
    expect(stale, 'these folders are mirrored now: remove them from PENDING').toEqual([]);
  });

  it('test/README.md names every special suite and every top-level folder of test/', () => {
    const readme = readFileSync(join(root, 'test/README.md'), 'utf8');
    for (const name of SPECIAL)
      expect(readme, `test/README.md does not describe ${name}/`).toMatch(new RegExp(`^\\| \`${name}/\` +\\|`, 'm'));
    const top = readdirSync(join(root, 'test')).filter((n) => statSync(join(root, 'test', n)).isDirectory());
    for (const name of top) expect(readme, `test/README.md does not name ${name}/`).toContain(`\`${name}/\``);
  });
});
