// Where a run's events go. Objects for columns, yaml and the live view; pre-serialized NDJSON
// text for -o json, so the hot path never builds an event object it does not need.

import type { GadgetEvent } from '#gadgets/framework/types.js';

export interface ObjectSink {
  readonly kind: 'objects';
  /** one call per batch; a returned promise means "wait before the next batch" (backpressure) */
  write(events: GadgetEvent[]): void | Promise<void>;
  /** `failed`: the run ended with an error (print nothing more than needed) */
  end(failed?: boolean): Promise<void>;
}

export interface TextSink {
  readonly kind: 'ndjson';
  /** NDJSON lines of one batch, already joined (each line ends in \n), as text or UTF-8 */
  write(chunk: string | Buffer, count: number): void | Promise<void>;
  /** `failed`: the run ended with an error (print nothing more than needed) */
  end(failed?: boolean): Promise<void>;
}

export type EventSink = ObjectSink | TextSink;

/** Run totals, as shown in the live view's header. */
export interface RunTotals {
  /** events handed to the output (after the gadget's transform dropped some) */
  events: number;
  /** records the kernel could not reserve */
  lost: number;
  /** batches missing from the stream (seq gaps) */
  dropped: number;
}

/** Side channel of a run: warnings, daemon logs, stats. */
export interface Reporter {
  warn(message: string): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  totals?(t: RunTotals): void;
}
