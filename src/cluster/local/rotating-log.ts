/**
 * A size-rotated log file for the local platform's access logs: when the next write would take
 * `file` past `maxBytes`, it becomes `file.1` (`file.1` -> `file.2`, ... the oldest beyond `keep`
 * deleted) and a new `file` is started. Files are 0600. Writes are appended in order; rotation
 * happens between writes, so a line is never split across files.
 */
import { Writable } from 'node:stream';
import { closeSync, fstatSync, openSync, renameSync, rmSync, write } from 'node:fs';

/** Rotation settings. */
export interface RotationOptions {
  /** Rotate before a write would make the file larger than this (at least one write per file). */
  readonly maxBytes: number;
  /** Rotated files kept besides the current one. */
  readonly keep: number;
}

/** Defaults: 10 MiB per file, 3 rotated files (at most ~40 MiB per workload). */
export const DEFAULT_ROTATION: RotationOptions = { maxBytes: 10 * 1024 * 1024, keep: 3 };

/** A writable stream onto a size-rotated file. */
export class RotatingFile extends Writable {
  private fd: number;
  private size: number;

  constructor(
    readonly file: string,
    private readonly opts: RotationOptions = DEFAULT_ROTATION,
  ) {
    super({ decodeStrings: true });
    this.fd = openSync(file, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    try {
      if (this.size > 0 && this.size + chunk.length > this.opts.maxBytes) this.rotate();
    } catch (err) {
      return done(err as Error);
    }
    write(this.fd, chunk, 0, chunk.length, null, (err, n) => {
      if (!err) this.size += n;
      done(err);
    });
  }

  override _final(done: (err?: Error | null) => void): void {
    try {
      closeSync(this.fd);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private rotate(): void {
    closeSync(this.fd);
    const { keep } = this.opts;
    rmSync(`${this.file}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      try {
        renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (keep > 0) renameSync(this.file, `${this.file}.1`);
    else rmSync(this.file, { force: true });
    this.fd = openSync(this.file, 'a', 0o600);
    this.size = 0;
  }
}
