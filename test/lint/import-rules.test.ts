/**
 * `npm run lint:imports` checks the house's import rules mechanically: a tree with a deliberately wrong
 * import fails, naming the rule and the import; the same tree without it passes; and the real src/ is
 * clean. The trees are written to a temporary directory and checked with the repository's own config.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const depcruise = join(root, 'node_modules/.bin/depcruise');
const config = join(root, '.dependency-cruiser.cjs');
const dirs: string[] = [];

/** Writes `files` (path -> source) under a fresh directory with a tsconfig, and runs the import check there. */
function check(files: Record<string, string>): { code: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'meshctl-lint-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true },
      include: ['src/**/*.ts'],
    }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const r = spawnSync(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

const base = {
  'src/errors.ts': 'export const E = 1;\n',
  'src/protocol/wire.ts': "import { E } from '../errors.js';\nexport const W = E;\n",
  'src/control-plane/push.ts': "import { W } from '../protocol/wire.js';\nexport const P = W;\n",
  'src/proxy-runtime/proxy.ts': "import { W } from '../protocol/wire.js';\nexport const X = W;\n",
  'src/cluster/index.ts': "import { E } from '../errors.js';\nexport const C = E;\n",
  'src/commands/run.ts': "import { C } from '../cluster/index.js';\nexport const R = C;\n",
};

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Each check runs dependency-cruiser (seconds under load); a test runs up to five of them.
describe('import rules (npm run lint:imports)', { timeout: 180_000 }, () => {
  it('a tree that follows the house passes', () => {
    const r = check(base);
    expect(r.output).toContain('no dependency violations found');
    expect(r.code).toBe(0);
  });

  it('the proxy runtime importing the control plane fails, naming the rule and the import', () => {
    const r = check({
      ...base,
      'src/proxy-runtime/proxy.ts': "import { P } from '../control-plane/push.js';\nexport const X = P;\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(
      /error house-order:\^src\/proxy-runtime\/: src\/proxy-runtime\/proxy\.ts → src\/control-plane\/push\.ts/,
    );
    expect(r.output).toMatch(
      /error proxy-runtime-nothing-cli-side: src\/proxy-runtime\/proxy\.ts → src\/control-plane\/push\.ts/,
    );
  });

  it('an upward import (protocol/ reaching a command) fails; so does the control plane reaching the proxy runtime', () => {
    const up = check({
      ...base,
      'src/protocol/wire.ts': "import { R } from '../commands/run.js';\nexport const W = R;\n",
    });
    expect(up.code).not.toBe(0);
    expect(up.output).toMatch(/house-order:\^src\/protocol\/: src\/protocol\/wire\.ts → src\/commands\/run\.ts/);
    const across = check({
      ...base,
      'src/control-plane/push.ts': "import { X } from '../proxy-runtime/proxy.js';\nexport const P = X;\n",
    });
    expect(across.code).not.toBe(0);
    expect(across.output).toMatch(
      /control-plane-not-proxy-runtime: src\/control-plane\/push\.ts → src\/proxy-runtime\/proxy\.ts/,
    );
  });

  it('a command or a check reaching a backend directly fails; through src/cluster/index.ts it passes', () => {
    const backend = {
      ...base,
      'src/cluster/kubernetes/platform.ts': "import { E } from '../../errors.js';\nexport const K = E;\n",
    };
    const command = check({
      ...backend,
      'src/commands/upgrade.ts': "import { K } from '../cluster/kubernetes/platform.js';\nexport const U = K;\n",
    });
    expect(command.code).not.toBe(0);
    expect(command.output).toMatch(
      /error backend-behind-the-interface: src\/commands\/upgrade\.ts → src\/cluster\/kubernetes\/platform\.ts/,
    );
    const checkModule = check({
      ...backend,
      'src/checks/kubernetes/pre.ts':
        "import type { K } from '../../cluster/kubernetes/platform.js';\nexport type P = typeof K;\n",
    });
    expect(checkModule.code).not.toBe(0);
    expect(checkModule.output).toMatch(
      /error backend-behind-the-interface: src\/checks\/kubernetes\/pre\.ts → src\/cluster\/kubernetes\/platform\.ts/,
    );
    const viaInterface = check({
      ...backend,
      'src/commands/upgrade.ts': "import { C } from '../cluster/index.js';\nexport const U = C;\n",
    });
    expect(viaInterface.output).toContain('no dependency violations found');
    expect(viaInterface.code).toBe(0);
  });

  it('run, gateway, the demo and the control plane daemon reaching a backend fail: no module is exempt', () => {
    const local = {
      ...base,
      'src/cluster/local/platform.ts': "import { E } from '../../errors.js';\nexport const L = E;\n",
      'src/cluster/local-layout.ts': "import { E } from '../errors.js';\nexport const Y = E;\n",
    };
    const importers: Record<string, string> = {
      'src/commands/run.ts': "import { L } from '../cluster/local/platform.js';\nexport const R = L;\n",
      'src/commands/gateway.ts': "import { L } from '../cluster/local/platform.js';\nexport const G = L;\n",
      'src/demo/workloads.ts': "import { L } from '../cluster/local/platform.js';\nexport const D = L;\n",
      'src/control-plane/daemon.ts': "import { L } from '../cluster/local/platform.js';\nexport const Q = L;\n",
    };
    for (const [file, text] of Object.entries(importers)) {
      const r = check({ ...local, [file]: text });
      expect(r.code, file).not.toBe(0);
      expect(r.output).toContain(`error backend-behind-the-interface: ${file} → src/cluster/local/platform.ts`);
    }
    // The files the daemon writes and the backend reads sit beside the interface: the daemon may import them.
    const layout = check({
      ...local,
      'src/control-plane/daemon.ts': "import { Y } from '../cluster/local-layout.js';\nexport const Q = Y;\n",
    });
    expect(layout.output).toContain('no dependency violations found');
    expect(layout.code).toBe(0);
  });

  describe('the proxy runtime floors', () => {
    const floors = {
      ...base,
      'src/proxy-runtime/ground/types.ts': "import { W } from '../../protocol/wire.js';\nexport const G = W;\n",
      'src/proxy-runtime/upstream/pool.ts': "import { G } from '../ground/types.js';\nexport const U = G;\n",
      'src/proxy-runtime/http/exchange.ts': "import { U } from '../upstream/pool.js';\nexport const H = U;\n",
      'src/proxy-runtime/listeners/listener.ts': "import { H } from '../http/exchange.js';\nexport const L = H;\n",
      'src/proxy-runtime/proxy.ts': "import { L } from './listeners/listener.js';\nexport const X = L;\n",
    };

    it('imports that point down the floors pass', () => {
      const r = check(floors);
      expect(r.output).toContain('no dependency violations found');
      expect(r.code).toBe(0);
    });

    it('a pool (upstream) importing the HTTP exchange fails, naming the floor rule and the import', () => {
      const r = check({
        ...floors,
        'src/proxy-runtime/upstream/pool.ts':
          "import { G } from '../ground/types.js';\nimport type { H } from '../http/exchange.js';\nexport const U = G;\nexport type T = typeof H;\n",
      });
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(
        /error proxy-floor:\^src\/proxy-runtime\/upstream\/: src\/proxy-runtime\/upstream\/pool\.ts → src\/proxy-runtime\/http\/exchange\.ts/,
      );
    });

    it('the ground floor reaching the proxy itself fails; a module off the floors fails', () => {
      const up = check({
        ...floors,
        'src/proxy-runtime/ground/types.ts': "import { X } from '../proxy.js';\nexport const G = X;\n",
      });
      expect(up.code).not.toBe(0);
      expect(up.output).toMatch(
        /error proxy-floor:\^src\/proxy-runtime\/ground\/: src\/proxy-runtime\/ground\/types\.ts → src\/proxy-runtime\/proxy\.ts/,
      );
      const off = check({
        ...floors,
        'src/proxy-runtime/helpers/misc.ts': "import { G } from '../ground/types.js';\nexport const M = G;\n",
      });
      expect(off.code).not.toBe(0);
      expect(off.output).toMatch(
        /error proxy-floor-every-module-on-a-floor: src\/proxy-runtime\/helpers\/misc\.ts → src\/proxy-runtime\/ground\/types\.ts/,
      );
    });

    it('a run-time cycle inside one floor fails (no exception for the proxy runtime)', () => {
      const r = check({
        ...floors,
        'src/proxy-runtime/http/layer.ts': "import { H } from './exchange.js';\nexport const Y = H;\n",
        'src/proxy-runtime/http/exchange.ts':
          "import { U } from '../upstream/pool.js';\nimport { Y } from './layer.js';\nexport const H = U;\nexport const Z = Y;\n",
      });
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/error no-cycles: src\/proxy-runtime\/http\/(layer|exchange)\.ts → /);
    });
  });

  it('the repository itself has no error', () => {
    const r = spawnSync('npm', ['run', '--silent', 'lint:imports'], { cwd: root, encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    expect(out).not.toMatch(/^\s*(error|warn) /m);
    expect(out).toContain('no dependency violations found');
    expect(r.status).toBe(0);
  });
});
