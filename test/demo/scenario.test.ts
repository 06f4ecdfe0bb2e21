/** The demo's acceptance bounds: what a correct random split can produce, exact for 0% and 100%. */
import { describe, expect, it } from 'vitest';
import { acceptedRange, demoSteps } from '../../src/demo/scenario.js';

describe('acceptedRange', () => {
  it('is exact for routes that send all or nothing', () => {
    expect(acceptedRange(200, 0)).toEqual([0, 0]);
    expect(acceptedRange(200, 1)).toEqual([200, 200]);
  });

  it('covers a 90/10 split of 200 requests with both tails below 1e-6, and still requires some v2', () => {
    const [lo, hi] = acceptedRange(200, 0.1);
    expect([lo, hi]).toEqual([3, 43]);
    // A canary that never received traffic is caught at the default sample size.
    expect(lo).toBeGreaterThan(0);
  });

  it('is symmetric for 50/50', () => {
    const [lo, hi] = acceptedRange(200, 0.5);
    expect(lo + hi).toBe(200);
  });
});

describe('demoSteps', () => {
  it('tells the canary story in order, ending with the header route', () => {
    const steps = demoSteps('default');
    expect(steps.map((s) => s.traffic.map((t) => t.shares))).toEqual([
      [{ v1: 1 / 3, v2: 1 / 3, v3: 1 / 3 }],
      [{ v1: 1 }],
      [{ v1: 0.9, v2: 0.1 }],
      [{ v1: 0.5, v2: 0.5 }],
      [{ v2: 1 }],
      [{ v3: 1 }, { v2: 1 }],
    ]);
    expect(steps[5]!.config).toContain('end-user: {exact: jason}');
  });
});
