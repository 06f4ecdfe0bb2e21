import { describe, expect, it } from 'vitest';
import { applyPatch, defaultInjectOptions, diffToPatch, injectObject } from '../../src/inject/index.js';

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-7d9c-', namespace: 'shop', labels: { app: 'web' }, annotations: { 'a/b~c': 'x' } },
  spec: { containers: [{ name: 'web', image: 'web:1', readinessProbe: { httpGet: { path: '/r', port: 8080 } } }] },
};

describe('webhook JSONPatch', () => {
  it('turns the pod into exactly what inject makes of it', () => {
    const { object } = injectObject(pod, defaultInjectOptions('1.0.0', 'img:1'), 'admission');
    const patch = diffToPatch(pod, object);
    expect(applyPatch(pod, patch)).toEqual(object);
    // Only what changed is patched; keys with / and ~ are escaped.
    expect(patch.map((p) => p.path)).toContain('/spec/initContainers');
    expect(patch.some((p) => p.path.startsWith('/metadata/annotations/a~1b~0c'))).toBe(false);
    expect(patch.find((p) => p.path === '/metadata/labels/meshctl.dev~1injected')).toEqual({
      op: 'add',
      path: '/metadata/labels/meshctl.dev~1injected',
      value: 'true',
    });
  });

  it('is empty when nothing changes', () => {
    expect(diffToPatch(pod, structuredClone(pod))).toEqual([]);
  });

  it('removes keys that disappeared', () => {
    expect(diffToPatch({ a: 1, b: 2 }, { a: 1 })).toEqual([{ op: 'remove', path: '/b' }]);
  });
});
