/**
 * Finding 7: YAML read as Kubernetes reads it. A table over every YAML 1.1/1.2 difference that
 * changes a Kubernetes field: what meshctl reads must be what sigs.k8s.io/yaml (kubectl, the API
 * server) reads, checked against the expected values and against Kubernetes' reader itself (built
 * from the Go module proxy by test/peers/build.sh); what meshctl prints must read back the same.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseDocuments } from '../../src/config/documents.js';
import { stringifyForKubernetes } from '../../src/ui/kube-yaml.js';
import { transformManifests } from '../../src/inject/manifest.js';
import { describeRequiring } from '../support/requirements.js';
import { peerTool, peerTools } from '../peers/tools.js';

/** [what, YAML, the value Kubernetes reads]: each row is a field whose meaning YAML 1.2 would change. */
const TABLE: [string, string, unknown][] = [
  ['octal file mode (Secret volume defaultMode)', 'defaultMode: 0400', { defaultMode: 256 }],
  ['octal file mode 0644', 'mode: 0644', { mode: 420 }],
  ['octal with 0o (Go accepts it)', 'mode: 0o17', { mode: 15 }],
  ['binary integer', 'replicas: 0b101', { replicas: 5 }],
  ['underscores in an integer', 'replicas: 1_000', { replicas: 1000 }],
  ['underscores in a float', 'cpu: 1_000.5', { cpu: 1000.5 }],
  ['yes / no', 'readOnly: yes\nprivileged: no', { readOnly: true, privileged: false }],
  ['on / off', 'hostNetwork: on\nhostPID: off', { hostNetwork: true, hostPID: false }],
  ['y / n', 'stdin: y\ntty: n', { stdin: true, tty: false }],
  ['Yes / NO / ON / Off', 'a: Yes\nb: NO\nc: ON\nd: Off', { a: true, b: false, c: true, d: false }],
  [
    'a boolean-looking map key (a label named y)',
    'labels:\n  y: "1"\n  off: "2"',
    { labels: { true: '1', false: '2' } },
  ],
  ['IPv6 addresses in a flow sequence', 'addresses: [1.2.3.4, 001:db8::]', { addresses: ['1.2.3.4', '001:db8::'] }],
  ['a flow item ending in a colon', 'args: [--flag:, x]', { args: ['--flag:', 'x'] }],
  ['base 60 stays a string (go-yaml has none)', 'schedule: 1:20', { schedule: '1:20' }],
  ['a date stays a string', 'date: 2001-12-14', { date: '2001-12-14' }],
  ['a lone dot stays a string', 'x: .', { x: '.' }],
  [
    'merge keys',
    'base: &b {app: web}\nlabels:\n  <<: *b\n  tier: front',
    { base: { app: 'web' }, labels: { app: 'web', tier: 'front' } },
  ],
];

describe('reading YAML as Kubernetes does', () => {
  for (const [what, yaml, want] of TABLE) {
    it(what, () => {
      expect(parseDocuments(yaml + '\n', 'table.yaml')[0]!.object).toEqual(want);
    });
  }

  it('prints strings so that Kubernetes reads them back as strings', () => {
    const value = { a: 'yes', b: '0400', c: 'on', d: '1_000', e: '0o17', f: 'y', g: 'n', h: '0b1', i: 256 };
    const text = stringifyForKubernetes(value);
    expect(parseDocuments(text, 'out.yaml')[0]!.object).toEqual(value);
    expect(text).toContain('i: 256');
  });

  it('inject keeps defaultMode: 0400 as written (istio samples/jwt-server), so the volume stays 0400', () => {
    const manifest = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: jwt-server}',
      'spec:',
      '  selector: {matchLabels: {app: jwt-server}}',
      '  template:',
      '    metadata: {labels: {app: jwt-server}}',
      '    spec:',
      '      containers:',
      '      - name: jwt-server',
      '        image: istio/jwt-server',
      '        volumeMounts: [{name: jwt, mountPath: /data}]',
      '      volumes:',
      '      - name: jwt',
      '        secret:',
      '          secretName: jwt-server-certs',
      '          defaultMode: 0400',
      '',
    ].join('\n');
    const r = transformManifests(
      [{ name: 'jwt.yaml', text: manifest }],
      (obj) =>
        ({
          object: { ...obj, metadata: { ...(obj.metadata as object), annotations: { touched: 'yes' } } },
          entry: {
            object: 'deployment "jwt-server"',
            source: 'jwt.yaml:1',
            outcome: 'injected',
            reasons: [],
            warnings: [],
          },
        }) as never,
      'yaml',
    );
    const out = r.documents.join('---\n');
    expect(out).toMatch(/defaultMode: 0400/);
    // The new string "yes" is quoted: Kubernetes would read a plain yes as true.
    expect(out).toMatch(/touched: "yes"/);
    const back = parseDocuments(out, 'out.yaml')[0]!.object as {
      spec: { template: { spec: { volumes: { secret: { defaultMode: number } }[] } } };
    };
    expect(back.spec.template.spec.volumes[0]!.secret.defaultMode).toBe(0o400);
  });
});

describeRequiring([peerTools], "meshctl's YAML reading equals Kubernetes' own (sigs.k8s.io/yaml v1.6.0)", () => {
  it('reads every row of the table as sigs.k8s.io/yaml does, and prints what it reads back the same', () => {
    const input = TABLE.map(([, yaml]) => yaml).join('\n---\n');
    const lines = execFileSync(peerTool('k8s-yaml2json'), { input, encoding: 'utf8' }).trim().split('\n');
    expect(lines).toHaveLength(TABLE.length);
    TABLE.forEach(([what, yaml], i) => {
      const kube = JSON.parse(lines[i]!) as unknown;
      const ours = parseDocuments(yaml + '\n', 'table.yaml')[0]!.object;
      expect(ours, what).toEqual(kube);
      // What meshctl prints for that value, Kubernetes reads as the same value.
      const printed = execFileSync(peerTool('k8s-yaml2json'), {
        input: stringifyForKubernetes(ours),
        encoding: 'utf8',
      }).trim();
      expect(JSON.parse(printed), `${what} (printed)`).toEqual(kube);
    });
  });
});
