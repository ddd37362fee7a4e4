// The framing of ring-buffer batches handed to JS by the reader thread:
//   per record: [u32 length, little endian][payload: length bytes][zero pad to 8-byte alignment]
// Records start at 8-byte aligned offsets of the batch; a batch holds `count` records.

/** Bytes one record of `length` payload bytes takes in a batch. */
export function framedSize(length: number): number {
  return (4 + length + 7) & ~7;
}

/**
 * Calls fn(batch, payloadOffset, payloadLength) for every record, in order; returns the count.
 * fn may return false to stop early.
 */
export function forEachRecord(
  batch: Uint8Array,
  fn: (batch: Buffer, offset: number, length: number) => boolean | void,
): number {
  const buf = Buffer.isBuffer(batch)
    ? batch
    : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
  let off = 0;
  let n = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (off + 4 + len > buf.length) throw new Error(`truncated record at offset ${off} of batch`);
    n++;
    if (fn(buf, off + 4, len) === false) break;
    off += framedSize(len);
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
