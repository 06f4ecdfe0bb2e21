/** An IstioOperator's meshConfig on Kubernetes: `manifest generate -f` (what install applies) puts it into the mesh ConfigMap. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../support/cli.js';

const operator = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: control-plane
spec:
  meshConfig:
    accessLogFile: "/dev/stdout"
    accessLogEncoding: JSON
    defaultConfig:
      tracing:
        sampling: 100.0
        zipkin:
          address: zipkin.istio-system:9411
    discoverySelectors: []
`;

describe('meshConfig in install manifests', () => {
  it("renders an IstioOperator's spec.meshConfig (and --set meshConfig.*) into the mesh ConfigMap, warning about keys without effect", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-operator-'));
    await writeFile(join(dir, 'operator.yaml'), operator);
    const r = await runCli([
      'manifest',
      'generate',
      '--skip-crds',
      '-f',
      join(dir, 'operator.yaml'),
      '--set',
      'meshConfig.accessLogEncoding=TEXT',
      '--set',
      'controlPlane.replicas=3',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('[MESH0002] meshConfig.discoverySelectors: accepted but has no effect');
    const objects = parseAllDocuments(r.stdout).map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { name: string };
          data?: Record<string, string>;
          spec?: { replicas?: number };
        },
    );
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'meshctl-config')!;
    expect(JSON.parse(cm.data!['meshConfig.json']!)).toEqual({
      accessLogFile: '/dev/stdout',
      accessLogEncoding: 'TEXT',
      defaultConfig: { tracing: { sampling: 100, zipkin: { address: 'zipkin.istio-system:9411' } } },
      discoverySelectors: [],
    });
    // the other values still apply
    expect(objects.find((o) => o.kind === 'Deployment')!.spec!.replicas).toBe(3);
  });

  it('refuses a meshConfig value of the wrong type, naming the file and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-operator-'));
    await writeFile(join(dir, 'bad.yaml'), operator.replace('accessLogEncoding: JSON', 'accessLogEncoding: XML'));
    const r = await runCli(['manifest', 'generate', '-f', join(dir, 'bad.yaml')]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('bad.yaml: meshConfig.accessLogEncoding: expected JSON or TEXT');
  });
});
