/**
 * The CliContext is the one place that listens to SIGINT/SIGTERM/SIGHUP: a command reads
 * `ctx.signal` (aborted on the first interrupt, with the signal's name) and returns its exit code.
 * Until a command reads it nothing listens, so a command that does not handle interrupts ends at
 * once as any program would; after the command the CLI root closes the context and the listeners go.
 * The signal source is an emitter here: sending SIGINT to the test runner itself would stop it.
 */
import { EventEmitter } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createContext, whenAborted } from '../src/context.js';

function contextWithSignalsForTest() {
  const signals = new EventEmitter();
  const ctx = createContext(
    {
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      stdin: Readable.from([]),
      env: { NO_COLOR: '1' },
      cwd: '/',
      signals,
    },
    {},
  );
  return { ctx, signals };
}

describe('CliContext signals', () => {
  it('nothing listens until a command reads ctx.signal', () => {
    const { ctx, signals } = contextWithSignalsForTest();
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
    void ctx.signal;
    expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([1, 1]);
    void ctx.signal;
    expect([signals.listenerCount('SIGINT'), signals.listenerCount('SIGTERM')]).toEqual([1, 1]);
  });

  it('the first SIGTERM aborts the signal with its name; a second changes nothing; close() removes the listeners', () => {
    const { ctx, signals } = contextWithSignalsForTest();
    const seen: string[] = [];
    whenAborted(ctx.signal, () => seen.push(String(ctx.signal.reason)));
    expect(ctx.signal.aborted).toBe(false);
    signals.emit('SIGTERM');
    signals.emit('SIGINT');
    expect(ctx.signal.aborted).toBe(true);
    expect(seen).toEqual(['SIGTERM']);
    ctx.close();
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
  });

  it('whenAborted runs at once for a signal already aborted, and its remover stops a later call', () => {
    const { ctx, signals } = contextWithSignalsForTest();
    let calls = 0;
    const off = whenAborted(ctx.signal, () => calls++);
    off();
    signals.emit('SIGINT');
    expect(calls).toBe(0);
    whenAborted(ctx.signal, () => calls++);
    expect(calls).toBe(1);
  });

  it('SIGHUP listeners (reload) get every hangup until removed', () => {
    const { ctx, signals } = contextWithSignalsForTest();
    let reloads = 0;
    const off = ctx.onHangup(() => reloads++);
    signals.emit('SIGHUP');
    signals.emit('SIGHUP');
    off();
    signals.emit('SIGHUP');
    expect(reloads).toBe(2);
    expect(signals.listenerCount('SIGHUP')).toBe(0);
  });
});
