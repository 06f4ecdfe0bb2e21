/**
 * Istio WorkloadEntry and WorkloadGroup as upstream writes them (istio.io reference examples):
 * accepted, with a warning (MESH0002) only for the fields the mesh does not act on (a WorkloadEntry's
 * network and locality, a WorkloadGroup's annotations and probe: ✖ in the README's tables); and
 * Istio's own rejections (ports on a unix socket, ports out of range).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manifestObjects, parseDocuments, validateResource } from '../../src/config/index.js';

function validate(yaml: string) {
  return manifestObjects(parseDocuments(yaml, 'we.yaml')).map((o) => validateResource(o, { defaultNamespace: 'vm' }));
}

const ENTRY = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: details-svc
spec:
  serviceAccount: details-legacy
  address: 2.2.2.2
  labels:
    app: details-legacy
    instance-id: vm1
  ports:
    http: 8080
  network: vm-net
  locality: us-east/zone-a
  weight: 10
`;

const GROUP = `apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: reviews
  namespace: bookinfo
spec:
  metadata:
    labels:
      app.kubernetes.io/name: reviews
      app.kubernetes.io/version: "1.3.4"
    annotations:
      example: value
  template:
    ports:
      grpc: 3550
      http: 8080
    serviceAccount: default
  probe:
    initialDelaySeconds: 5
    timeoutSeconds: 3
    periodSeconds: 4
    successThreshold: 3
    failureThreshold: 3
    httpGet:
      path: /foo/bar
      host: 127.0.0.1
      port: 3100
      scheme: HTTPS
      httpHeaders:
      - name: Lit-Header
        value: Im-The-Best
`;

describe('WorkloadEntry and WorkloadGroup', () => {
  it('accepts the upstream examples, warning only for the fields not acted on', () => {
    const [entry] = validate(ENTRY);
    expect(entry!.errors).toEqual([]);
    expect(entry!.warnings.map((w) => [w.rule, w.field])).toEqual([
      ['unsupported', 'spec.network'],
      ['unsupported', 'spec.locality'],
    ]);
    // A WorkloadGroup is what `meshctl run --workload-group` registers with: its annotations and probe are not applied.
    const [group] = validate(GROUP);
    expect(group!.errors).toEqual([]);
    expect(group!.warnings.map((w) => [w.rule, w.field])).toEqual([
      ['unsupported', 'spec.metadata.annotations'],
      ['unsupported', 'spec.probe'],
    ]);
    expect(group!.warnings[1]!.message).toContain('the probe is not run');
  });

  it('analyze (the analysis apply runs before storing) prints MESH0002 for each field not acted on, naming it and its line', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'meshctl-we-')), 'vm.yaml');
    writeFileSync(file, `${ENTRY}---\n${GROUP}`);
    // bin/meshctl imports dist/, which `npm test` builds first.
    const out = execFileSync('bin/meshctl', ['analyze', '--offline', '-f', file, '--all-namespaces'], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    const lines = out.split('\n').filter((l) => l.includes('MESH0002'));
    expect(lines).toEqual([
      expect.stringMatching(
        /^Warning \[MESH0002\] \(WorkloadEntry details-svc\.default\) \S*vm\.yaml:13 spec\.network: accepted but not implemented/,
      ),
      expect.stringMatching(
        /^Warning \[MESH0002\] \(WorkloadEntry details-svc\.default\) \S*vm\.yaml:14 spec\.locality: accepted but not implemented/,
      ),
      expect.stringMatching(
        /^Warning \[MESH0002\] \(WorkloadGroup reviews\.bookinfo\) \S*vm\.yaml:\d+ spec\.metadata\.annotations: accepted but not implemented/,
      ),
      expect.stringMatching(
        /^Warning \[MESH0002\] \(WorkloadGroup reviews\.bookinfo\) \S*vm\.yaml:\d+ spec\.probe: accepted but not implemented/,
      ),
    ]);
  });

  it('reads every apiVersion upstream serves, and the other probes', () => {
    for (const v of ['v1alpha3', 'v1beta1', 'v1']) {
      const [r] = validate(ENTRY.replace('networking.istio.io/v1', `networking.istio.io/${v}`));
      expect(r!.errors).toEqual([]);
    }
    const probes = [
      'tcpSocket: {port: 3100}',
      'exec: {command: [/bin/check, --quick]}',
      'grpc: {port: 3550, service: health}',
    ];
    for (const p of probes) {
      const [r] = validate(GROUP.replace(/  probe:[\s\S]*$/, `  probe:\n    ${p}\n`));
      expect(r!.errors).toEqual([]);
    }
  });

  it('warns (MESH0002) that an entry without an address, or with a unix:// one, is no endpoint', () => {
    const [none] = validate(ENTRY.replace('  address: 2.2.2.2\n', ''));
    expect(none!.errors).toEqual([]);
    expect(none!.warnings.find((w) => w.field === 'spec.address')?.message).toContain(
      'no address: the entry is no endpoint',
    );
    const [socket] = validate(
      ENTRY.replace('address: 2.2.2.2', 'address: unix:///var/run/app.sock').replace(/  ports:\n    http: 8080\n/, ''),
    );
    expect(socket!.errors).toEqual([]);
    expect(socket!.warnings.find((w) => w.field === 'spec.address')?.message).toContain('no sidecar can dial it');
  });

  it("rejects what Istio's validation rejects, naming the field", () => {
    const [unix] = validate(ENTRY.replace('address: 2.2.2.2', 'address: unix:///var/run/app.sock'));
    expect(unix!.errors.map((e) => [e.field, e.message])).toEqual([
      ['spec.ports', 'a unix:// address takes no ports; remove ports or use an IP or DNS address'],
    ]);
    const [port] = validate(ENTRY.replace('http: 8080', 'http: 70000'));
    expect(port!.errors.map((e) => e.field)).toEqual(['spec.ports.http']);
    const [noTemplate] = validate(
      GROUP.replace(/  template:\n    ports:\n      grpc: 3550\n      http: 8080\n    serviceAccount: default\n/, ''),
    );
    expect(noTemplate!.errors.map((e) => e.field)).toEqual(['spec.template']);
    const [typo] = validate(ENTRY.replace('weight: 10', 'wieght: 10'));
    expect(typo!.errors.map((e) => e.field)).toEqual(['spec.wieght']);
  });
});
