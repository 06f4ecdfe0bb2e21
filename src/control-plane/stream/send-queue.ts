/**
 * Backpressure for large responses. A proxy's initial sync is ~1 MiB; HTTP/2 flow control lets
 * only a window of it out until the proxy reads, and the rest waits in node:http2's buffers. With
 * hundreds of proxies connecting at once, hundreds of such responses (each encoded, then copied
 * by grpc-js) were held at the same time. Here large responses take a share of a process-wide
 * byte budget and are encoded only when their turn comes (EncodedMessage is lazy); small ones
 * (a config change is a few hundred bytes) go out at once unless a large one is queued ahead of
 * them on the same stream (responses on a stream stay in order).
 */

/** A response whose size is known before it is encoded. */
export interface SizedMessage {
  readonly sizeHint: number;
}

/** Responses at least this big take budget. */
export const LARGE_RESPONSE_BYTES = 64 * 1024;
/** Bytes of large responses in flight across all streams (one larger response may always go alone). */
export const IN_FLIGHT_BUDGET_BYTES = 16 * 1024 * 1024;

/** The process-wide budget of large responses in flight. */
export class SendBudget {
  private inFlight = 0;
  /** Blocked senders in arrival order; each returns whether it is unblocked once called. */
  private readonly waiting = new Set<() => boolean>();

  constructor(private readonly limitBytes = IN_FLIGHT_BUDGET_BYTES) {}

  /** Takes `bytes` if they fit (or nothing else is in flight). */
  tryAcquire(bytes: number): boolean {
    if (this.inFlight > 0 && this.inFlight + bytes > this.limitBytes) return false;
    this.inFlight += bytes;
    return true;
  }

  /** Calls `wake` once some budget is released (FIFO); waiting twice keeps the first place. */
  wait(wake: () => boolean): void {
    this.waiting.add(wake);
  }

  /** Drops a waiter (its stream closed). */
  cancel(wake: () => boolean): void {
    this.waiting.delete(wake);
  }

  release(bytes: number): void {
    this.inFlight = Math.max(0, this.inFlight - bytes);
    // In order, until the first that still does not fit: it keeps its place.
    for (const wake of this.waiting) {
      if (!wake()) break;
      this.waiting.delete(wake);
    }
  }

  /** Bytes currently in flight (debug). */
  get bytesInFlight(): number {
    return this.inFlight;
  }
}

/** The process's budget, shared by every stream server in it. */
export const sharedSendBudget = new SendBudget();

/** One stream's ordered sender over a shared budget. */
export class StreamSender<M> {
  private readonly queue: M[] = [];
  private held = 0;
  private closed = false;
  private readonly wake = (): boolean => this.pump();

  constructor(
    /** Writes to the stream; `done` is called once the transport took the bytes (or the stream failed). */
    private readonly write: (message: M, done: () => void) => void,
    private readonly sizeOf: (message: M) => number,
    private readonly budget: SendBudget = sharedSendBudget,
  ) {}

  send(message: M): void {
    if (this.closed) return;
    this.queue.push(message);
    if (this.queue.length === 1) this.pump();
  }

  /** The stream ended: drop what is queued, give back what it held. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.budget.cancel(this.wake);
    if (this.held > 0) this.budget.release(this.held);
    this.held = 0;
  }

  /** Sends what it can; returns false if blocked on the budget. */
  private pump(): boolean {
    while (!this.closed && this.queue.length > 0) {
      const message = this.queue[0]!;
      const size = this.sizeOf(message);
      if (size < LARGE_RESPONSE_BYTES) {
        this.queue.shift();
        this.write(message, () => undefined);
        continue;
      }
      if (!this.budget.tryAcquire(size)) {
        this.budget.wait(this.wake);
        return false;
      }
      this.queue.shift();
      this.held += size;
      let released = false;
      this.write(message, () => {
        if (released || this.closed) return;
        released = true;
        this.held -= size;
        this.budget.release(size);
      });
    }
    return true;
  }
}
