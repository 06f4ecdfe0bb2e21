/**
 * The offline halves of the Kubernetes CLI commands: CRD currency as `check` judges it; the proxy
 * version `upgrade` reads from a pod. A pod's proxy config is the proxy's own admin answer through
 * pods/exec: its offline part is test/cluster/kubernetes/proxy-admin.test.ts, the views on a cluster
 * test/kubernetes-e2e/cli-commands.test.ts (endpoint health included) and admin-api.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { crdDifferences } from '../../../src/checks/kubernetes/index.js';
import { proxyVersionOf } from '../../../src/cluster/kubernetes/upgrade.js';
import { loadCrds } from '../../../src/install/crds.js';

describe('CRD currency and proxy versions', () => {
  it('finds a CRD current when equal to the template (key order aside), and names what differs', async () => {
    type Crd = Parameters<typeof crdDifferences>[0];
    const template = ((await loadCrds()) as unknown as Crd[])[0]!;
    const copy = JSON.parse(JSON.stringify(template)) as Crd;
    // The same schema with its keys in another order is the same schema.
    copy.spec.versions = copy.spec.versions.map((v) => Object.fromEntries(Object.entries(v).reverse()) as typeof v);
    expect(crdDifferences(template, copy)).toEqual([]);
    const older = JSON.parse(JSON.stringify(template)) as Crd;
    const last = older.spec.versions.pop()!;
    expect(crdDifferences(template, older)).toEqual([`version ${last.name} missing`]);
    const edited = JSON.parse(JSON.stringify(template)) as Crd;
    edited.spec.versions[0]!.schema = { openAPIV3Schema: { type: 'object' } };
    expect(crdDifferences(template, edited)).toEqual([`version ${edited.spec.versions[0]!.name} has another schema`]);
  });

  it("reads a pod's proxy version from its injection record, else from the proxy image tag", () => {
    const pod = (annotations: Record<string, string>, image = 'ghcr.io/meshctl/meshctl:0.0.8') => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', annotations },
      spec: { initContainers: [{ name: 'mesh-proxy', image }], containers: [{ name: 'app', image: 'app:2.0' }] },
    });
    expect(proxyVersionOf(pod({ 'meshctl.dev/status': JSON.stringify({ v: 1, version: '0.0.9' }) }))).toBe('0.0.9');
    expect(proxyVersionOf(pod({}))).toBe('0.0.8');
    expect(proxyVersionOf(pod({ 'meshctl.dev/status': 'not json' }, 'registry:5000/meshctl:1.2.3'))).toBe('1.2.3');
  });
});
