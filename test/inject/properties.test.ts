/**
 * Property tests over generated workloads: inject is idempotent, and uninject is its exact
 * inverse (same objects, same fields, same key order), both on objects and through YAML text.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringifyForKubernetes } from '../../src/ui/kube-yaml.js';
import {
  defaultInjectOptions,
  injectObject,
  uninjectObject,
  transformManifests,
  joinDocuments,
} from '../../src/inject/index.js';
import { manifestObjects, parseDocuments } from '../../src/config/documents.js';
import { validateKubernetesObject } from './kubernetes-schema.js';

const options = defaultInjectOptions('9.9.9', 'example.com/meshctl:9.9.9');
const dnsLabel = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const port = fc.integer({ min: 1, max: 65535 });

const probe = fc.oneof(
  fc.record(
    {
      httpGet: fc.record({ path: fc.constantFrom('/healthz', '/ready'), port: fc.oneof(port, fc.constant('http')) }),
      periodSeconds: fc.integer({ min: 1, max: 30 }),
    },
    { requiredKeys: ['httpGet'] },
  ),
  fc.record(
    { tcpSocket: fc.record({ port }), timeoutSeconds: fc.integer({ min: 1, max: 5 }) },
    { requiredKeys: ['tcpSocket'] },
  ),
  fc.record({ grpc: fc.record({ port }) }),
  fc.record({ exec: fc.record({ command: fc.constant(['/bin/true']) }) }),
);

const container = (name: string) =>
  fc.record(
    {
      name: fc.constant(name),
      image: fc.constantFrom('example.com/a:1', 'nginx:1.27'),
      ports: fc.array(
        fc.record(
          { name: fc.constant('http'), containerPort: port, protocol: fc.constantFrom('TCP', 'UDP') },
          { requiredKeys: ['containerPort'] },
        ),
        { maxLength: 1 },
      ),
      livenessProbe: probe,
      readinessProbe: probe,
      startupProbe: probe,
    },
    { requiredKeys: ['name', 'image'] },
  );

const containers = fc
  .uniqueArray(dnsLabel, { minLength: 1, maxLength: 3 })
  .chain((names) => fc.tuple(...names.map((n) => container(`app-${n}`))));

const podSpec = fc.record(
  {
    serviceAccountName: dnsLabel,
    initContainers: fc.oneof(fc.constant([]), fc.tuple(container('setup'))),
    containers,
    volumes: fc.array(fc.record({ name: fc.constant('data'), emptyDir: fc.constant({}) }), { maxLength: 1 }),
  },
  { requiredKeys: ['containers'] },
);

const podMeta = fc.record(
  {
    labels: fc.dictionary(fc.constantFrom('app', 'version', 'tier'), dnsLabel, { maxKeys: 3 }),
    annotations: fc.dictionary(
      fc.constantFrom(
        'team',
        'prometheus.io/scrape',
        'kubectl.kubernetes.io/default-container',
        'traffic.meshctl.dev/exclude-outbound-ports',
      ),
      fc.constantFrom('true', '5432', 'web'),
      { maxKeys: 3 },
    ),
  },
  { requiredKeys: [] },
);

const template = fc.record({ metadata: podMeta, spec: podSpec }, { requiredKeys: ['spec'] });

const workload = fc.oneof(
  fc
    .record({ apiVersion: fc.constant('v1'), kind: fc.constant('Pod'), metadata: fc.record({ name: dnsLabel }) })
    .chain((head) =>
      fc.tuple(podMeta, podSpec).map(([meta, spec]) => ({ ...head, metadata: { ...head.metadata, ...meta }, spec })),
    ),
  fc.record({
    apiVersion: fc.constant('apps/v1'),
    kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'),
    metadata: fc.record({ name: dnsLabel }),
    spec: fc.record({ selector: fc.constant({ matchLabels: { app: 'x' } }), template }),
  }),
  fc.record({
    apiVersion: fc.constant('batch/v1'),
    kind: fc.constant('Job'),
    metadata: fc.record({ name: dnsLabel }),
    spec: fc.record({ template }),
  }),
  fc.record({
    apiVersion: fc.constant('batch/v1'),
    kind: fc.constant('CronJob'),
    metadata: fc.record({ name: dnsLabel }),
    spec: fc.record({ schedule: fc.constant('* * * * *'), jobTemplate: fc.record({ spec: fc.record({ template }) }) }),
  }),
);

const same = (a: unknown, b: unknown) => expect(JSON.stringify(a)).toBe(JSON.stringify(b));

describe('inject properties', () => {
  it('is idempotent, valid, and undone exactly by uninject', () => {
    fc.assert(
      fc.property(workload, (w) => {
        const once = injectObject(w, options, 'gen');
        expect(once.entry.outcome).toBe('injected');
        validateKubernetesObject(once.object);
        const twice = injectObject(once.object, options, 'gen');
        same(twice.object, once.object);
        const back = uninjectObject(once.object, 'gen');
        expect(back.entry.outcome).toBe('uninjected');
        same(back.object, w);
      }),
      { numRuns: 150 },
    );
  });

  it('round-trips through YAML text: uninject(inject(text)) has the same objects as text', () => {
    fc.assert(
      fc.property(fc.array(workload, { minLength: 1, maxLength: 3 }), (ws) => {
        // Written as kubectl users write it for Kubernetes (YAML 1.1: `app: n` would be false).
        const text = ws.map((w) => stringifyForKubernetes(w)).join('---\n');
        const injected = transformManifests([{ name: 'in.yaml', text }], (o, s) => injectObject(o, options, s), 'yaml');
        const injectedText = joinDocuments(injected.documents, 'yaml');
        const back = transformManifests(
          [{ name: 'out.yaml', text: injectedText }],
          (o, s) => uninjectObject(o, s),
          'yaml',
        );
        const objects = manifestObjects(parseDocuments(joinDocuments(back.documents, 'yaml'), 'back')).map(
          (o) => o.object,
        );
        same(objects, ws);
      }),
      { numRuns: 40 },
    );
  });
});
