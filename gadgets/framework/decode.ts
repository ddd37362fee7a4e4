// Record decoders generated from a gadget's BTF-derived layout (build/gadgets/<name>.layout.json),
// so the C struct is the only definition of a record and TS never holds a hand-kept copy.

import type { FieldLayout, RawRecord, RecordLayout } from './types.js';

export type Decoder = (buf: Buffer, offset: number, length: number) => RawRecord;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decode bytes as UTF-8; bytes that are not valid UTF-8 become `\xNN`, never dropped. */
export function decodeBytes(buf: Buffer, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString('latin1', start, end);
  try {
    return utf8.decode(buf.subarray(start, end));
  } catch {
    return escapeInvalidUtf8(buf, start, end);
  }
}

// Walks the bytes by hand: valid sequences are kept, each byte of an invalid one becomes \xNN.
function escapeInvalidUtf8(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    let n = 0;
    if (b < 0x80) n = 1;
    else if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) n = 3;
    else if (b >= 0xf0 && b <= 0xf4) n = 4;
    let ok = n > 0 && i + n <= end;
    for (let k = 1; ok && k < n; k++) ok = (buf[i + k]! & 0xc0) === 0x80;
    if (ok && n > 1) {
      try {
        out += utf8.decode(buf.subarray(i, i + n));
      } catch {
        ok = false; // overlong or surrogate
      }
    } else if (ok) {
      out += String.fromCharCode(b);
    }
    if (ok) {
      i += n;
    } else {
      out += '\\x' + b.toString(16).padStart(2, '0');
      i += 1;
    }
  }
  return out;
}

/** A NUL-terminated string inside [start, end). */
export function decodeCString(buf: Buffer, start: number, end: number): string {
  let nul = buf.indexOf(0, start);
  if (nul < 0 || nul > end) nul = end;
  return decodeBytes(buf, start, nul);
}

/** Split NUL-separated strings (argv): a trailing NUL does not make an empty last element. */
export function splitNulStrings(bytes: Buffer): string[] {
  const out: string[] = [];
  let s = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      out.push(decodeBytes(bytes, s, i));
      s = i + 1;
    }
  }
  if (s < bytes.length) out.push(decodeBytes(bytes, s, bytes.length));
  return out;
}

const INT_READ: Record<string, string> = {
  u8: 'buf.readUInt8(o+OFF)',
  s8: 'buf.readInt8(o+OFF)',
  u16: 'buf.readUInt16LE(o+OFF)',
  s16: 'buf.readInt16LE(o+OFF)',
  u32: 'buf.readUInt32LE(o+OFF)',
  s32: 'buf.readInt32LE(o+OFF)',
  // ids and counters fit in 2^53; `timestamp` is special-cased to bigint below
  u64: '(buf.readUInt32LE(o+OFF) + buf.readUInt32LE(o+OFF+4) * 4294967296)',
  s64: 'Number(buf.readBigInt64LE(o+OFF))',
  bool: '(buf.readUInt8(o+OFF) !== 0)',
};

function fieldExpr(f: FieldLayout, layout: RecordLayout): string {
  const off = String(f.offset);
  if (f.name === 'timestamp' && (f.kind === 'u64' || f.kind === 's64')) {
    return `buf.readBigUInt64LE(o+${off})`;
  }
  const int = INT_READ[f.kind];
  if (int) return int.replace(/OFF/g, off);
  switch (f.kind) {
    case 'cstring':
      return `h.cstr(buf, o+${off}, o+${f.offset + f.size})`;
    case 'bytes': {
      const sizeField = layout.fields.find((x) => x.name === `${f.name}_size`);
      const lenExpr = sizeField
        ? `Math.min(${fieldExpr(sizeField, layout)}, len-${off})`
        : `(len-${off})`;
      return `buf.subarray(o+${off}, o+${off}+Math.max(0, ${lenExpr}))`;
    }
    case 'array': {
      const elem = INT_READ[f.elem ?? ''];
      const count = f.count ?? 0;
      if (!elem || count === 0)
        throw new Error(`layout ${layout.struct}: bad array field ${f.name}`);
      const esize = f.size / count;
      const items = Array.from({ length: count }, (_, i) =>
        elem.replace(/OFF/g, String(f.offset + i * esize)),
      );
      return `[${items.join(', ')}]`;
    }
    default:
      throw new Error(`layout ${layout.struct}: unsupported field kind ${f.kind} (${f.name})`);
  }
}

/**
 * Build a decoder for one record layout. The generated function reads each field at its BTF
 * offset; it is compiled once per run, so per-record cost is plain property stores.
 */
export function makeDecoder(layout: RecordLayout): Decoder {
  const body = layout.fields
    .map((f) => `${JSON.stringify(f.name)}: ${fieldExpr(f, layout)}`)
    .join(',\n    ');
  const src = `return function decode(buf, o, len) {\n  return {\n    ${body}\n  };\n};`;
  const factory = new Function('h', src) as (h: unknown) => Decoder;
  return factory({ cstr: decodeCString });
}

/** Minimum bytes a record of this layout occupies (the fixed part). */
export function fixedSize(layout: RecordLayout): number {
  return layout.fields.reduce(
    (m, f) => (f.kind === 'bytes' ? m : Math.max(m, f.offset + f.size)),
    0,
  );
}
