import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { defaultValues, resolveValues } from '../../src/install/values.js';
import { renderComponents } from '../../src/install/manifests.js';
import { manifestObjects, parseDocuments } from '../../src/config/documents.js';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  Deployment,
  Service,
  ClusterRole,
  Role,
  MutatingWebhookConfiguration,
  ValidatingWebhookConfiguration,
  PodDisruptionBudget,
};

describe('install manifests', () => {
  const objects = renderComponents(defaultValues('img:1'), '1.0.0');

  it('are valid Kubernetes objects', () => {
    for (const o of objects) MODELS[o.kind] && new MODELS[o.kind]!(o as never).validate();
    expect(objects.map((o) => o.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Role',
      'RoleBinding',
      'ConfigMap',
      'Service',
      'Deployment',
      'PodDisruptionBudget',
      'MutatingWebhookConfiguration',
      'ValidatingWebhookConfiguration',
      // the ingress gateway, on by default
      'ServiceAccount',
      'Deployment',
      'Service',
      'PodDisruptionBudget',
    ]);
  });

  it('grant least privilege: no wildcards on core groups, no cluster-wide secrets, writes only by name', () => {
    const cr = objects.find((o) => o.kind === 'ClusterRole') as unknown as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    };
    for (const r of cr.rules) {
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('secrets');
      if (r.resources.includes('*')) expect(r.verbs).toEqual(['get', 'list', 'watch']);
      if (r.resources.includes('mutatingwebhookconfigurations') && r.verbs.includes('patch'))
        expect(r.resourceNames).toEqual(['meshctl-sidecar-injector']);
      if (r.resources.includes('validatingwebhookconfigurations') && r.verbs.includes('patch'))
        expect(r.resourceNames).toEqual(['meshctl-validator']);
    }
    const role = objects.find((o) => o.kind === 'Role') as unknown as {
      metadata: { namespace: string };
      rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    };
    expect(role.metadata.namespace).toBe('mesh-system');
    // Reads of the mesh namespace's Secrets (gateway credentialName), read-only; writes only to the CA's by name.
    const secretRules = role.rules.filter((r) => r.resources.includes('secrets'));
    expect(secretRules.filter((r) => !r.resourceNames).map((r) => r.verbs)).toEqual([
      ['create'],
      ['get', 'list', 'watch'],
    ]);
    expect(secretRules.filter((r) => r.verbs.includes('update')).every((r) => r.resourceNames?.length === 1)).toBe(
      true,
    );
  });

  it('serve the webhook on 443 -> 15017 and select namespaces labelled for injection', () => {
    const svc = objects.find((o) => o.kind === 'Service') as unknown as {
      spec: { ports: { port: number; targetPort: number }[] };
    };
    expect(svc.spec.ports).toContainEqual(expect.objectContaining({ port: 443, targetPort: 15017 }));
    const wh = objects.find((o) => o.kind === 'MutatingWebhookConfiguration') as unknown as {
      webhooks: { namespaceSelector: unknown; failurePolicy: string }[];
    };
    expect(wh.webhooks[0]!.namespaceSelector).toEqual({ matchLabels: { 'meshctl.dev/inject': 'enabled' } });
    expect(wh.webhooks[0]!.failurePolicy).toBe('Fail');
    // The validator: every mesh group on CREATE/UPDATE, open until the control plane closes it (as istiod's).
    const vh = objects.find((o) => o.kind === 'ValidatingWebhookConfiguration') as unknown as {
      webhooks: {
        failurePolicy: string;
        clientConfig: { service: { path: string } };
        rules: { apiGroups: string[] }[];
      }[];
    };
    expect(vh.webhooks[0]!.failurePolicy).toBe('Ignore');
    expect(vh.webhooks[0]!.clientConfig.service.path).toBe('/validate');
    expect(vh.webhooks[0]!.rules[0]!.apiGroups).toEqual(expect.arrayContaining(['networking.istio.io', 'linkerd.io']));
  });
});

describe('install values', () => {
  it('apply values files, then --set, and reject unknown keys and bad values naming them', () => {
    const v = resolveValues(
      defaultValues('i'),
      [{ name: 'v.yaml', values: { controlPlane: { replicas: 3 }, webhook: { failurePolicy: 'Ignore' } } }],
      ['controlPlane.replicas=5'],
    );
    expect(v.controlPlane.replicas).toBe(5);
    expect(v.webhook.failurePolicy).toBe('Ignore');
    expect(() =>
      resolveValues(defaultValues('i'), [{ name: 'v.yaml', values: { controlPlane: { replica: 3 } } }], []),
    ).toThrow(/v\.yaml: controlPlane\.replica: unknown setting/);
    expect(() => resolveValues(defaultValues('i'), [], ['webhook.failurePolicy=Maybe'])).toThrow(
      /expected Fail or Ignore/,
    );
    expect(() => resolveValues(defaultValues('i'), [], ['controlPlane.replicas=two'])).toThrow(
      /expected a whole number/,
    );
    expect(() => resolveValues(defaultValues('i'), [], ['ca.cert=/x.pem'])).toThrow(/ca.cert and ca.key go together/);
    expect(() => resolveValues(defaultValues('i'), [], ['certTtl=forever'])).toThrow(/not a duration/);
    expect(() => resolveValues(defaultValues('i'), [], ['certTtl=2161h'])).toThrow(
      /above the longest workload certificate lifetime, 90 days/,
    );
    expect(resolveValues(defaultValues('i'), [], ['certTtl=2160h']).certTtl).toBe('2160h');
  });

  it("Linkerd's proxy.defaultInboundPolicy reaches the control plane's arguments; an unknown policy is refused", () => {
    const args = (sets: string[]) =>
      (
        renderComponents(resolveValues(defaultValues('i'), [], sets), '1.0.0').find(
          (o) => o.kind === 'Deployment',
        ) as unknown as {
          spec: { template: { spec: { containers: { args: string[] }[] } } };
        }
      ).spec.template.spec.containers[0]!.args;
    expect(args(['proxy.defaultInboundPolicy=deny'])).toEqual(
      expect.arrayContaining(['--default-inbound-policy', 'deny']),
    );
    expect(args([])).not.toContain('--default-inbound-policy');
    expect(() => resolveValues(defaultValues('i'), [], ['proxy.defaultInboundPolicy=nobody'])).toThrow(
      /proxy.defaultInboundPolicy=nobody: not a Linkerd default inbound policy/,
    );
  });
});

describe('meshctl manifest generate', () => {
  it('prints the components as YAML, with values from -f and --set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-values-'));
    await writeFile(join(dir, 'values.yaml'), 'controlPlane:\n  replicas: 3\n');
    const r = await runCli([
      'manifest',
      'generate',
      '--skip-crds',
      '-f',
      join(dir, 'values.yaml'),
      '--set',
      'webhook.failurePolicy=Ignore',
    ]);
    expect(r.code).toBe(0);
    const objs = manifestObjects(parseDocuments(r.stdout, 'out')).map((o) => o.object as Record<string, any>);
    expect(objs.find((o) => o.kind === 'Deployment')!.spec.replicas).toBe(3);
    expect(objs.find((o) => o.kind === 'MutatingWebhookConfiguration')!.webhooks[1].failurePolicy).toBe('Ignore');
  });

  it('rejects bad flag combinations and bad values with exit 64', async () => {
    expect((await runCli(['manifest', 'generate', '--crds-only', '--skip-crds'])).code).toBe(64);
    const bad = await runCli(['manifest', 'generate', '--set', 'nope=1']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--set nope: unknown setting');
  });
});
