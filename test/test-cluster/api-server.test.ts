/**
 * The test cluster's API server is the real one: kubectl reports the pinned version, CRDs are served and
 * their schemas enforced.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { versions } from './harness/binaries.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from './support.js';

const widgetCrd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.test.meshctl.dev}
spec:
  group: test.meshctl.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, enum: [red, blue]}
`;

describeRequiring([isRoot, kubernetesTestBinaries], 'test cluster: API server', () => {
  let cluster: TestCluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await cluster.createNamespace('mtc-api');
  });
  afterAll(async () => {
    if (!cluster) return;
    await cluster.deleteNamespace(ns);
    await cluster.kubectl(['delete', 'crd', 'widgets.test.meshctl.dev', '--ignore-not-found', '--wait=false']);
  });

  it('kubectl talks to it and both report the pinned Kubernetes version', async () => {
    const r = await cluster.kubectl(['version', '-o', 'json']);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string; minor: string };
    };
    expect(v.serverVersion.gitVersion).toBe(versions.kubernetes);
    expect(v.clientVersion.gitVersion).toBe(versions.kubernetes);
    const nodes = await cluster.kubectl([
      'get',
      'nodes',
      '-o',
      'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
    ]);
    expect(nodes.stdout).toBe('True');
  });

  it('accepts a CRD, serves its resources, and rejects a custom resource that violates the schema', async () => {
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: widgetCrd });
    expect(applied.stderr).toBe('');
    const established = await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      'crd/widgets.test.meshctl.dev',
    ]);
    expect(established.code).toBe(0);

    const good = await cluster.kubectl(['apply', '-n', ns, '-f', '-'], {
      input: 'apiVersion: test.meshctl.dev/v1\nkind: Widget\nmetadata: {name: good}\nspec: {size: 3, color: red}\n',
    });
    expect(good.stdout).toContain('widget.test.meshctl.dev/good created');

    const bad = await cluster.kubectl(['apply', '-n', ns, '-f', '-'], {
      input: 'apiVersion: test.meshctl.dev/v1\nkind: Widget\nmetadata: {name: bad}\nspec: {size: 0, color: green}\n',
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1');
    expect(bad.stderr).toContain('spec.color: Unsupported value: "green"');

    const missing = await cluster.kubectl(['apply', '-n', ns, '-f', '-'], {
      input: 'apiVersion: test.meshctl.dev/v1\nkind: Widget\nmetadata: {name: empty}\nspec: {color: blue}\n',
    });
    expect(missing.stderr).toContain('spec.size: Required value');

    const list = await cluster.kubectl(['get', 'widgets', '-n', ns, '-o', 'name']);
    expect(list.stdout.trim()).toBe('widget.test.meshctl.dev/good');
  });
});
