/**
 * Golden-file tests of `meshctl inject`, in the manner of linkerd's pkg/inject: each case under
 * testdata/ has an input (file or directory), the expected stdout (golden.yaml / golden.json) and
 * the expected stderr (report). Run with UPDATE_GOLDEN=1 to rewrite the expectations, then review
 * the diff.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { parseDocuments, manifestObjects } from '../../src/config/documents.js';
import { validateKubernetesObject } from './kubernetes-schema.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface CaseSpec {
  args?: string[];
  stdin?: boolean;
}

function inputOf(dir: string): string {
  for (const name of ['input.yaml', 'input.json', 'input']) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`no input in ${dir}`);
}

function checkGolden(file: string, actual: string): void {
  if (UPDATE) {
    writeFileSync(file, actual);
    return;
  }
  expect(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const cases = readdirSync(TESTDATA).sort();

describe('meshctl inject golden files', () => {
  for (const name of cases) {
    it(name, async () => {
      const dir = join(TESTDATA, name);
      const spec: CaseSpec = existsSync(join(dir, 'case.json'))
        ? JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'))
        : {};
      const input = inputOf(dir);
      const args = spec.args ?? [];
      const argv = ['inject', ...(args.includes('-f') ? [] : ['-f', input]), ...args];
      const r = await runCli(argv, { stdin: spec.stdin ? readFileSync(input, 'utf8') : undefined, cwd: dir });
      const json = args.includes('json');
      const report = r.stderr.replaceAll(dir + '/', '');
      checkGolden(join(dir, 'report'), `exit ${r.code}\n${report}`);
      checkGolden(join(dir, json ? 'golden.json' : 'golden.yaml'), r.stdout);
      if (r.code !== 0) {
        expect(r.stdout, 'a failed run writes nothing to stdout').toBe('');
        return;
      }
      // Every injected object is a valid Kubernetes object.
      if (!json) {
        for (const o of manifestObjects(parseDocuments(r.stdout, 'golden'))) validateKubernetesObject(o.object);
      }
    });
  }
});

/** The case's flags other than input selection, so read-back injects with the same settings. */
function settingFlags(spec: CaseSpec): string[] {
  const args = spec.args ?? [];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-f' || args[i] === '-o') i++;
    else out.push(args[i]!);
  }
  return out;
}

function objectsOf(text: string): unknown[] {
  return manifestObjects(parseDocuments(text, 'text')).map((o) => o.object);
}

describe('golden outputs, read back', () => {
  for (const name of cases) {
    const dir = join(TESTDATA, name);
    const golden = join(dir, 'golden.yaml');
    if (!existsSync(golden) || readFileSync(golden, 'utf8') === '') continue;
    const spec: CaseSpec = existsSync(join(dir, 'case.json'))
      ? JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'))
      : {};
    it(`${name}: injecting the injected output changes nothing`, async () => {
      const r = await runCli(['inject', '-f', golden, ...settingFlags(spec)]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(readFileSync(golden, 'utf8'));
    });
    it(`${name}: uninject gives back the objects as they were before any injection`, async () => {
      const r = await runCli(['uninject', '-f', golden]);
      expect(r.code).toBe(0);
      // For inputs that were already injected, "before any injection" is what uninject makes of them.
      const original = await runCli(['uninject', '-f', inputOf(dir)]);
      expect(original.code).toBe(0);
      // Same objects, same fields, same order.
      expect(JSON.stringify(objectsOf(r.stdout))).toBe(JSON.stringify(objectsOf(original.stdout)));
      // And for inputs that were not injected, that is the input itself.
      const input = inputOf(dir);
      if (!input.endsWith('input') && !readFileSync(input, 'utf8').includes('meshctl.dev/status')) {
        expect(JSON.stringify(objectsOf(r.stdout))).toBe(JSON.stringify(objectsOf(readFileSync(input, 'utf8'))));
      }
    });
  }
});
