import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTokenAuthenticator } from '../../../src/control-plane/ca/authenticator.js';

describe('local workload tokens under concurrent registrations', () => {
  it('keeps every token issued at once on a fresh control plane, in memory and on disk', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'meshctl-tokens-')), 'tokens.json');
    const auth = new LocalTokenAuthenticator(file);
    const names = Array.from({ length: 12 }, (_, i) => `w${i}`);
    const tokens = await Promise.all(
      names.map((n) => auth.issue({ namespace: 'default', serviceAccount: n, workload: n })),
    );
    for (const [i, t] of tokens.entries())
      await expect(auth.authenticate(t)).resolves.toMatchObject({ serviceAccount: names[i] });
    // A restarted control plane reads the same tokens back.
    const reloaded = new LocalTokenAuthenticator(file);
    for (const [i, t] of tokens.entries())
      await expect(reloaded.authenticate(t)).resolves.toMatchObject({ serviceAccount: names[i] });
  });
});
