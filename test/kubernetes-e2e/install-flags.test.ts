/**
 * `meshctl install` / `uninstall` flag handling that needs no cluster: --dry-run prints exactly what
 * would be applied (with --set overrides) and sends nothing; flags of one platform given to the other
 * are usage errors naming them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../support/cli.js';

const home = mkdtempSync(join(tmpdir(), 'meshctl-flags-'));
// A kubeconfig path that does not exist: --dry-run must not need one.
const env = { HOME: home, MESHCTL_HOME: join(home, 'mesh'), KUBECONFIG: join(home, 'no-such-kubeconfig') };

describe('install and uninstall flags', () => {
  it('install --kubernetes --dry-run prints the CRDs and components with --set applied, and contacts no cluster', async () => {
    const r = await runCli(
      [
        'install',
        '--kubernetes',
        '--dry-run',
        '--set',
        'controlPlane.replicas=3',
        '--set',
        'webhook.failurePolicy=Ignore',
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const objects = parseAllDocuments(r.stdout).map(
      (d) => d.toJS() as { kind: string; spec?: { replicas?: number }; webhooks?: { failurePolicy: string }[] },
    );
    expect(objects.filter((o) => o.kind === 'CustomResourceDefinition').length).toBeGreaterThanOrEqual(15);
    expect(objects.find((o) => o.kind === 'Deployment')?.spec?.replicas).toBe(3);
    expect(
      objects.find((o) => o.kind === 'MutatingWebhookConfiguration')?.webhooks?.map((w) => w.failurePolicy),
    ).toEqual(['Ignore', 'Ignore']);
    expect(r.stderr).toMatch(/dry run: \d+ objects would be server-side applied .*nothing was sent to the cluster/);
  });

  it('install --kubernetes with an unknown --set key is a usage error listing the settable keys', async () => {
    const r = await runCli(['install', '--kubernetes', '--dry-run', '--set', 'controlPlane.replica=3'], { env });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--set controlPlane.replica: unknown setting');
    expect(r.stderr).toContain('controlPlane.replicas');
  });

  it("install and uninstall refuse the other platform's flags, naming them", async () => {
    const local = await runCli(['install', '--local', '--wait', '--set', 'controlPlane.replicas=1'], { env });
    expect(local.code).toBe(64);
    expect(local.stderr).toContain('--wait: only for Kubernetes');
    const k8s = await runCli(['install', '--kubernetes', '--stream-port', '0'], { env });
    expect(k8s.code).toBe(64);
    expect(k8s.stderr).toContain('--stream-port: only for the local platform');
    const un = await runCli(['uninstall', '--local', '--force'], { env });
    expect(un.code).toBe(64);
    expect(un.stderr).toContain('--force: only for Kubernetes');
  });

  it('install --kubernetes without a kubeconfig says where it looked', async () => {
    const r = await runCli(['install', '--kubernetes', '-y'], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`no kubeconfig found (looked in ${env.KUBECONFIG})`);
  });
});
