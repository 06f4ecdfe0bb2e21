import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { runCli } from './support/cli.js';
import { meshctlVersion } from '../src/version.js';

describe('meshctl root', () => {
  it('prints the client version', async () => {
    const r = await runCli(['version', '--client']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`client version: ${meshctlVersion()}`);
  });

  it('prints the client version as JSON with -o json', async () => {
    const r = await runCli(['version', '--client', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).clientVersion.version).toBe(meshctlVersion());
  });

  it('rejects an unknown flag with exit 64 and a one-line hint', async () => {
    const r = await runCli(['version', '--bogus']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^Error: unknown option '--bogus'\n  hint: run 'meshctl version --help' for usage\n$/);
    expect(r.stdout).toBe('');
  });

  it('rejects an unknown command with exit 64', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it('rejects an unsupported output format with exit 64', async () => {
    const r = await runCli(['version', '-o', 'xml']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('-o xml: unsupported output format');
  });

  it('rejects --local with --kubernetes', async () => {
    const { selectPlatform } = await import('../src/context.js');
    expect(() => selectPlatform({ local: true, kubernetes: true }, {})).toThrow(/cannot be used together/);
  });

  it('lists commands in --help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('version');
  });

  it('runs as a real process through bin/meshctl and sets the exit code', () => {
    const out = execFileSync(process.execPath, ['bin/meshctl', 'version', '--client', '-o', 'short'], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe(meshctlVersion());
    const bad = spawnSync(process.execPath, ['bin/meshctl', 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(64);
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  it('stops quietly when the reader of its output goes away (meshctl ... | head -1)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['bin/meshctl', 'manifest', 'generate'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const first = await new Promise<string>((resolve) =>
      child.stdout.once('data', (d: Buffer) => resolve(d.toString())),
    );
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(first).toContain('apiVersion');
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });

  it('ships everything the compiled code loads (mesh.proto) in the npm package', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/protocol/mesh.proto');
    expect(files).toContain('bin/meshctl');
    expect(files.some((f) => f.startsWith('templates/crds/'))).toBe(true);
  });
});
