import { describe, expect, it } from 'vitest';
import { makeStyle } from '../../src/ui/style.js';
import { runChecks } from '../../src/checks/runner.js';
import { renderJson, renderShort, renderTable } from '../../src/checks/render.js';
import { CheckFailure, type CheckCategory } from '../../src/checks/types.js';

const plain = makeStyle(false);
const pass = (description: string, note?: string) => ({ description, hint: 'n/a', run: async () => note });
const fail = (description: string, extra: object = {}) => ({
  description,
  hint: `fix ${description}`,
  ...extra,
  run: async () => {
    throw new CheckFailure(`${description} is broken`);
  },
});

describe('check runner and renderers', () => {
  it('renders categories with ✔/‼/✖, messages, hints and the verdict', async () => {
    const categories: CheckCategory<null>[] = [
      {
        id: 'kubernetes-api',
        checkers: [pass('can reach the API', 'v1.34.2'), fail('clock is in sync', { warning: true })],
      },
      { id: 'control-plane', checkers: [fail('control plane pods are ready')] },
    ];
    const report = await runChecks(categories, null, { waitMs: 0 });
    expect(report.success).toBe(false);
    expect(renderTable(report, plain)).toBe(
      [
        'kubernetes-api',
        '--------------',
        '✔ can reach the API (v1.34.2)',
        '‼ clock is in sync',
        '    clock is in sync is broken',
        '    hint: fix clock is in sync',
        '',
        'control-plane',
        '-------------',
        '✖ control plane pods are ready',
        '    control plane pods are ready is broken',
        '    hint: fix control plane pods are ready',
        '',
        'Status check results are ✖',
        '',
      ].join('\n'),
    );
    expect(renderShort(report, plain)).not.toContain('can reach the API');
    const json = JSON.parse(renderJson(report));
    expect(json.success).toBe(false);
    expect(json.categories[1].checks[0]).toEqual({
      description: 'control plane pods are ready',
      result: 'failure',
      message: 'control plane pods are ready is broken',
      hint: 'fix control plane pods are ready',
    });
  });

  it('warnings alone do not fail the run', async () => {
    const report = await runChecks([{ id: 'a', checkers: [fail('x', { warning: true }), pass('y')] }], null, {
      waitMs: 0,
    });
    expect(report.success).toBe(true);
    expect(renderTable(report, plain)).toContain('Status check results are ✔');
  });

  it('a fatal failure skips every later check', async () => {
    const report = await runChecks(
      [
        { id: 'a', checkers: [fail('first', { fatal: true }), pass('second')] },
        { id: 'b', checkers: [pass('third')] },
      ],
      null,
      { waitMs: 0 },
    );
    expect(report.results.map((r) => r.status)).toEqual(['failure', 'skipped', 'skipped']);
  });

  it('retries a failing check within its deadline until it passes', async () => {
    let calls = 0;
    const retries: string[] = [];
    const flaky = {
      description: 'pods become ready',
      hint: 'wait',
      retryDeadlineMs: 5_000,
      run: async () => {
        calls++;
        if (calls < 3) throw new CheckFailure(`only ${calls} of 3 ready`);
      },
    };
    const report = await runChecks([{ id: 'a', checkers: [flaky] }], null, {
      waitMs: 5_000,
      retryIntervalMs: 10,
      onRetry: (_c, _d, m) => retries.push(m),
    });
    expect(report.success).toBe(true);
    expect(retries).toEqual(['only 1 of 3 ready', 'only 2 of 3 ready']);
  });

  it('does not retry without --wait', async () => {
    let calls = 0;
    const report = await runChecks(
      [
        {
          id: 'a',
          checkers: [
            {
              description: 'd',
              hint: 'h',
              retryDeadlineMs: 60_000,
              run: async () => {
                calls++;
                throw new Error('no');
              },
            },
          ],
        },
      ],
      null,
      { waitMs: 0 },
    );
    expect(calls).toBe(1);
    expect(report.results[0]!.status).toBe('failure');
  });
});
