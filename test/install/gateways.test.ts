/**
 * The gateways install deploys: labels Istio's Gateways select, Service ports mapped to the pod's
 * unprivileged ones, a PodDisruptionBudget, no RBAC and no API token, and the --set keys.
 */
import { describe, expect, it } from 'vitest';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { defaultValues, resolveValues } from '../../src/install/values.js';
import { renderGateways } from '../../src/install/gateways.js';
import { renderComponents } from '../../src/install/manifests.js';
import { gatewayPorts, workloadFromPod, type PodObject } from '../../src/control-plane/kubernetes/convert.js';
import { runCli } from '../support/cli.js';
import { manifestObjects, parseDocuments } from '../../src/config/documents.js';
import { meshVolumes, proxyContainer } from '../../src/inject/sidecar.js';
import { defaultInjectOptions } from '../../src/inject/options.js';
import { podEnvironment } from '../../src/proxy-runtime/bootstrap/kubernetes.js';

type Obj = Record<string, any>;
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  Deployment,
  Service,
  PodDisruptionBudget,
  ServiceAccount,
};
const of = (objs: Obj[], kind: string, name: string): Obj | undefined =>
  objs.find((o) => o.kind === kind && o.metadata.name === name);

describe('install gateways', () => {
  it('deploys the ingress gateway by default: LoadBalancer 80/443 -> 8080/8443, labels istio: ingressgateway', () => {
    const objs = renderGateways(defaultValues('img:1'), '1.0.0') as Obj[];
    for (const o of objs) new MODELS[o.kind]!(o as never).validate();
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/istio-ingressgateway',
      'Deployment/istio-ingressgateway',
      'Service/istio-ingressgateway',
      'PodDisruptionBudget/istio-ingressgateway',
    ]);
    const svc = of(objs, 'Service', 'istio-ingressgateway')!;
    expect(svc.spec.type).toBe('LoadBalancer');
    expect(svc.spec.ports.map((p: Obj) => [p.port, p.targetPort])).toEqual([
      [80, 8080],
      [443, 8443],
    ]);
    const dep = of(objs, 'Deployment', 'istio-ingressgateway')!;
    const labels = dep.spec.template.metadata.labels;
    expect(labels).toMatchObject({
      istio: 'ingressgateway',
      app: 'istio-ingressgateway',
      'app.kubernetes.io/managed-by': 'meshctl',
    });
    expect(svc.spec.selector).toEqual({ istio: 'ingressgateway', app: 'istio-ingressgateway' });
    // The pod the Deployment makes is a gateway workload serving exactly the Service's target ports.
    const pod: PodObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'gw-1', namespace: 'mesh-system', labels, annotations: dep.spec.template.metadata.annotations },
      spec: dep.spec.template.spec,
      status: { podIP: '198.18.0.9', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    expect(workloadFromPod(pod)!.gateway).toEqual({ address: '0.0.0.0', ports: { 80: 8080, 443: 8443 } });
    const c = dep.spec.template.spec.containers[0];
    expect(c.args).toEqual(['proxy', 'run']);
    expect(c.env).toContainEqual({ name: 'MESH_PROXY_MODE', value: 'router' });
    expect(gatewayPorts(dep.spec.template.metadata.annotations['meshctl.dev/gateway-ports'])).toEqual({
      80: 8080,
      443: 8443,
    });
  });

  it('grant the gateway nothing: its own ServiceAccount, no API token, no Role, no Secret mount, not root', () => {
    const objs = renderComponents(defaultValues('img:1'), '1.0.0') as Obj[];
    const sa = of(objs, 'ServiceAccount', 'istio-ingressgateway')!;
    expect(sa.automountServiceAccountToken).toBe(false);
    const bindings = objs.filter((o) => /RoleBinding$/.test(o.kind));
    expect(bindings.flatMap((b) => b.subjects.map((s: Obj) => s.name))).not.toContain('istio-ingressgateway');
    const spec = of(objs, 'Deployment', 'istio-ingressgateway')!.spec.template.spec;
    expect(spec.serviceAccountName).toBe('istio-ingressgateway');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(JSON.stringify(spec.volumes)).not.toContain('secret');
    expect(spec.securityContext.runAsNonRoot).toBe(true);
    expect(spec.containers[0].securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(of(objs, 'PodDisruptionBudget', 'istio-ingressgateway')!.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { istio: 'ingressgateway', app: 'istio-ingressgateway' } },
    });
  });

  it('keep the proxy identity volume as injected sidecars do, so the admin token lands in a 0600 file in memory', () => {
    const dep = of(renderGateways(defaultValues('img:1'), '1.0.0') as Obj[], 'Deployment', 'istio-ingressgateway')!;
    const spec = dep.spec.template.spec;
    const c = spec.containers[0];
    const sidecar = proxyContainer(defaultInjectOptions('1.0.0', 'img:1'), { appPorts: [], probers: {} }) as Obj;
    const certsMount = sidecar.volumeMounts.find((m: Obj) => m.name === 'mesh-certs');
    const certsEnv = sidecar.env.find((e: Obj) => e.name === 'MESH_CERTS_DIR');
    expect(c.volumeMounts).toContainEqual(certsMount);
    expect(c.env).toContainEqual(certsEnv);
    expect(spec.volumes).toContainEqual(meshVolumes().find((v) => v.name === 'mesh-certs'));
    expect(spec.volumes).toContainEqual({ name: 'mesh-certs', emptyDir: { medium: 'Memory' } });
    // What the gateway's proxy reads from that environment: a certs directory, so it writes its token there.
    const env = Object.fromEntries(
      (c.env as Obj[]).map((e) => [e.name, e.value ?? `from-${e.valueFrom.fieldRef.fieldPath}`]),
    );
    expect(podEnvironment(env)).toMatchObject({ certsDir: certsMount.mountPath, router: true });
  });

  it('follow --set gateways.*: off, NodePort, replicas, and the egress gateway (ClusterIP, istio: egressgateway)', () => {
    const off = resolveValues(defaultValues('i'), [], ['gateways.ingress.enabled=false']);
    expect(renderGateways(off, '1')).toEqual([]);
    const v = resolveValues(
      defaultValues('i'),
      [],
      ['gateways.ingress.serviceType=NodePort', 'gateways.ingress.replicas=3', 'gateways.egress.enabled=true'],
    );
    const objs = renderGateways(v, '1') as Obj[];
    expect(of(objs, 'Service', 'istio-ingressgateway')!.spec.type).toBe('NodePort');
    expect(of(objs, 'Deployment', 'istio-ingressgateway')!.spec.replicas).toBe(3);
    const egress = of(objs, 'Service', 'istio-egressgateway')!;
    expect(egress.spec.type).toBe('ClusterIP');
    expect(egress.spec.selector).toEqual({ istio: 'egressgateway', app: 'istio-egressgateway' });
    expect(() => resolveValues(defaultValues('i'), [], ['gateways.ingress.serviceType=External'])).toThrow(
      /gateways.ingress.serviceType=External: not a Service type/,
    );
    expect(() => resolveValues(defaultValues('i'), [], ['gateways.ingress.replicas=0'])).toThrow(
      /gateways.ingress.replicas must be at least 1/,
    );
    expect(() => resolveValues(defaultValues('i'), [], ['gateways.ingres.enabled=true'])).toThrow(/unknown setting/);
  });

  it('are printed by meshctl manifest generate', async () => {
    const r = await runCli(['manifest', 'generate', '--skip-crds', '--set', 'gateways.egress.enabled=true']);
    expect(r.code).toBe(0);
    const objs = manifestObjects(parseDocuments(r.stdout, 'out')).map((o) => o.object as Obj);
    expect(of(objs, 'Service', 'istio-ingressgateway')?.spec.type).toBe('LoadBalancer');
    expect(of(objs, 'Deployment', 'istio-egressgateway')?.spec.template.metadata.labels.istio).toBe('egressgateway');
  });
});
