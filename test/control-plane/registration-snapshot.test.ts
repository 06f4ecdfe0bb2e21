import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from '../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';

describe('workload registration on the local control plane', () => {
  it('answers only once the pushed snapshot holds the workload, so its sidecar is never taken for a captured pod', async () => {
    const home = await mkdtemp(join(tmpdir(), 'meshctl-reg-'));
    const cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
    try {
      const platform = new LocalPlatform(home);
      for (const name of ['a', 'b', 'c']) {
        await platform.registerWorkload({
          name,
          namespace: 'default',
          serviceAccount: name,
          labels: { app: name },
          address: '127.0.0.1',
          ports: [8080],
        });
        expect(cp.pipeline.snapshot.workload(name, 'default')?.name).toBe(name);
      }
    } finally {
      await cp.stop();
      await rm(home, { recursive: true, force: true });
    }
  });
});
