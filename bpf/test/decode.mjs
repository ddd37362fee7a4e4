#!/usr/bin/env node
// Decode gadget-run output ([u32 len][record]...) with a layout JSON. As a command
// (`decode.mjs LAYOUT < records`) prints one JSON line per record. bytes fields become the list
// of their NUL-separated strings. Test aid only: the real decoder lives in gadgets/framework.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cstr = (b) => {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};

export function decodeRecord(layout, rec) {
  const out = { _len: rec.length };
  for (const f of layout.fields) {
    const o = f.offset;
    switch (f.kind) {
      case 'u8':
        out[f.name] = rec.readUInt8(o);
        break;
      case 's8':
        out[f.name] = rec.readInt8(o);
        break;
      case 'u16':
        out[f.name] = rec.readUInt16LE(o);
        break;
      case 's16':
        out[f.name] = rec.readInt16LE(o);
        break;
      case 'u32':
        out[f.name] = rec.readUInt32LE(o);
        break;
      case 's32':
        out[f.name] = rec.readInt32LE(o);
        break;
      case 'u64':
        out[f.name] = rec.readBigUInt64LE(o).toString();
        break;
      case 's64':
        out[f.name] = rec.readBigInt64LE(o).toString();
        break;
      case 'bool':
        out[f.name] = rec[o] !== 0;
        break;
      case 'cstring':
        out[f.name] = cstr(rec.subarray(o, o + f.size));
        break;
      case 'bytes': {
        const n = out[`${f.name}_size`] ?? rec.length - o;
        const b = rec.subarray(o, o + n);
        out[f.name] = b.length ? b.toString('utf8').replace(/\0$/, '').split('\0') : [];
        break;
      }
      case 'array':
        out[f.name] = `array(${f.elem} x ${f.count})`;
        break;
    }
  }
  return out;
}

export function decodeStream(layout, buf) {
  const recs = [];
  for (let p = 0; p + 4 <= buf.length;) {
    const len = buf.readUInt32LE(p);
    recs.push(decodeRecord(layout, buf.subarray(p + 4, p + 4 + len)));
    p += 4 + len;
  }
  return recs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const layout = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  for (const r of decodeStream(layout, readFileSync(0))) console.log(JSON.stringify(r));
}
