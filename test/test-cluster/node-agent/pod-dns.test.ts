/** The pod resolv.conf the node agent writes, per dnsPolicy and dnsConfig, as the kubelet writes it. */
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podResolvConf } from './pod-dns.js';

const cluster = { serverIP: '198.18.128.10', domain: 'cluster.local' };
const node = '# host\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example\noptions edns0 timeout:2\n';
const pod = (spec: V1Pod['spec'] = { containers: [] }): V1Pod => ({ metadata: { namespace: 'shop' }, spec });

describe('pod resolv.conf', () => {
  it("ClusterFirst (the default): the cluster DNS, the namespace search path then the node's, ndots:5", () => {
    expect(podResolvConf(pod(), cluster, node)).toBe(
      'nameserver 198.18.128.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n',
    );
  });

  it("Default: the node's resolv.conf", () => {
    expect(podResolvConf(pod({ containers: [], dnsPolicy: 'Default' }), cluster, node)).toBe(
      'nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example\noptions edns0 timeout:2\n',
    );
  });

  it('None: only dnsConfig; dnsConfig options override those of the same name', () => {
    const none = pod({
      containers: [],
      dnsPolicy: 'None',
      dnsConfig: { nameservers: ['1.1.1.1'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }] },
    });
    expect(podResolvConf(none, cluster, node)).toBe('nameserver 1.1.1.1\nsearch a.example\noptions ndots:2\n');
    const tuned = pod({
      containers: [],
      dnsConfig: { options: [{ name: 'ndots', value: '1' }, { name: 'single-request' }] },
    });
    expect(podResolvConf(tuned, cluster, '')).toBe(
      'nameserver 198.18.128.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:1 single-request\n',
    );
  });

  it('keeps at most 3 nameservers', () => {
    const many = pod({ containers: [], dnsConfig: { nameservers: ['1.1.1.1', '8.8.8.8', '9.9.9.9'] } });
    expect(
      podResolvConf(many, cluster, '')
        .split('\n')
        .filter((l) => l.startsWith('nameserver')),
    ).toEqual(['nameserver 198.18.128.10', 'nameserver 1.1.1.1', 'nameserver 8.8.8.8']);
  });
});
