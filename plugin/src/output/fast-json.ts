// The -o json fast path: a serializer generated once per record layout and field specs
// (gadgets/framework/fields.ts) that writes each event's NDJSON line straight from the raw record
// bytes into the batch's output buffer. No decoded record, no event object, no intermediate
// strings: integers are written as digits, strings copied from the record with only the bytes JSON
// must escape handled (output/json-bytes.ts), the timestamp from a per-second cached prefix, the
// container fields from a fragment cached per mount namespace, and fields that are functions of
// integers (errno, flag names, mode) from fragments cached per input value.
//
// The bytes are exactly those of the object path (event.ts line builder + the gadget's transform
// + output/json.ts), which stays the path for every other case: gadgets with a hand-written
// transform, layouts the specs do not fit, columns and yaml. fast-json.test.ts checks both paths
// against each other on generated records. A spec the writer cannot do from bytes (a computed
// field, a copy of a bytes field...) is still served: the writer decodes the record for it.

import type { Decoder } from '#gadgets/framework/decode.js';
import { fieldTransform } from '#gadgets/framework/fields.js';
import type { FieldSpec, Scalar } from '#gadgets/framework/fields.js';
import type { FieldLayout, RawRecord, RecordLayout } from '#gadgets/framework/types.js';
import {
  writeAsciiText,
  writeBytes,
  writeInt,
  writeNthString,
  writeNumber,
  writeString,
  writeStrings,
} from './json-bytes.js';
import { jsonValue } from './json.js';
import type { TimestampFormatter, TimestampWriter } from './time.js';
import { COMMON_FIELD_SET, INT_KINDS, RAW_FIELDS } from '../pipeline/event.js';

/** Per-node state a record writer uses (one per run header). */
export interface FastContext {
  /**
   * the `,"node":...,"runtime":".."` fragment of a mount namespace's container (or the host):
   * by its unique id when the layout has mntns_uid (else 0), by inode otherwise
   */
  place(mntns: number, uid: number): Uint8Array;
  /** the same for events without a usable mntns_id */
  host: Uint8Array;
  /** u64 timestamps */
  ts: TimestampWriter;
  /** timestamps of other integer kinds */
  time: TimestampFormatter;
  /** the layout's decoder, for fields the writer cannot do from bytes */
  decode: Decoder;
}

/**
 * Writes one record's NDJSON line (with its "\n") into `out` from `p`; returns the new offset,
 * or minus the number of bytes it needs from `p` when `out` is too small (nothing written).
 */
export type RecordWriter = (
  buf: Buffer,
  o: number,
  len: number,
  out: Buffer,
  p: number,
  c: FastContext,
) => number;

/** Cached fragments per input: a fragment for the last input, then a bounded map. */
const MEMO_LIMIT = 4096;
const NO_INPUT = Symbol('none');

class Memo1 {
  private last: Scalar | typeof NO_INPUT = NO_INPUT;
  private lastFrag: Uint8Array = new Uint8Array(0);
  private readonly map = new Map<Scalar, Uint8Array>();
  constructor(private readonly make: (...v: Scalar[]) => Uint8Array) {}
  get(v: Scalar): Uint8Array {
    if (v === this.last) return this.lastFrag;
    let f = this.map.get(v);
    if (f === undefined) {
      if (this.map.size >= MEMO_LIMIT) this.map.clear();
      f = this.make(v);
      this.map.set(v, f);
    }
    this.last = v;
    this.lastFrag = f;
    return f;
  }
}

class Memo2 {
  private last1: Scalar | typeof NO_INPUT = NO_INPUT;
  private last2: Scalar | typeof NO_INPUT = NO_INPUT;
  private lastFrag: Uint8Array = new Uint8Array(0);
  private readonly map = new Map<Scalar, Map<Scalar, Uint8Array>>();
  private size = 0;
  constructor(private readonly make: (...v: Scalar[]) => Uint8Array) {}
  get(a: Scalar, b: Scalar): Uint8Array {
    if (a === this.last1 && b === this.last2) return this.lastFrag;
    let inner = this.map.get(a);
    let f = inner?.get(b);
    if (f === undefined) {
      if (this.size >= MEMO_LIMIT) {
        this.map.clear();
        this.size = 0;
        inner = undefined;
      }
      if (inner === undefined) this.map.set(a, (inner = new Map()));
      f = this.make(a, b);
      inner.set(b, f);
      this.size++;
    }
    this.last1 = a;
    this.last2 = b;
    this.lastFrag = f;
    return f;
  }
}

/** Any number of inputs: keyed by their text (rare: no gadget maps more than two fields). */
class MemoN {
  private readonly map = new Map<string, Uint8Array>();
  constructor(private readonly make: (...v: Scalar[]) => Uint8Array) {}
  get(...v: Scalar[]): Uint8Array {
    const key = v.map((x) => (typeof x === 'boolean' ? String(x) : `n${x}`)).join(',');
    let f = this.map.get(key);
    if (f === undefined) {
      if (this.map.size >= MEMO_LIMIT) this.map.clear();
      f = this.make(...v);
      this.map.set(key, f);
    }
    return f;
  }
}

const HELPERS = {
  int: writeInt,
  num: writeNumber,
  str: writeString,
  nth: writeNthString,
  strs: writeStrings,
  bytes: writeBytes,
  ascii: writeAsciiText,
};

/** `,"name":` as JSON text */
const keyText = (name: string): string => ',' + JSON.stringify(name) + ':';

/** How a field's value is read from the record, as the decoder would give it (ints, bools). */
function readExpr(f: FieldLayout): string | undefined {
  const b = (k: number): string => `buf[o + ${f.offset + k}]`;
  const u32 = (k: number): string =>
    `((${b(k)} | (${b(k + 1)} << 8) | (${b(k + 2)} << 16)) + ${b(k + 3)} * 16777216)`;
  const s32 = (k: number): string =>
    `(${b(k)} | (${b(k + 1)} << 8) | (${b(k + 2)} << 16) | (${b(k + 3)} << 24))`;
  switch (f.kind) {
    case 'u8':
      return b(0);
    case 's8':
      return `((${b(0)} << 24) >> 24)`;
    case 'u16':
      return `(${b(0)} | (${b(1)} << 8))`;
    case 's16':
      return `(((${b(0)} | (${b(1)} << 8)) << 16) >> 16)`;
    case 'u32':
      return u32(0);
    case 's32':
      return s32(0);
    // the decoder's u64 is lo + hi * 2^32 as a double; Number() of an s64 bigint rounds the
    // same exact sum once, to nearest even, so lo + signed hi * 2^32 is the same number
    case 'u64':
      return `(${u32(0)} + ${u32(4)} * 4294967296)`;
    case 's64':
      return `(${u32(0)} + ${s32(4)} * 4294967296)`;
    case 'bool':
      return `(${b(0)} !== 0)`;
    default:
      return undefined;
  }
}

/** Integer or bool, read as a number/boolean by the decoder (a u64 `timestamp` is a bigint). */
const scalarField = (f: FieldLayout | undefined): f is FieldLayout =>
  f !== undefined &&
  INT_KINDS.has(f.kind) &&
  !(f.name === 'timestamp' && (f.kind === 'u64' || f.kind === 's64'));

export type CompileResult = { write: RecordWriter } | { reason: string };

/**
 * Compile the NDJSON writer of a layout with a gadget's field specs, or say why the object path
 * must be used instead (then nothing is faster, but nothing is wrong either).
 */
export function compileRecordWriter(
  layout: RecordLayout,
  specs: readonly FieldSpec[],
): CompileResult {
  const byName = new Map(layout.fields.map((f) => [f.name, f]));
  const names = new Set<string>();
  for (const s of specs) {
    // a transform returning a common field name changes the common part: objects handle that
    if (COMMON_FIELD_SET.has(s.name)) return { reason: `field ${s.name} is a common field` };
    if (names.has(s.name)) return { reason: `field ${s.name} declared twice` };
    names.add(s.name);
  }
  const tsField = byName.get('timestamp');
  if (tsField && !INT_KINDS.has(tsField.kind)) return { reason: 'timestamp is not an integer' };
  if (tsField?.kind === 'bool') return { reason: 'timestamp is a bool' };
  for (const f of layout.fields) {
    if (f.kind === 'bytes') {
      const size = byName.get(`${f.name}_size`);
      if (size && !scalarField(size)) return { reason: `${f.name}_size is not an integer` };
    }
  }

  const code: string[] = []; // statements before the writes: reads, fragments, bounds
  const writes: string[] = [];
  const needs: string[] = []; // byte bounds of the variable parts
  let constBytes = 0;
  const consts: Uint8Array[] = [];
  const memos: Array<Memo1 | Memo2 | MemoN> = [];
  const decoded: Array<(raw: RawRecord) => string> = [];
  let pending: number[] = [];

  const flush = (): void => {
    if (pending.length === 0) return;
    if (pending.length <= 24) {
      writes.push(
        pending.map((b, i) => `out[p + ${i}] = ${b};`).join(' ') + ` p += ${pending.length};`,
      );
    } else {
      consts.push(Uint8Array.from(pending));
      writes.push(`p = h.bytes(out, p, K[${consts.length - 1}]);`);
    }
    constBytes += pending.length;
    pending = [];
  };
  const text = (s: string): void => {
    for (const b of Buffer.from(s, 'utf8')) pending.push(b);
  };
  const write = (stmt: string, bound: string): void => {
    flush();
    writes.push(stmt);
    needs.push(bound);
  };

  const vars = new Map<string, string>();
  /** a local holding the field's decoded value, read once */
  const value = (f: FieldLayout): string => {
    let v = vars.get(f.name);
    if (v === undefined) {
      v = `v${vars.size}`;
      vars.set(f.name, v);
      code.push(`const ${v} = ${readExpr(f)!};`);
    }
    return v;
  };
  let needRaw = false;
  /** a value that needs the decoded record: its JSON text (key included) */
  const viaDecoder = (fn: (raw: RawRecord) => string): void => {
    needRaw = true;
    decoded.push(fn);
    const v = `d${decoded.length - 1}`;
    code.push(`const ${v} = D[${decoded.length - 1}](raw);`);
    write(`p += out.write(${v}, p);`, `${v}.length * 3`);
  };
  const fragment = (memo: Memo1 | Memo2 | MemoN, inputs: string[]): void => {
    memos.push(memo);
    const v = `m${memos.length - 1}`;
    code.push(`const ${v} = M[${memos.length - 1}].get(${inputs.join(', ')});`);
    write(`p = h.bytes(out, p, ${v});`, `${v}.length`);
  };
  /** bounds of a bytes field as the decoder slices it: [b, e) */
  const bytesBounds = (f: FieldLayout): [string, string] => {
    const b = `b_${f.offset}`;
    const e = `e_${f.offset}`;
    if (!vars.has(`#${f.name}`)) {
      vars.set(`#${f.name}`, b);
      const size = byName.get(`${f.name}_size`);
      const avail = `(len - ${f.offset})`;
      const n = size ? `Math.min(${value(size)}, ${avail})` : avail;
      code.push(`const ${b} = o + ${f.offset};`, `const ${e} = ${b} + Math.max(0, ${n});`);
    }
    return [b, e];
  };
  /** the field's value as written by the line builder/typed tail: numbers, bools, C strings */
  const plain = (f: FieldLayout): boolean => {
    if (f.kind === 'cstring') {
      write(
        `p = h.str(buf, o + ${f.offset}, o + ${f.offset + f.size}, out, p);`,
        `${6 * f.size + 2}`,
      );
      return true;
    }
    if (!scalarField(f)) return false;
    const v = value(f);
    if (f.kind === 'bool') write(`p = h.ascii(out, p, ${v} ? 'true' : 'false');`, '5');
    else if (f.kind === 'u64' || f.kind === 's64') write(`p = h.num(out, p, ${v});`, '24');
    else write(`p = h.int(out, p, ${v});`, '11');
    return true;
  };

  // {"timestamp":"...","node":...,"runtime":"..."
  text('{"timestamp":"');
  if (tsField?.kind === 'u64' || tsField?.kind === 's64') {
    write(`p = c.ts.write(buf, o + ${tsField.offset}, out, p);`, '32');
  } else if (tsField) {
    write(`p = h.ascii(out, p, c.time.format(${value(tsField)}));`, '32');
  }
  text('"');
  const mntns = byName.get('mntns_id');
  // the object path places a record by raw.mntns_id when it is a number, else on the host
  const uidF = byName.get('mntns_uid');
  const uid = scalarField(uidF) && uidF.kind !== 'bool' ? value(uidF) : '0';
  const place =
    scalarField(mntns) && mntns.kind !== 'bool' ? `c.place(${value(mntns)}, ${uid})` : 'c.host';
  code.push(`const P = ${place};`);
  write('p = h.bytes(out, p, P);', 'P.length');

  // the common fields the layout has, as event.ts's line builder writes them
  for (const n of RAW_FIELDS) {
    const f = byName.get(n);
    if (!f) continue;
    text(keyText(n));
    if (!plain(f)) viaDecoder((raw) => jsonValue(raw[n]) ?? 'null');
  }

  // the gadget's fields, as its transform + the typed tail would write them
  for (const s of specs) {
    const key = keyText(s.name);
    /** the spec's value on the object path, serialized like output/json.ts `member` */
    const generic = (): void => {
      const one = fieldTransform([s]);
      viaDecoder((raw) => {
        const j = jsonValue(one(raw, {})![s.name]);
        return j === undefined ? '' : key + j;
      });
    };
    if ('copy' in s) {
      const f = byName.get(s.copy);
      if (f && (f.kind === 'cstring' || scalarField(f))) {
        text(key);
        plain(f);
      } else generic();
    } else if ('map' in s) {
      const inputs = s.of.map((n) => byName.get(n));
      if (!inputs.every(scalarField)) {
        generic();
        continue;
      }
      const fn = s.map;
      const make = (...v: Scalar[]): Uint8Array => {
        const j = jsonValue(fn(...v));
        return Buffer.from(j === undefined ? '' : key + j, 'utf8');
      };
      const vs = inputs.map((f) => value(f));
      fragment(
        vs.length === 1 ? new Memo1(make) : vs.length === 2 ? new Memo2(make) : new MemoN(make),
        vs,
      );
    } else if ('nulString' in s || 'nulStrings' in s) {
      const f = byName.get('nulString' in s ? s.nulString : s.nulStrings);
      const cond = 'nulString' in s && s.ifPositive !== undefined ? byName.get(s.ifPositive) : null;
      if (f?.kind !== 'bytes' || cond === undefined || (cond !== null && !scalarField(cond))) {
        generic();
        continue;
      }
      const [b, e] = bytesBounds(f);
      text(key);
      const bound = `6 * (${e} - ${b}) + 8`;
      if ('nulStrings' in s) write(`p = h.strs(buf, ${b}, ${e}, out, p);`, bound);
      else {
        const nth = `h.nth(buf, ${b}, ${e}, ${s.index}, out, p)`;
        write(
          cond ? `p = ${value(cond)} > 0 ? ${nth} : h.ascii(out, p, '""');` : `p = ${nth};`,
          bound,
        );
      }
    } else {
      generic();
    }
  }
  text('}\n');
  flush();

  const src =
    `return function writeRecord(buf, o, len, out, p, c) {\n` +
    (needRaw ? '  const raw = c.decode(buf, o, len);\n' : '') +
    code.map((l) => `  ${l}\n`).join('') +
    `  const need = ${[String(constBytes), ...needs].join(' + ')};\n` +
    `  if (p + need > out.length) return -need;\n` +
    writes.map((l) => `  ${l}\n`).join('') +
    `  return p;\n};`;
  const write_ = new Function('h', 'K', 'M', 'D', src)(
    HELPERS,
    consts,
    memos,
    decoded,
  ) as RecordWriter;
  return { write: write_ };
}
