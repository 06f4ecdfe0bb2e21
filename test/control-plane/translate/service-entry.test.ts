/**
 * ServiceEntry and Gateway fields as they land in the proxy config, one at a time (the truth tables
 * cite this file for the fields the end-to-end tests do not reach): exportTo, workloadSelector,
 * resolutions, and gateway TLS from file paths, client SANs and caCertCredentialName. Every
 * generated config passes the proxy's validator.
 */
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import { type ClusterConfig, type ProxyConfig } from '../../../src/protocol/proxy-config/index.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import { proxyConfigFor, type MeshSnapshot, type MeshWorkload } from '../../../src/control-plane/translate/index.js';

function resources(yaml: string): MeshResource[] {
  return manifestObjects(parseDocuments(yaml, 'test.yaml')).map((o) => {
    const r = validateResource(o, { defaultNamespace: 'default' });
    if (!r.resource && !r.coreObject) throw new Error(r.errors.map((e) => e.message).join('; '));
    return (r.resource ?? r.coreObject) as MeshResource;
  });
}

const workload = (
  name: string,
  namespace: string,
  labels: Record<string, string>,
  address: string,
  extra: Partial<MeshWorkload> = {},
): MeshWorkload => ({ name, namespace, serviceAccount: name, labels, address, meshed: true, ...extra }) as MeshWorkload;
const client = workload('client-1', 'default', { app: 'client' }, '198.18.0.21');
const other = workload('other-1', 'other', { app: 'other' }, '198.18.0.31');
const vm = workload('vm-1', 'default', { app: 'legacy' }, '198.18.0.41');
const gw = workload('ingress-1', 'default', { istio: 'ingressgateway' }, '127.0.0.1', {
  gateway: { address: '127.0.0.1', ports: { 443: 8443 } },
} as Partial<MeshWorkload>);

function generate(yaml: string, w: MeshWorkload = client): ProxyConfig {
  const snapshot = {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: [],
    workloads: [client, other, vm, gw],
    resources: resources(yaml),
  } as unknown as MeshSnapshot;
  const { config } = proxyConfigFor(snapshot, w, { mode: 'explicit', outboundPort: 15001 });
  const v = validateProxyConfig({
    ...config,
    identity: { certChain: 'cert.pem', privateKey: 'key.pem', trustRoots: 'root.pem' },
  });
  expect(v.ok ? [] : v.errors).toEqual([]);
  return config;
}
const cluster = (c: ProxyConfig, name: string): ClusterConfig | undefined => c.clusters!.find((x) => x.name === name);

const se = (name: string, spec: string, ns = 'default'): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}
`;

describe('ServiceEntry fields in the proxy config', () => {
  it('exportTo "." keeps the entry to its own namespace', () => {
    const yaml = se(
      'api',
      '  hosts: [api.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n  exportTo: ["."]',
    );
    expect(cluster(generate(yaml, client), 'outbound|80||api.example.com')).toBeDefined();
    expect(cluster(generate(yaml, other), 'outbound|80||api.example.com')).toBeUndefined();
  });

  it('workloadSelector: the selected mesh workloads are the endpoints, with mTLS to their identity (MESH_INTERNAL)', () => {
    const c = cluster(
      generate(
        se(
          'legacy',
          '  hosts: [legacy.example.internal]\n  ports: [{number: 8080, name: http, protocol: HTTP}]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  workloadSelector: {labels: {app: legacy}}',
        ),
      ),
      'outbound|8080||legacy.example.internal',
    )!;
    expect(c.endpoints).toEqual([
      expect.objectContaining({
        address: '198.18.0.41',
        port: 8080,
        identity: 'spiffe://cluster.local/ns/default/sa/vm-1',
        tls: 'mutual',
      }),
    ]);
  });

  it('resolution: DNS without endpoints dials the host itself, NONE the original destination, STATIC maps named ports', () => {
    const yaml = [
      se(
        'dns',
        '  hosts: [api.example.com]\n  ports: [{number: 443, name: https, protocol: HTTPS, targetPort: 8443}]\n  resolution: DNS',
      ),
      se(
        'none',
        '  hosts: ["*.wild.example"]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: NONE',
      ),
      se(
        'static',
        '  hosts: [db.example]\n  ports: [{number: 5432, name: pg, protocol: TCP}]\n  resolution: STATIC\n  endpoints: [{address: 198.18.1.1, ports: {pg: 15432}}]',
      ),
    ].join('---\n');
    const c = generate(yaml);
    expect(cluster(c, 'outbound|443||api.example.com')!.endpoints).toEqual([
      { address: 'api.example.com', port: 8443, tls: 'disable' },
    ]);
    expect(cluster(c, 'outbound|80||*.wild.example')!.type).toBe('originalDst');
    expect(cluster(c, 'outbound|5432||db.example')!.endpoints).toEqual([
      { address: '198.18.1.1', port: 15432, tls: 'disable' },
    ]);
  });
});

describe('Gateway TLS fields in the proxy config', () => {
  const gateway = (tls: string): string => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [api.example.com]
    tls: ${tls}
`;
  const serverTls = (c: ProxyConfig) => c.listeners.find((l) => l.name === 'gateway|443')!.chains[0]!.serverTls!;

  it('serverCertificate/privateKey/caCertificates as file paths reach the proxy, which reads them', () => {
    const t = serverTls(
      generate(
        gateway(
          '{mode: MUTUAL, serverCertificate: /etc/certs/tls.crt, privateKey: /etc/certs/tls.key, caCertificates: /etc/certs/ca.crt, subjectAltNames: [spiffe://partner/client]}',
        ),
        gw,
      ),
    );
    expect(t).toMatchObject({
      mode: 'mutual',
      certificates: [
        { certChain: '/etc/certs/tls.crt', privateKey: '/etc/certs/tls.key', serverNames: ['api.example.com'] },
      ],
      caCertificates: '/etc/certs/ca.crt',
      subjectAltNames: ['spiffe://partner/client'],
    });
  });

  it('caCertCredentialName: the client CA comes from its own Secret', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const secrets = `apiVersion: v1
kind: Secret
metadata: {name: api-cert}
type: kubernetes.io/tls
data: {tls.crt: ${b64('-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n')}, tls.key: ${b64('-----BEGIN PRIVATE KEY-----\nB\n-----END PRIVATE KEY-----\n')}}
---
apiVersion: v1
kind: Secret
metadata: {name: partner-ca}
type: Opaque
data: {ca.crt: ${b64('-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n')}}
---
`;
    const t = serverTls(
      generate(secrets + gateway('{mode: MUTUAL, credentialName: api-cert, caCertCredentialName: partner-ca}'), gw),
    );
    expect(t.caCertificates).toContain('CA');
    expect(t.certificates[0]!.certChain).toContain('BEGIN CERTIFICATE');
  });
});
