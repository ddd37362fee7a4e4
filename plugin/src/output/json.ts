// JSON output: NDJSON for event streams (one object per line), bigint-safe. The hot path is
// V8's JSON.stringify; the hand-written serializer is the fallback for values it cannot take
// (bigint) or gets wrong for us (Uint8Array -> base64, like Go's encoding/json).

import type { Writable } from 'node:stream';
import type { FileOut } from './file-out.js';
import type { GadgetEvent } from '#gadgets/framework/types.js';
import type { ObjectSink, TextSink } from './types.js';
import { writeChunk } from './write.js';

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal; plain strings skip JSON.stringify. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/** JSON text of any value (undefined for values JSON leaves out: undefined, functions, symbols). */
export function jsonValue(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return jsonString(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (v instanceof Uint8Array) {
        return '"' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') + '"';
      }
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ',';
          out += jsonValue(v[i]) ?? 'null';
        }
        return out + ']';
      }
      const withToJSON = v as { toJSON?: () => unknown };
      if (typeof withToJSON.toJSON === 'function') return jsonValue(withToJSON.toJSON());
      let out = '{';
      let first = true;
      for (const k of Object.keys(v)) {
        const x = jsonValue((v as Record<string, unknown>)[k]);
        if (x === undefined) continue;
        out += (first ? '' : ',') + jsonString(k) + ':' + x;
        first = false;
      }
      return out + '}';
    }
    default:
      return undefined;
  }
}

function hasBytes(o: Record<string, unknown>): boolean {
  for (const k in o) if (o[k] instanceof Uint8Array) return true;
  return false;
}

/** One object as JSON text (no newline). */
export function toJson(o: Record<string, unknown>): string {
  try {
    if (!hasBytes(o)) return JSON.stringify(o);
  } catch {
    // bigint somewhere: the slow path below
  }
  return jsonValue(o) ?? '{}';
}

/**
 * The members of `o` as the tail of an object that already has members: `,"a":1,"b":2}`, or
 * `}` when `o` is empty. Lets the pipeline append gadget fields to pre-built common fields.
 */
export function jsonTail(o: Record<string, unknown>): string {
  const j = toJson(o);
  return j.length > 2 ? ',' + j.slice(1) : '}';
}

type Tail = (o: Record<string, unknown>) => string;
type TypedTail = (o: Record<string, unknown>) => string | null;

/** `key:value` for the generic path, or '' when JSON leaves the value out (undefined). */
function member(key: string, v: unknown): string {
  const j = jsonValue(v);
  return j === undefined ? '' : key + j;
}

/** `key:[...]`: arrays of strings without the generic path */
function arrayMember(key: string, a: unknown): string {
  if (!Array.isArray(a)) return member(key, a);
  let out = key + '[';
  for (let i = 0; i < a.length; i++) {
    const e: unknown = a[i];
    if (i > 0) out += ',';
    out += typeof e === 'string' ? jsonString(e) : (jsonValue(e) ?? 'null');
  }
  return out + ']';
}

/**
 * Compile a jsonTail specialised to the keys (in order) and value types of `sample`. Returns null
 * for an object of another shape; a value of another type takes the generic path.
 */
export function compileTail(sample: Record<string, unknown>): TypedTail {
  const keys = Object.keys(sample);
  const parts = keys.map((k) => {
    const acc = `x[${JSON.stringify(k)}]`;
    const key = JSON.stringify(',' + JSON.stringify(k) + ':');
    const v = sample[k];
    if (typeof v === 'number')
      return `(Number.isFinite(${acc}) ? ${key} + ${acc} : m(${key}, ${acc}))`;
    if (typeof v === 'string')
      return `(typeof ${acc} === 'string' ? ${key} + s(${acc}) : m(${key}, ${acc}))`;
    if (typeof v === 'boolean')
      return `(typeof ${acc} === 'boolean' ? ${key} + ${acc} : m(${key}, ${acc}))`;
    if (Array.isArray(v)) return `a(${key}, ${acc})`;
    return `m(${key}, ${acc})`;
  });
  const src =
    `const K = ${JSON.stringify(keys)};\n` +
    `return function typedTail(x) {\n` +
    `  let n = 0;\n` +
    `  for (const k in x) { if (k !== K[n]) return null; n++; }\n` +
    `  if (n !== ${keys.length}) return null;\n` +
    `  return ${parts.length ? parts.join('\n    + ') + " + '}'" : "'}'"};\n};`;
  return new Function('s', 'm', 'a', src)(jsonString, member, arrayMember) as TypedTail;
}

/**
 * jsonTail for a stream of objects that (almost always) share one shape, like a gadget's
 * transform output: compiled for the first object, recompiled if the shape changes for good.
 */
export function makeTail(sample: Record<string, unknown>): Tail {
  let typed = compileTail(sample);
  let misses = 0;
  return (o) => {
    const r = typed(o);
    if (r !== null) {
      misses = 0;
      return r;
    }
    if (++misses > 64) {
      typed = compileTail(o);
      misses = 0;
    }
    return jsonTail(o);
  };
}

/** Pretty JSON for lists (list-containers, list-gadgets, version). */
export function toPrettyJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown) => {
      if (typeof x === 'bigint') return Number.isSafeInteger(Number(x)) ? Number(x) : x.toString();
      if (x instanceof Uint8Array)
        return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
      return x;
    },
    2,
  );
}

/**
 * Collects a batch's NDJSON lines as UTF-8 bytes. Encoding each short line as it is made is
 * cheaper than concatenating thousands of them into one string and encoding that (V8 must
 * flatten the whole rope first). A fresh buffer per batch: the stream may still hold the last.
 */
export class LineBuffer {
  private buf: Buffer;
  private len = 0;

  constructor(private capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.len;
  }

  add(line: string): void {
    // a UTF-16 code unit is at most 3 UTF-8 bytes
    if (this.buf.length - this.len < line.length * 3) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + line.length * 3));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    this.len += this.buf.write(line, this.len);
  }

  /** The batch's bytes; the next batch starts in a new buffer sized like this one. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.capacity = Math.max(this.capacity, this.buf.length);
    this.buf = Buffer.allocUnsafe(this.capacity);
    this.len = 0;
    return out;
  }
}

/** NDJSON to a stream: one write per batch. */
export class NdjsonSink implements TextSink {
  readonly kind = 'ndjson';
  /** `file`: stdout is a regular file; written in whole lines (file-out.ts), errors thrown */
  constructor(
    private readonly out: Writable,
    private readonly file?: FileOut,
  ) {}

  write(chunk: string | Buffer): void | Promise<void> {
    if (this.file) return this.file.write(chunk);
    return writeChunk(this.out, chunk);
  }

  async end(): Promise<void> {}
}

/** -o jsonpretty: each event as indented JSON (IG's jsonpretty), one write per batch. */
export class PrettyJsonSink implements ObjectSink {
  readonly kind = 'objects';
  constructor(private readonly out: Writable) {}

  write(events: GadgetEvent[]): void | Promise<void> {
    let s = '';
    for (const ev of events) s += toPrettyJson(ev) + '\n';
    return writeChunk(this.out, s);
  }

  async end(): Promise<void> {}
}
