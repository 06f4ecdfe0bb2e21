/** Which fields make an application container run as the sidecar's UID (IST0144's rule, per container). */
import { describe, expect, it } from 'vitest';
import { Messages } from '../../src/analyze/messages.js';
import { PROXY_UID_CODE, proxyUidProblem, proxyUidUses } from '../../src/inject/proxy-uid.js';

const deployment = (spec: Record<string, unknown>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'legacy' },
  spec: { selector: { matchLabels: { app: 'legacy' } }, template: { metadata: {}, spec } },
});
const asUser = (uid: number) => ({ securityContext: { runAsUser: uid } });

describe('proxyUidUses', () => {
  it('names the pod field for the containers that inherit 1337, and each container field that sets it', () => {
    const uses = proxyUidUses(
      deployment({
        ...asUser(1337),
        initContainers: [{ name: 'migrate', ...asUser(1337) }],
        containers: [{ name: 'web' }, { name: 'worker', ...asUser(1000) }, { name: 'metrics', ...asUser(1337) }],
      }),
    );
    expect(uses).toEqual([
      { path: ['spec', 'template', 'spec', 'securityContext', 'runAsUser'], containers: ['web'] },
      {
        path: ['spec', 'template', 'spec', 'containers', 2, 'securityContext', 'runAsUser'],
        containers: ['metrics'],
      },
    ]);
  });

  it('a pod whose every container overrides the pod UID is fine (the container UID is the one that counts)', () => {
    expect(proxyUidUses(deployment({ ...asUser(1337), containers: [{ name: 'web', ...asUser(1000) }] }))).toEqual([]);
  });

  it('reads Pods and CronJobs at their own template paths', () => {
    expect(
      proxyUidUses({ kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', ...asUser(1337) }] } }),
    ).toEqual([{ path: ['spec', 'containers', 0, 'securityContext', 'runAsUser'], containers: ['a'] }]);
    const cron = {
      kind: 'CronJob',
      metadata: { name: 'c' },
      spec: { jobTemplate: { spec: { template: { spec: { ...asUser(1337), containers: [{ name: 'job' }] } } } } },
    };
    expect(proxyUidUses(cron)).toEqual([
      {
        path: ['spec', 'jobTemplate', 'spec', 'template', 'spec', 'securityContext', 'runAsUser'],
        containers: ['job'],
      },
    ]);
  });

  it("skips the mesh's own sidecar (classic mode puts it among the containers) and another mesh's", () => {
    const spec = {
      containers: [
        { name: 'mesh-proxy', ...asUser(1337) },
        { name: 'istio-proxy', ...asUser(1337) },
        { name: 'app', ...asUser(1001) },
      ],
    };
    expect(proxyUidUses(deployment(spec))).toEqual([]);
  });

  it("leaves templates that opt out of injection alone (no sidecar to bypass), like the mesh's own control plane", () => {
    const optedOut = (metadata: Record<string, unknown>) => {
      const d = deployment({ ...asUser(1337), containers: [{ name: 'control-plane' }] });
      d.spec.template.metadata = metadata;
      return d;
    };
    expect(proxyUidUses(optedOut({ annotations: { 'meshctl.dev/inject': 'disabled' } }))).toEqual([]);
    expect(proxyUidUses(optedOut({ labels: { 'sidecar.istio.io/inject': 'false' } }))).toEqual([]);
    expect(proxyUidUses(optedOut({ annotations: { 'meshctl.dev/inject': 'enabled' } }))).toHaveLength(1);
  });

  it('survives hostile shapes: kinds named like Object.prototype members, missing or malformed specs, string UIDs', () => {
    for (const obj of [
      { kind: 'toString', spec: { template: { spec: { containers: [{ name: 'a', ...asUser(1337) }] } } } },
      { kind: '__proto__', spec: {} },
      { kind: 'Deployment' },
      { kind: 'Deployment', spec: { template: { spec: { containers: 'nope' } } } },
      { kind: 'Pod', spec: { containers: [null, 7, { name: 'a', securityContext: { runAsUser: '1337' } }] } },
    ])
      expect(proxyUidUses(obj as Record<string, unknown>)).toEqual([]);
  });

  it('says what is wrong and the fix, with the code of the analyzer catalogue', () => {
    expect(PROXY_UID_CODE).toBe(Messages.ApplicationUidReserved.code);
    expect(proxyUidProblem({ path: [], containers: ['a', 'b'] })).toBe(
      'containers "a", "b" run as UID 1337, the sidecar\'s own UID: the capture rules let that traffic bypass the sidecar (no mTLS, no authorization policy, no telemetry); fix: set runAsUser to another UID',
    );
  });
});
