/**
 * WorkloadEntries as endpoints, from the YAML users write to the clusters a client's sidecar gets,
 * through the registry functions both platforms call and the push snapshot: which Services and
 * ServiceEntries select them (labels, namespace), their ports (Istio's name mapping), weight, and
 * auto mTLS (tlsMode label, serviceAccount, DestinationRule). The traffic itself: test/e2e/workload-entry.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  manifestObjects,
  parseDocuments,
  validateResource,
  type CoreObject,
  type MeshResource,
} from '../../../src/config/index.js';
import { type ClusterConfig, type ProxyConfig } from '../../../src/protocol/proxy-config/index.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import { PushSnapshot } from '../../../src/control-plane/push/snapshot.js';
import { collectServices } from '../../../src/control-plane/registry/services.js';
import { serviceFromObject } from '../../../src/control-plane/kubernetes/convert.js';
import {
  withEntryWorkloads,
  workloadFromEntry,
  workloadsFromEntries,
} from '../../../src/control-plane/registry/workload-entries.js';
import type { WorkloadRecord } from '../../../src/control-plane/registry/model.js';
import { proxyConfigFor } from '../../../src/control-plane/translate/index.js';

function parse(yaml: string): { configs: MeshResource[]; services: CoreObject[] } {
  const configs: MeshResource[] = [];
  const services: CoreObject[] = [];
  for (const o of manifestObjects(parseDocuments(yaml, 'we.yaml'))) {
    const r = validateResource(o, { defaultNamespace: 'default' });
    expect(r.errors).toEqual([]);
    if (r.resource) configs.push(r.resource);
    else if (r.coreObject) services.push(r.coreObject);
  }
  return { configs, services };
}

const client: WorkloadRecord = {
  name: 'sleep-1',
  namespace: 'default',
  serviceAccount: 'sleep',
  labels: { app: 'sleep' },
  address: '127.0.0.1',
  ports: [9000],
  outboundPort: 15001,
};

/** The snapshot the local control plane builds from this YAML (Service objects and config), and the client's config. */
function configFor(yaml: string, workloads: WorkloadRecord[] = [client]): { snap: PushSnapshot; config: ProxyConfig } {
  const { configs, services } = parse(yaml);
  const snap = new PushSnapshot('1', {
    configs,
    services: collectServices(services, workloads),
    workloads: withEntryWorkloads(workloads, configs),
  });
  const { config } = proxyConfigFor(snap, snap.workload('sleep-1', 'default')!, {
    mode: 'explicit',
    outboundPort: 15001,
  });
  const v = validateProxyConfig({
    ...config,
    identity: { certChain: 'cert.pem', privateKey: 'key.pem', trustRoots: 'root.pem' },
  });
  expect(v.ok ? [] : v.errors).toEqual([]);
  return { snap, config };
}

const cluster = (c: ProxyConfig, name: string): ClusterConfig | undefined => c.clusters!.find((x) => x.name === name);
const endpoints = (c: ProxyConfig, name: string) =>
  (cluster(c, name)?.endpoints ?? []).map((e) => ({
    address: e.address,
    port: e.port,
    tls: e.tls,
    ...(e.weight !== undefined ? { weight: e.weight } : {}),
    ...(e.identity ? { identity: e.identity } : {}),
  }));

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  ports:
  - {name: http, port: 9080, targetPort: 8080}
  - {name: tcp-admin, port: 9900, targetPort: admin}
  - {name: http-metrics, port: 9100}
`;

const entry = (name: string, spec: string, ns = 'default'): string => `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}
`;

describe('WorkloadEntry -> endpoints', () => {
  it('is an endpoint of the Services of its namespace whose selector matches its labels, plain text without a sidecar', () => {
    const { config, snap } = configFor(
      SERVICE +
        entry('vm-1', '  address: 198.18.0.41\n  labels: {app: legacy, version: v1}') +
        entry('vm-other', '  address: 198.18.0.42\n  labels: {app: legacy}', 'other') +
        entry('vm-unrelated', '  address: 198.18.0.43\n  labels: {app: unrelated}'),
    );
    expect(endpoints(config, 'outbound|9080||legacy.default.svc.cluster.local')).toEqual([
      { address: '198.18.0.41', port: 8080, tls: 'disable' },
    ]);
    // The snapshot's endpoints (what `proxy-config endpoints` and the debug API read) agree.
    expect(snap.endpointsOf('legacy', 'default', 9080).map((e) => `${e.workload} ${e.address}:${e.port}`)).toEqual([
      'vm-1 198.18.0.41:8080',
    ]);
    // An entry is no proxy: nothing gets config as it.
    expect(snap.workload('vm-1', 'default')).toBeUndefined();
  });

  it('maps ports as Istio does: its ports entry named by the service port or the named targetPort, else targetPort, else the port; a named targetPort it lacks: no endpoint', () => {
    const { config } = configFor(
      SERVICE +
        entry('vm-1', '  address: 198.18.0.41\n  labels: {app: legacy}\n  ports: {http: 18080, admin: 19900}') +
        entry('vm-2', '  address: 198.18.0.42\n  labels: {app: legacy}'),
    );
    const fqdn = 'legacy.default.svc.cluster.local';
    expect(endpoints(config, `outbound|9080||${fqdn}`).map((e) => `${e.address}:${e.port}`)).toEqual([
      '198.18.0.41:18080',
      '198.18.0.42:8080',
    ]);
    expect(endpoints(config, `outbound|9900||${fqdn}`).map((e) => `${e.address}:${e.port}`)).toEqual([
      '198.18.0.41:19900',
    ]);
    expect(endpoints(config, `outbound|9100||${fqdn}`).map((e) => `${e.address}:${e.port}`)).toEqual([
      '198.18.0.41:9100',
      '198.18.0.42:9100',
    ]);
  });

  it('weight becomes the endpoint weight, beside a meshed workload (mTLS to its identity) of the same Service', () => {
    const run: WorkloadRecord = {
      name: 'legacy-run',
      namespace: 'default',
      serviceAccount: 'legacy',
      labels: { app: 'legacy' },
      address: '127.0.0.1',
      ports: [8080],
      proxyPort: 15999,
    };
    const { config } = configFor(
      SERVICE + entry('vm-1', '  address: 198.18.0.41\n  labels: {app: legacy}\n  weight: 3'),
      [client, run],
    );
    expect(endpoints(config, 'outbound|9080||legacy.default.svc.cluster.local')).toEqual([
      { address: '127.0.0.1', port: 15999, tls: 'mutual', identity: 'spiffe://cluster.local/ns/default/sa/legacy' },
      { address: '198.18.0.41', port: 8080, tls: 'disable', weight: 3 },
    ]);
  });

  it('serviceAccount (or the tlsMode label) says it runs a sidecar: mTLS to that identity; a DestinationRule overrides both ways', () => {
    const dr = (mode: string): string => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy}
spec:
  host: legacy
  trafficPolicy: {tls: {mode: ${mode}}}
`;
    const entries =
      entry('vm-sa', '  address: 198.18.0.41\n  labels: {app: legacy}\n  serviceAccount: legacy-vm') +
      entry(
        'vm-label',
        '  address: 198.18.0.42\n  labels: {app: legacy, security.istio.io/tlsMode: istio}\n  serviceAccount: legacy-vm',
      ) +
      entry(
        'vm-off',
        '  address: 198.18.0.43\n  labels: {app: legacy, security.istio.io/tlsMode: disabled}\n  serviceAccount: legacy-vm',
      ) +
      entry('vm-plain', '  address: 198.18.0.44\n  labels: {app: legacy}');
    const name = 'outbound|9080||legacy.default.svc.cluster.local';
    const id = 'spiffe://cluster.local/ns/default/sa/legacy-vm';
    expect(endpoints(configFor(SERVICE + entries).config, name)).toEqual([
      { address: '198.18.0.41', port: 8080, tls: 'mutual', identity: id },
      { address: '198.18.0.42', port: 8080, tls: 'mutual', identity: id },
      { address: '198.18.0.43', port: 8080, tls: 'disable' },
      { address: '198.18.0.44', port: 8080, tls: 'disable' },
    ]);
    expect(endpoints(configFor(SERVICE + entries + dr('DISABLE')).config, name).map((e) => e.tls)).toEqual([
      'disable',
      'disable',
      'disable',
      'disable',
    ]);
    expect(endpoints(configFor(SERVICE + entries + dr('ISTIO_MUTUAL')).config, name).map((e) => e.tls)).toEqual([
      'mutual',
      'mutual',
      'mutual',
      'mutual',
    ]);
  });

  it('is an endpoint of a ServiceEntry whose workloadSelector matches it, ports by the entry port name, with its weight', () => {
    const { config } = configFor(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy-ext}
spec:
  hosts: [legacy.example.internal]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: legacy}}
` +
        entry('vm-1', '  address: 198.18.0.41\n  labels: {app: legacy}\n  ports: {http: 18080}\n  weight: 2') +
        entry('vm-2', '  address: 198.18.0.42\n  labels: {app: legacy}') +
        entry('vm-3', '  address: 198.18.0.43\n  labels: {app: legacy}', 'other'),
    );
    expect(endpoints(config, 'outbound|80||legacy.example.internal')).toEqual([
      { address: '198.18.0.41', port: 18080, tls: 'disable', weight: 2 },
      { address: '198.18.0.42', port: 8080, tls: 'disable' },
    ]);
  });

  it('entries without a dialable address are no endpoint; a running workload of the same name keeps its record', () => {
    const { configs } = parse(
      entry('placeholder', '  labels: {app: legacy}') +
        entry('socket', '  address: unix:///var/run/legacy.sock\n  labels: {app: legacy}') +
        entry('sleep-1', '  address: 198.18.0.45\n  labels: {app: legacy}') +
        entry('vm-1', '  address: 198.18.0.41\n  labels: {app: legacy}\n  weight: 0'),
    );
    expect(workloadsFromEntries(configs).map((w) => w.name)).toEqual(['sleep-1', 'vm-1']);
    expect(workloadFromEntry(configs[3] as never)).not.toHaveProperty('weight');
    expect(withEntryWorkloads([client], configs).map((w) => `${w.name} ${w.address}`)).toEqual([
      'sleep-1 127.0.0.1',
      'vm-1 198.18.0.41',
    ]);
  });

  it('Kubernetes Services carry the named targetPort the entry ports map by', () => {
    const svc = serviceFromObject(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'legacy', namespace: 'default' },
        spec: { selector: { app: 'legacy' }, ports: [{ name: 'tcp-admin', port: 9900, targetPort: 'admin' }] },
      },
      [],
    );
    expect(svc.ports[0]).toMatchObject({ port: 9900, targetPortName: 'admin' });
  });
});
