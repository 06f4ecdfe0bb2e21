/**
 * SO_ORIGINAL_DST through koffi, in real network namespaces with real iptables REDIRECT rules:
 * inbound (PREROUTING) and outbound (OUTPUT) redirections, IPv4 and IPv6, a dual-stack listener,
 * and a connection that was not redirected.
 */
import { expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { netnsRequirements } from './support/requirements.js';
import { useNetnsLab, type NetnsHost, type NetnsLab } from './support/netns.js';
import { fixture, NODE } from './support/fixtures.js';
import { originalDstAvailable, parseSockaddr } from '../../src/proxy-runtime/listeners/capture/original-dst.js';

interface Reply {
  ok: boolean;
  dst?: { address: string; port: number; family: string };
  local?: { address: string; port: number };
  error?: string;
  /** What the capture listeners' resolver answers for the same socket. */
  resolver?: { address: string; port: number } | null;
}

async function ask(lab: NetnsLab, from: NetnsHost, host: string, port: number): Promise<Reply> {
  const r = await lab.exec(from, NODE, [await fixture('tcp-client.ts'), host, String(port)]);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Reply;
}

it('parses sockaddr_in and sockaddr_in6 as the kernel lays them out', () => {
  const v4 = Buffer.alloc(16);
  v4.writeUInt16LE(2, 0);
  v4.writeUInt16BE(8080, 2);
  Buffer.from([198, 18, 0, 2]).copy(v4, 4);
  expect(parseSockaddr(v4)).toEqual({ address: '198.18.0.2', port: 8080, family: 'IPv4' });
  const v6 = Buffer.alloc(28);
  v6.writeUInt16LE(10, 0);
  v6.writeUInt16BE(443, 2);
  Buffer.from('fd000198001800000000000000000002', 'hex').copy(v6, 8);
  expect(parseSockaddr(v6)).toEqual({ address: 'fd00:198:18::2', port: 443, family: 'IPv6' });
});

it('loads the koffi binding on Linux', () => {
  expect(originalDstAvailable()).toBe(process.platform === 'linux');
});

describeRequiring(netnsRequirements, 'SO_ORIGINAL_DST in network namespaces (IPv4 and IPv6)', () => {
  const lab = useNetnsLab(['client', 'pod']);
  let pod: NetnsHost;
  let client: NetnsHost;

  it('sets up REDIRECT rules and a listener running as the proxy user', async () => {
    pod = lab().host('pod');
    client = lab().host('client');
    for (const [bin, outside] of [
      ['iptables', '198.18.7.7'],
      ['ip6tables', 'fd00:198:18::77'],
    ] as const) {
      for (const rule of [
        ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '8080', '-j', 'REDIRECT', '--to-ports', '15001'],
        [
          '-t',
          'nat',
          '-A',
          'OUTPUT',
          '-p',
          'tcp',
          '-d',
          outside,
          '--dport',
          '9999',
          '-j',
          'REDIRECT',
          '--to-ports',
          '15001',
        ],
      ]) {
        const r = await lab().exec(pod, bin, rule);
        expect(r.stderr).toBe('');
      }
    }
    // Outbound destinations outside the lab subnet need a route before the OUTPUT hook sees them.
    expect((await lab().exec(pod, 'ip', ['route', 'add', '198.18.7.0/24', 'dev', 'eth0'])).exitCode).toBe(0);
    expect((await lab().exec(pod, 'ip', ['-6', 'route', 'add', 'fd00:198:18::77/128', 'dev', 'eth0'])).exitCode).toBe(
      0,
    );
    const server = lab().start(pod, NODE, [await fixture('original-dst-server.ts'), '::', '15001'], {
      uid: 1337,
      gid: 1337,
    });
    const [, , uid] = await server.waitFor(/READY (\d+) uid=(\d+)/);
    expect(uid).toBe('1337');
  });

  it('recovers an inbound IPv4 destination redirected in PREROUTING', async () => {
    expect(await ask(lab(), client, pod.ipv4, 8080)).toMatchObject({
      ok: true,
      dst: { address: pod.ipv4, port: 8080, family: 'IPv4' },
      resolver: { address: pod.ipv4, port: 8080 },
    });
  });

  it('recovers an inbound IPv6 destination redirected in PREROUTING', async () => {
    expect(await ask(lab(), client, pod.ipv6, 8080)).toMatchObject({
      ok: true,
      dst: { address: pod.ipv6, port: 8080, family: 'IPv6' },
      resolver: { address: pod.ipv6, port: 8080 },
    });
  });

  it('recovers outbound IPv4 and IPv6 destinations redirected in OUTPUT (addresses the pod does not own)', async () => {
    expect(await ask(lab(), pod, '198.18.7.7', 9999)).toMatchObject({
      ok: true,
      dst: { address: '198.18.7.7', port: 9999, family: 'IPv4' },
    });
    expect(await ask(lab(), pod, 'fd00:198:18::77', 9999)).toMatchObject({
      ok: true,
      dst: { address: 'fd00:198:18::77', port: 9999, family: 'IPv6' },
    });
  });

  it('answers with the listener itself for a connection that was not redirected', async () => {
    // No NAT happened: the "original" destination is where the client connected, the capture
    // port itself, which is how the capture listener recognises (and refuses) a direct connection.
    const reply = await ask(lab(), client, pod.ipv4, 15001);
    expect(reply).toEqual({
      ok: true,
      dst: { address: pod.ipv4, port: 15001, family: 'IPv4' },
      local: { address: `::ffff:${pod.ipv4}`, port: 15001 },
      resolver: null,
    });
  });
});
