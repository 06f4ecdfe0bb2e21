/**
 * The request body as the attempts see it. By default it is the downstream stream itself, piped
 * once into the one upstream request: no copy, no buffer. When the route retries, the chunks are
 * also kept (up to the policy's maxBodyBytes) so a retry can replay them; when the route mirrors,
 * they are also written to the shadow request. Past the cap, replay is off (no retry) and the
 * mirror is dropped: memory per request stays bounded.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';

/** The body of one downstream request. */
export class RequestBody {
  private teeing = false;
  private recordCap = -1;
  private recorded: Buffer[] = [];
  private recordedBytes = 0;
  private overflowed = false;
  private ended = false;
  private current: PassThrough | undefined;
  private taps: { w: Writable; left: number }[] = [];
  private opened = false;
  bytesReceived = 0;

  constructor(readonly source: Readable | null) {}

  get hasBody(): boolean {
    return this.source !== null;
  }

  /** Keep chunks for replay, up to `maxBytes`. Call before the first `open()`. */
  enableReplay(maxBytes: number): void {
    if (this.source === null || this.opened) return;
    this.teeing = true;
    this.recordCap = maxBytes;
  }

  /** Copies the body into `w` too (mirroring), up to `maxBytes`; beyond that `w` is destroyed. */
  addTap(w: Writable, maxBytes: number): void {
    if (this.source === null) {
      w.end();
      return;
    }
    this.teeing = true;
    this.taps.push({ w, left: maxBytes });
    w.on('error', () => undefined);
  }

  /** Whether a retry could send the whole body again. */
  canReplay(): boolean {
    return this.source === null || (this.teeing && this.recordCap >= 0 && !this.overflowed);
  }

  /** The body for the next attempt (null: none). */
  open(): Readable | null {
    const src = this.source;
    if (src === null) return null;
    if (!this.teeing) {
      if (!this.opened) {
        this.opened = true;
        src.on('data', (c: Buffer) => (this.bytesReceived += c.length));
        // Counting must not start the flow: bytes would be gone before the upstream request reads them.
        src.pause();
      }
      return src;
    }
    const out = new PassThrough();
    const prev = this.current;
    this.current = out;
    if (prev) {
      prev.removeAllListeners('drain');
      if (!prev.destroyed) prev.destroy();
    }
    for (const c of this.recorded) out.write(c);
    if (this.ended) out.end();
    if (!this.opened) {
      this.opened = true;
      src.on('data', (c: Buffer) => this.onChunk(c));
      src.on('end', () => {
        this.ended = true;
        this.current?.end();
        for (const t of this.taps) t.w.end();
      });
    } else if (src.isPaused()) src.resume();
    return out;
  }

  private onChunk(c: Buffer): void {
    this.bytesReceived += c.length;
    if (this.recordCap >= 0 && !this.overflowed) {
      this.recordedBytes += c.length;
      if (this.recordedBytes > this.recordCap) {
        this.overflowed = true;
        this.recorded = [];
      } else this.recorded.push(c);
    }
    for (const t of this.taps) {
      if (t.w.destroyed) continue;
      t.left -= c.length;
      if (t.left < 0) t.w.destroy();
      else t.w.write(c);
    }
    const cur = this.current;
    if (cur && !cur.destroyed && !cur.write(c)) {
      this.source!.pause();
      cur.once('drain', () => this.source!.resume());
    }
  }
}
