// RingReader: the JS side of a ring-buffer reader thread of the addon (daemon/native/ringbuf.c).

import type { BpfAddon, ReaderHandle, ReaderStats } from './native.js';

export interface ReaderOptions {
  /** sleep between ring-buffer polls (default 10 ms) */
  intervalMs?: number;
  /** a batch is handed to JS once it holds this many framed bytes (default 512 KiB) */
  budgetBytes?: number;
  /** batches handed to JS and not yet processed before the thread waits (default 16) */
  maxQueued?: number;
  /** called when onBatch throws; without it the error becomes an uncaught exception */
  onError?: (err: unknown) => void;
  /** a running reader keeps the process alive, like a socket (default true); see RingReader.unref */
  keepAlive?: boolean;
}

/**
 * Receives framed batches (see records.ts), in order: `count` records of
 * [u32 length LE][payload][pad to 8]. The buffer is the handler's to keep.
 */
export type BatchHandler = (batch: Buffer, count: number) => void;

/** A ring-buffer reader thread of a Collection. */
export class RingReader {
  /** Resolves once the last batch after stop() (or collection close) was delivered. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly flushes = new Map<number, () => void>();
  private stopped = false;
  private ended = false;

  /** @internal use Collection.reader() */
  constructor(
    readonly map: string,
    private readonly addon: BpfAddon,
    start: (cb: (batch: Buffer | null, n: number) => void) => ReaderHandle,
    private readonly onBatch: BatchHandler,
    private readonly onError: ((err: unknown) => void) | undefined,
    private readonly onEnd: (r: RingReader) => void,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.handle = start((batch, n) => this.deliver(batch, n));
  }

  private readonly handle: ReaderHandle;

  get running(): boolean {
    return !this.stopped;
  }

  private deliver(batch: Buffer | null, n: number): void {
    if (batch) {
      try {
        this.onBatch(batch, n);
      } catch (e) {
        if (this.onError) this.onError(e);
        else throw e;
      }
      return;
    }
    if (n > 0) {
      // flush markers arrive in order: every request up to n is served
      for (const [id, resolve] of this.flushes) {
        if (id <= n) {
          this.flushes.delete(id);
          resolve();
        }
      }
      return;
    }
    this.ended = true;
    this.stopped = true;
    for (const resolve of this.flushes.values()) resolve();
    this.flushes.clear();
    this.onEnd(this);
    this.resolveDone();
  }

  /** Resolves once every record the kernel had committed when called was delivered. */
  flush(): Promise<void> {
    if (this.stopped || this.ended) return this.done;
    const id = this.addon.readerFlush(this.handle);
    if (id === 0) return this.done;
    return new Promise((resolve) => this.flushes.set(id, resolve));
  }

  /**
   * Stops the thread now (it drains the ring first). The remaining batches are delivered
   * after this returns; the promise resolves after the last one. Idempotent.
   */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.addon.stopReader(this.handle);
    }
    return this.done;
  }

  /** @internal the collection closed: the addon already stopped the thread */
  markStopped(): void {
    this.stopped = true;
  }

  stats(): ReaderStats {
    return this.addon.readerStats(this.handle);
  }

  /** Lets the process exit while this reader runs (like timer.unref()). */
  unref(): this {
    this.addon.readerRef(this.handle, false);
    return this;
  }

  ref(): this {
    this.addon.readerRef(this.handle, true);
    return this;
  }
}
