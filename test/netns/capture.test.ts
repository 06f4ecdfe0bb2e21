/**
 * Transparent capture end to end in real network namespaces: `meshctl proxy init` rules in each
 * pod, the capture listeners running as UID 1337, and unmodified clients (curl, Node's http, a
 * server-first TCP client) running as an ordinary user, calling another namespace's address.
 *
 * The sidecars here run the capture listeners' passthrough path (src/proxy-runtime/listeners/capture):
 * mesh routing and mTLS on captured connections belong to the proxy's listener layer and are
 * not exercised by this suite.
 */
import { expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { hasCurl, netnsRequirements } from './support/requirements.js';
import { useNetnsLab, type LabProcess, type NetnsHost } from './support/netns.js';
import { fixture, NODE } from './support/fixtures.js';
import { runProxyInit } from '../proxy-init/support/run-proxy-init.js';
import type { CaptureEvent } from '../../src/proxy-runtime/listeners/capture/passthrough.js';

const APP = { uid: 1000, gid: 1000 };
const PROXY = { uid: 1337, gid: 1337 };

/** The capture events a sidecar printed so far. */
function events(sidecar: LabProcess): CaptureEvent[] {
  return sidecar
    .output()
    .split('\n')
    .filter((l) => l.startsWith('EVENT '))
    .map((l) => JSON.parse(l.slice(6)) as CaptureEvent);
}

/**
 * Waits until the sidecar has printed `n` events after the first `count`, and returns them. An
 * event is printed when its connection closes, which can be just after the client exits.
 */
async function eventsAfter(sidecar: LabProcess, count: number, n = 1): Promise<CaptureEvent[]> {
  for (let i = 0; i < 100; i++) {
    const all = events(sidecar);
    if (all.length >= count + n) return all.slice(count);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`fewer than ${n} capture events after ${count}; output:\n${sidecar.output()}`);
}

describeRequiring([...netnsRequirements, hasCurl], 'transparent capture between network namespaces', () => {
  const lab = useNetnsLab(['client', 'server', 'other', 'strict']);
  let client: NetnsHost, server: NetnsHost, other: NetnsHost, strict: NetnsHost;
  let clientSidecar: LabProcess, serverSidecar: LabProcess, strictSidecar: LabProcess;

  it('starts pods: proxy init, the sidecar as UID 1337, the apps as UID 1000', async () => {
    [client, server, other, strict] = ['client', 'server', 'other', 'strict'].map((l) => lab().host(l)) as [
      NetnsHost,
      NetnsHost,
      NetnsHost,
      NetnsHost,
    ];
    const inits = [
      ['--netns', server.ns, '--exclude-inbound-ports', '8082'],
      ['--netns', client.ns, '--exclude-outbound-ports', '8081', '--exclude-outbound-ip-ranges', `${other.ipv4}/32`],
      ['--netns', strict.ns],
    ];
    for (const args of inits) {
      const r = await runProxyInit(args);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('IPv4: capture applied');
    }
    const sidecar = await fixture('capture-sidecar.ts');
    serverSidecar = lab().start(server, NODE, [sidecar], PROXY);
    clientSidecar = lab().start(client, NODE, [sidecar], PROXY);
    strictSidecar = lab().start(strict, NODE, [sidecar, '--registry-only', `${server.ipv4}:9080`], PROXY);
    const apps = [
      lab().start(server, NODE, [await fixture('http-app.ts'), '9080', '8081', '8082'], APP),
      lab().start(server, NODE, [await fixture('server-first-app.ts'), '6379'], APP),
      lab().start(other, NODE, [await fixture('http-app.ts'), '9080'], APP),
    ];
    for (const p of [serverSidecar, clientSidecar, strictSidecar])
      expect((await p.waitFor(/READY uid=(\d+)/))[1]).toBe('1337');
    for (const p of apps) expect((await p.waitFor(/READY uid=(\d+)/))[1]).toBe('1000');
  });

  it('curl to another pod goes through both sidecars (the app sees the connection from its own sidecar)', async () => {
    const [c0, s0] = [events(clientSidecar).length, events(serverSidecar).length];
    const r = await lab().exec(client, 'curl', ['-sS', '--max-time', '8', `http://${server.ipv4}:9080/hello`], APP);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ app: 'http-app', port: 9080, peer: '::ffff:127.0.0.1', path: '/hello' });
    expect(await eventsAfter(clientSidecar, c0)).toEqual([
      expect.objectContaining({
        direction: 'outbound',
        action: 'passthrough',
        destination: `${server.ipv4}:9080`,
        upstream: `${server.ipv4}:9080`,
      }),
    ]);
    expect(await eventsAfter(serverSidecar, s0)).toEqual([
      expect.objectContaining({
        direction: 'inbound',
        action: 'passthrough',
        destination: `${server.ipv4}:9080`,
        upstream: '127.0.0.1:9080',
      }),
    ]);
  });

  it("the sidecar's own connection is not captured again (exactly one outbound event per request: no loop)", async () => {
    const [c0, s0] = [events(clientSidecar).length, events(serverSidecar).length];
    await lab().exec(client, 'curl', ['-sS', '--max-time', '8', `http://${server.ipv4}:9080/once`], APP);
    // A process running as the proxy user goes straight out, as the sidecar's upstream connections do.
    const direct = await lab().exec(
      client,
      NODE,
      [await fixture('http-get.ts'), `http://${server.ipv4}:9080/as-proxy`],
      PROXY,
    );
    expect(direct.stdout).toMatch(/^200 /);
    const serverSaw = await eventsAfter(serverSidecar, s0, 2);
    for (const e of serverSaw) {
      expect(e).toMatchObject({ direction: 'inbound', action: 'passthrough' });
      expect(e.source.startsWith(`${client.ipv4}:`)).toBe(true);
    }
    // The server saw two connections; the client sidecar only the app's one.
    expect(await eventsAfter(clientSidecar, c0)).toHaveLength(1);
  });

  it('a Node http client over IPv6 goes through both sidecars', async () => {
    const [c0, s0] = [events(clientSidecar).length, events(serverSidecar).length];
    const r = await lab().exec(client, NODE, [await fixture('http-get.ts'), `http://[${server.ipv6}]:9080/v6`], APP);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`200 ${JSON.stringify({ app: 'http-app', port: 9080, peer: '::1', path: '/v6' })}\n`);
    expect((await eventsAfter(clientSidecar, c0))[0]).toMatchObject({
      direction: 'outbound',
      action: 'passthrough',
      destination: `[${server.ipv6}]:9080`,
    });
    expect((await eventsAfter(serverSidecar, s0))[0]).toMatchObject({
      direction: 'inbound',
      action: 'passthrough',
      destination: `[${server.ipv6}]:9080`,
      upstream: '[::1]:9080',
    });
  });

  it('a server-speaks-first TCP protocol works through both sidecars', async () => {
    const [c0, s0] = [events(clientSidecar).length, events(serverSidecar).length];
    const r = await lab().exec(client, NODE, [await fixture('server-first-client.ts'), server.ipv4, '6379'], APP);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('+HELLO meshctl-redis\r\n+PONG ::ffff:127.0.0.1\r\n');
    expect((await eventsAfter(serverSidecar, s0))[0]).toMatchObject({
      action: 'passthrough',
      destination: `${server.ipv4}:6379`,
    });
    expect((await eventsAfter(clientSidecar, c0))[0]).toMatchObject({
      action: 'passthrough',
      destination: `${server.ipv4}:6379`,
    });
  });

  it('excluded outbound ports and ranges, and excluded inbound ports, bypass the sidecars', async () => {
    const [c0, s0] = [events(clientSidecar).length, events(serverSidecar).length];
    // Outbound port 8081 is excluded in the client pod: only the server sidecar sees it.
    const a = await lab().exec(client, 'curl', ['-sS', '--max-time', '8', `http://${server.ipv4}:8081/`], APP);
    expect(JSON.parse(a.stdout)).toMatchObject({ port: 8081, peer: '::ffff:127.0.0.1' });
    // The excluded range: the other pod sees the client itself.
    const b = await lab().exec(client, 'curl', ['-sS', '--max-time', '8', `http://${other.ipv4}:9080/`], APP);
    expect(JSON.parse(b.stdout)).toMatchObject({ port: 9080, peer: `::ffff:${client.ipv4}` });
    // Inbound port 8082 is excluded in the server pod: the app sees the client sidecar's address.
    const c = await lab().exec(client, 'curl', ['-sS', '--max-time', '8', `http://${server.ipv4}:8082/`], APP);
    expect(JSON.parse(c.stdout)).toMatchObject({ port: 8082, peer: `::ffff:${client.ipv4}` });
    const clientSaw = await eventsAfter(clientSidecar, c0);
    expect(clientSaw.map((e) => e.destination)).toEqual([`${server.ipv4}:8082`]);
    const serverSaw = await eventsAfter(serverSidecar, s0);
    expect(serverSaw.map((e) => e.destination)).toEqual([`${server.ipv4}:8081`]);
  });

  it('REGISTRY_ONLY lets registered destinations through and closes the others', async () => {
    const s0 = events(strictSidecar).length;
    const ok = await lab().exec(strict, 'curl', ['-sS', '--max-time', '8', `http://${server.ipv4}:9080/`], APP);
    expect(JSON.parse(ok.stdout)).toMatchObject({ port: 9080 });
    const blocked = await lab().exec(strict, 'curl', ['-sS', '--max-time', '8', `http://${other.ipv4}:9080/`], APP);
    expect(blocked.exitCode).not.toBe(0);
    expect(blocked.stdout).toBe('');
    const seen = await eventsAfter(strictSidecar, s0, 2);
    expect(seen.map((e) => [e.action, e.destination]).sort()).toEqual([
      ['blocked', `${other.ipv4}:9080`],
      ['passthrough', `${server.ipv4}:9080`],
    ]);
  });

  it('a connection made straight to the capture port is refused, not looped', async () => {
    const s0 = events(serverSidecar).length;
    const r = await lab().exec(client, NODE, [await fixture('tcp-client.ts'), server.ipv4, '15006'], PROXY);
    expect(r.stdout).toBe('');
    expect((await eventsAfter(serverSidecar, s0))[0]).toMatchObject({
      action: 'refused',
      reason: expect.stringContaining('directly (no iptables REDIRECT)'),
    });
  });
});
