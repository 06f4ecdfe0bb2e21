/**
 * The offline parts of reaching a pod's admin API through pods/exec: which container holds the proxy
 * (injected sidecar, classic sidecar, gateway), and the exit code read from the kubelet's closing Status.
 * The exec itself runs on the test cluster: test/test-cluster/exec.test.ts, test/kubernetes-e2e/admin-api.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { proxyContainerOf, Slots } from '../../../src/cluster/kubernetes/proxy-admin.js';
import { exitCodeOf } from '../../../src/cluster/kubernetes/exec.js';
import { defaultInjectOptions, injectObject } from '../../../src/inject/index.js';
import { renderGateways } from '../../../src/install/gateways.js';
import { defaultValues } from '../../../src/install/values.js';

const cpEnv = [{ name: 'MESH_CONTROL_PLANE_ADDRESS', value: 'meshctl-control-plane.mesh-system.svc:15012' }];

describe("a pod's proxy container", () => {
  it('is the container given the control plane address, whatever its name and list', () => {
    const pod = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec });
    expect(
      proxyContainerOf(
        pod({
          initContainers: [{ name: 'mesh-init' }, { name: 'mesh-proxy', env: cpEnv }],
          containers: [{ name: 'app' }],
        }),
      )?.name,
    ).toBe('mesh-proxy');
    expect(proxyContainerOf(pod({ containers: [{ name: 'app' }, { name: 'mesh-proxy', env: cpEnv }] }))?.name).toBe(
      'mesh-proxy',
    );
    expect(proxyContainerOf(pod({ containers: [{ name: 'app', env: [{ name: 'X', value: '1' }] }] }))).toBeUndefined();
  });

  it('is found in what inject and install really produce', () => {
    type PodSpec = Parameters<typeof proxyContainerOf>[0]['spec'];
    const injected = injectObject(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web' },
        spec: { containers: [{ name: 'web', image: 'nginx' }] },
      },
      defaultInjectOptions('0.1.0', 'ghcr.io/meshctl/meshctl:0.1.0'),
      'test',
    ).object as { spec: PodSpec };
    expect(
      proxyContainerOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: injected.spec })?.name,
    ).toBe('mesh-proxy');
    const gateway = renderGateways(defaultValues('ghcr.io/meshctl/meshctl:0.1.0'), '0.1.0').find(
      (o) => o.kind === 'Deployment',
    ) as unknown as { spec: { template: { spec: PodSpec } } };
    expect(
      proxyContainerOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'g' }, spec: gateway.spec.template.spec })
        ?.name,
    ).toBe('gateway');
  });
});

describe('the exit code of an exec', () => {
  it('reads Success as 0 and NonZeroExitCode as its code; anything else did not run', () => {
    expect(exitCodeOf({ status: 'Success' })).toBe(0);
    expect(
      exitCodeOf({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        message: 'command terminated with non-zero exit code: exit status 3',
        details: { causes: [{ reason: 'ExitCode', message: '3' }] },
      }),
    ).toBe(3);
    expect(
      exitCodeOf({ status: 'Failure', reason: 'InternalError', message: 'container not running' }),
    ).toBeUndefined();
    expect(exitCodeOf({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [] } })).toBeUndefined();
  });
});

describe('admin requests a few at a time', () => {
  it('never runs more than its size at once, and runs every task, in order of arrival', async () => {
    const slots = new Slots(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates: (() => void)[] = [];
    const tasks = Array.from({ length: 10 }, (_, i) =>
      slots.run(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return i;
      }),
    );
    // Release the tasks one by one as they start; a new caller arriving meanwhile does not jump the queue.
    for (let released = 0; released < 10; released++) {
      while (gates.length === 0) await new Promise((r) => setImmediate(r));
      if (released === 2) void slots.run(async () => started.push(99));
      gates.shift()!();
    }
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBe(3);
    expect(started.indexOf(99)).toBeGreaterThan(started.indexOf(9));
  });
});
