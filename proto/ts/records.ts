// The framing of RunMessage.records (RunResponse.batch in proto/gadget/v1/gadget.proto): the
// ring-buffer batches the daemon's reader thread hands to JS, forwarded as they are.
//   per record: [u32 length, little endian][payload: length bytes][zero pad to 8-byte alignment]
// Records start at 8-byte aligned offsets of the batch; a batch holds `count` records.
// The walk lives here once, beside the format, for the daemon (its reader, LocalRuntime's
// filter) and the CLI (plugin/src/pipeline/stream.ts) alike. RecordCursor is the walk itself: a
// loop over it is as tight as the loop written inline, without a call per record.

/** Bytes one record of `length` payload bytes takes in a batch. */
export function framedSize(length: number): number {
  return (4 + length + 7) & ~7;
}

/**
 * Called for a record the walk cannot hand out: one shorter than the cursor's minimum length
 * (`length <= left`: skipped, the walk goes on) or one running past the end of the batch
 * (`length > left`: the walk stops). `left`: the batch's bytes after the record's length word.
 */
export type MalformedRecord = (length: number, minLength: number, left: number) => void;

/**
 * Walks the records of one batch:
 *   const c = new RecordCursor(batch); while (c.next()) use(c.batch, c.offset, c.length);
 * Records shorter than `minLength` and a record cut by the end of the batch go to `malformed`
 * (default: a cut record throws, a short one is skipped).
 */
export class RecordCursor {
  /** the batch, as a Buffer (a view, not a copy) */
  readonly batch: Buffer;
  /** payload offset of the current record */
  offset = 0;
  /** payload length of the current record */
  length = 0;
  private pos = 0;
  private readonly end: number;

  constructor(
    batch: Uint8Array,
    private readonly minLength = 0,
    private readonly malformed: MalformedRecord = truncated,
  ) {
    this.batch = Buffer.isBuffer(batch)
      ? batch
      : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
    this.end = this.batch.length;
  }

  /** Moves to the next record; false at the end of the batch (or at a cut record). */
  next(): boolean {
    const end = this.end;
    for (;;) {
      const off = this.pos;
      if (off + 4 > end) return false;
      const len = this.batch.readUInt32LE(off);
      const start = off + 4;
      const stop = start + len;
      this.pos = stop + ((8 - (stop & 7)) & 7);
      if (stop > end || len < this.minLength) {
        this.malformed(len, this.minLength, end - start);
        if (stop > end) {
          this.pos = end;
          return false;
        }
        continue;
      }
      this.offset = start;
      this.length = len;
      return true;
    }
  }
}

function truncated(length: number, _minLength: number, left: number): void {
  if (length > left) throw new Error(`truncated record (length ${length}, ${left} bytes left)`);
}

/**
 * Calls fn(batch, payloadOffset, payloadLength) for every record, in order; returns the count.
 * fn may return false to stop early. A record cut by the end of the batch throws.
 */
export function forEachRecord(
  batch: Uint8Array,
  fn: (batch: Buffer, offset: number, length: number) => boolean | void,
): number {
  const c = new RecordCursor(batch);
  let n = 0;
  while (c.next()) {
    n++;
    if (fn(c.batch, c.offset, c.length) === false) break;
  }
  return n;
}

/** The records of a batch as Buffers (views into the batch, not copies). */
export function splitRecords(batch: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  forEachRecord(batch, (b, off, len) => {
    out.push(b.subarray(off, off + len));
  });
  return out;
}

/** Frames payloads the way the reader does (for tests and for synthetic batches). */
export function frameRecords(records: Uint8Array[]): Buffer {
  const total = records.reduce((s, r) => s + framedSize(r.length), 0);
  const out = Buffer.alloc(total);
  let off = 0;
  for (const r of records) {
    out.writeUInt32LE(r.length, off);
    out.set(r, off + 4);
    off += framedSize(r.length);
  }
  return out;
}
