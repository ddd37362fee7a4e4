// Redaction of raw records: a gadget's byte field (trace exec's argv, traceloop's data items)
// rewritten in place of the kernel's bytes, its length field and the batch framing with it.
// Batches with nothing to redact are returned as they came (the same Buffer).

import type { RecordLayout } from '../../../gadgets/framework/types.js';
import { framedSize, RecordCursor } from '../../../proto/ts/records.js';
import type { Redactor } from './patterns.js';

/** Where a gadget's redactable bytes are: a trailing `bytes` field and the field holding its length. */
export interface RedactableField {
  /** the flexible array member (kind 'bytes') at the end of the record */
  bytes: string;
  /** the integer field with its length in bytes */
  length: string;
  /** the most bytes a reader takes (traceloop's tl_data); longer results are cut there */
  max?: number;
}

/**
 * The gadgets whose records carry command lines or captured buffers. Others (trace open's
 * paths, network flows) are forwarded untouched.
 */
export const REDACTABLE: Readonly<Record<string, RedactableField>> = {
  trace_exec: { bytes: 'args', length: 'args_size' },
  traceloop: { bytes: 'data', length: 'len', max: 264 },
};

/** A batch rewriter for one layout. */
export interface RecordRedaction {
  /** The batch with its secrets replaced (or the same batch), and its record count. */
  batch(records: Buffer, count: number): { records: Buffer; count: number; redacted: number };
}

/**
 * The rewriter for a gadget's layout; undefined when the gadget has nothing to redact. A
 * layout without the declared fields throws: forwarding unredacted bytes is not an option.
 */
export function recordRedaction(
  gadget: string,
  layout: RecordLayout,
  redactor: Redactor,
): RecordRedaction | undefined {
  const spec = REDACTABLE[gadget];
  if (!spec) return undefined;
  const bytes = layout.fields.find((f) => f.name === spec.bytes && f.kind === 'bytes');
  const len = layout.fields.find((f) => f.name === spec.length);
  if (
    !bytes ||
    !len ||
    !['u16', 'u32'].includes(len.kind) ||
    len.offset + len.size > bytes.offset
  ) {
    throw new Error(
      `redaction: the ${gadget} layout has no ${spec.bytes} bytes with a u16/u32 ${spec.length}: rebuild the gadgets (npm run build)`,
    );
  }
  const off = bytes.offset;
  const lenOff = len.offset;
  const wide = len.kind === 'u32';
  const max = spec.max ?? Infinity;

  return {
    batch(records, count) {
      let parts: Buffer[] | undefined;
      let from = 0;
      let n = 0;
      let redacted = 0;
      // a record cut by the end of the batch ends the walk: what follows it is dropped, not
      // forwarded unread
      let cut = false;
      const c = new RecordCursor(records, 0, (l, _min, left) => {
        if (l > left) cut = true;
      });
      let end = 0;
      while (c.next()) {
        n++;
        const rec = c.offset;
        end = rec - 4 + framedSize(c.length);
        if (c.length <= off) continue;
        const declared = wide
          ? records.readUInt32LE(rec + lenOff)
          : records.readUInt16LE(rec + lenOff);
        const size = Math.min(declared, c.length - off, max);
        const data = records.subarray(rec + off, rec + off + size);
        const text = redactor.redact(data.toString('latin1'));
        if (text === null) continue;
        redacted++;
        let out = Buffer.from(text, 'latin1');
        if (out.length > max) out = out.subarray(0, max);
        const payload = off + out.length;
        const framed = Buffer.alloc(framedSize(payload));
        framed.writeUInt32LE(payload, 0);
        records.copy(framed, 4, rec, rec + off);
        if (wide) framed.writeUInt32LE(out.length, 4 + lenOff);
        else framed.writeUInt16LE(out.length, 4 + lenOff);
        out.copy(framed, 4 + off);
        (parts ??= []).push(records.subarray(from, rec - 4), framed);
        from = end;
      }
      if (cut) {
        end = Math.min(end, records.length);
        if (!parts) return { records: records.subarray(0, end), count: n, redacted };
        parts.push(records.subarray(from, end));
        return { records: Buffer.concat(parts), count: n, redacted };
      }
      if (!parts) return { records, count, redacted: 0 };
      parts.push(records.subarray(from));
      return { records: Buffer.concat(parts), count, redacted };
    },
  };
}
