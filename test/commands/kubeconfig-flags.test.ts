import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';

const KUBECONFIG = `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:9"}
contexts:
- name: dev
  context: {cluster: dev, user: dev}
users:
- name: dev
  user: {token: not-a-real-token}
`;

describe('config commands on Kubernetes honour --kubeconfig and --context', () => {
  it('names an unknown context and the contexts the kubeconfig has', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-kubeconfig-'));
    await writeFile(join(dir, 'config'), KUBECONFIG);
    for (const argv of [
      ['get', 'vs'],
      ['delete', 'vs', 'reviews'],
    ]) {
      const r = await runCli([...argv, '--kubernetes', '--kubeconfig', join(dir, 'config'), '--context', 'staging']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('staging');
      expect(r.stderr).toContain('dev');
    }
  });
});
