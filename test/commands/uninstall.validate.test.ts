/** `meshctl uninstall` flag checks, before any I/O. */
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/commands/uninstall.js';

describe('uninstall validate()', () => {
  const tty = { interactive: true, platform: 'local' } as const;
  const script = { interactive: false, platform: 'local' } as const;
  it('accepts what it can confirm or does not need to', () => {
    expect(() => validate({}, script)).not.toThrow();
    expect(() => validate({ purge: true }, tty)).not.toThrow();
    expect(() => validate({ purge: true, yes: true }, script)).not.toThrow();
    expect(() => validate({ purge: true, dryRun: true }, { interactive: false, platform: 'kubernetes' })).not.toThrow();
    expect(() =>
      validate({ force: true, dryRun: true, meshNamespace: 'm' }, { interactive: true, platform: 'kubernetes' }),
    ).not.toThrow();
  });
  it('refuses --purge without a terminal or -y', () => {
    expect(() => validate({ purge: true }, script)).toThrow(/no terminal to confirm it/);
    expect(() => validate({ purge: true }, { interactive: false, platform: 'kubernetes' })).toThrow(/add -y|terminal/);
  });
  it('refuses the Kubernetes-only flags on the local platform, naming them', () => {
    expect(() => validate({ force: true, meshNamespace: 'x' }, tty)).toThrow(
      /^--force, --mesh-namespace: only for Kubernetes$/,
    );
    expect(() => validate({ dryRun: true }, tty)).toThrow(/--dry-run: only for Kubernetes/);
  });
});
