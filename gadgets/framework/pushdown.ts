// -F in the kernel (issue 16): which -F expressions a gadget's BPF program can apply itself, and
// the kernel's filter table for the runs sharing one loaded gadget (bpf/gadget.h,
// struct gadget_field_filter).
//
// Pushed: pid, tid, uid and gid with =, !, >, >=, <, <= on a whole number of 32 bits, and comm
// with = or ! on a value the kernel's bytes can show (at most 15 UTF-8 bytes, no NUL, no
// backslash: the decoder writes invalid bytes as \xNN). Never a regex, nor a text range. What is
// not pushed, and every expression again, runs in user space (field-filter.ts), so the kernel
// only has to pass a superset: the union over the runs of each run's pushed conjunction.

import { FilterSyntaxError, parseFieldFilter } from './field-filter.js';
import type { FieldFilter, FilterOp } from './field-filter.js';
import { clipLine } from './clip.js';

/** The numeric fields, in the kernel's order (lo[], hi[], ne[] index). */
export const KERNEL_NUMBER_FIELDS = ['pid', 'tid', 'uid', 'gid'] as const;
/** Every field a gadget may filter in the kernel. */
export const KERNEL_FILTER_FIELDS: readonly string[] = [...KERNEL_NUMBER_FIELDS, 'comm'];

/** GADGET_FF_SLOTS: distinct run filters the kernel holds; more and it filters nothing. */
export const KERNEL_FILTER_SLOTS = 8;
/** sizeof(struct gadget_field_filter) */
export const KERNEL_FILTER_SLOT_SIZE = 88;
const COMM_LEN = 16;
const U32_MAX = 0xffff_ffff;
const WHOLE = /^\+?\d+$/;

const COMM_ANY = 0;
const COMM_EQ = 1;
const COMM_NE = 2;

/** The expressions of `filters` the kernel can apply, for a gadget filtering `fields` there. */
export function pushdown(
  filters: readonly FieldFilter[],
  fields: readonly string[] | undefined,
): FieldFilter[] {
  if (!fields?.length) return [];
  return filters.filter((f) => fields.includes(f.column) && pushable(f));
}

function pushable(f: FieldFilter): boolean {
  if (f.op === '~') return false;
  if (f.column === 'comm') {
    if (f.op !== '=') return false;
    return (
      !f.value.includes('\\') && !f.value.includes('\0') && Buffer.byteLength(f.value) < COMM_LEN
    );
  }
  if (!(KERNEL_NUMBER_FIELDS as readonly string[]).includes(f.column)) return false;
  return WHOLE.test(f.value) && BigInt(f.value) <= BigInt(U32_MAX);
}

/** An expression as the daemon is sent it: the field's name, not the header the user typed. */
export function kernelFilterText(f: FieldFilter): string {
  return `${f.column}:${f.negate ? '!' : ''}${f.op === '=' ? '' : f.op}${f.value}`;
}

/**
 * The daemon's side: a run request's kernel filters, parsed again and held to the same rules
 * (the request comes from any client). Throws FilterSyntaxError (one line) on a bad one.
 */
export function parseKernelFilters(
  texts: readonly string[],
  fields: readonly string[] | undefined,
): FieldFilter[] {
  if (texts.length === 0) return [];
  const allowed = fields ?? [];
  if (allowed.length === 0) {
    throw new FilterSyntaxError(
      `kernel filter "${clipLine(texts[0] ?? '', 60)}": this gadget filters no column in the kernel (trace exec and trace open do: ${KERNEL_FILTER_FIELDS.join(', ')})`,
    );
  }
  const out: FieldFilter[] = [];
  for (const t of texts) {
    const f = parseFieldFilter(t, (n) => (allowed.includes(n) ? n : undefined), allowed);
    if (!pushable(f)) {
      throw new FilterSyntaxError(
        `kernel filter "${clipLine(t, 60)}" cannot run in the kernel (pid, tid, uid, gid: a whole number; comm: = or ! on at most 15 bytes)`,
      );
    }
    out.push(f);
  }
  return out;
}

/** One run's pushed conjunction as the kernel's slot holds it. */
interface Slot {
  lo: number[];
  hi: number[];
  ne: Array<number | undefined>;
  comm: { op: typeof COMM_EQ | typeof COMM_NE; value: string } | undefined;
}

/** A negated comparison is the opposite one. */
const NEGATED: Record<FilterOp, string> = {
  '=': '!=',
  '>': '<=',
  '>=': '<',
  '<': '>=',
  '<=': '>',
  '~': '~',
};

function slotOf(filters: readonly FieldFilter[]): Slot {
  const s: Slot = {
    lo: [0, 0, 0, 0],
    hi: [U32_MAX, U32_MAX, U32_MAX, U32_MAX],
    ne: [],
    comm: undefined,
  };
  const empty = (i: number): void => {
    s.lo[i] = 1;
    s.hi[i] = 0;
  };
  for (const f of filters) {
    if (f.column === 'comm') {
      // a second comm rule is left to user space (a superset is enough)
      s.comm ??= { op: f.negate ? COMM_NE : COMM_EQ, value: f.value };
      continue;
    }
    const i = (KERNEL_NUMBER_FIELDS as readonly string[]).indexOf(f.column);
    const v = Number(f.value);
    // the rule as a range
    const op = f.negate ? NEGATED[f.op] : f.op;
    switch (op) {
      case '=':
        s.lo[i] = Math.max(s.lo[i]!, v);
        s.hi[i] = Math.min(s.hi[i]!, v);
        break;
      case '!=':
        if (s.ne[i] === undefined) s.ne[i] = v;
        break;
      case '>':
        if (v >= U32_MAX) empty(i);
        else s.lo[i] = Math.max(s.lo[i]!, v + 1);
        break;
      case '>=':
        s.lo[i] = Math.max(s.lo[i]!, v);
        break;
      case '<':
        if (v === 0) empty(i);
        else s.hi[i] = Math.min(s.hi[i]!, v - 1);
        break;
      case '<=':
        s.hi[i] = Math.min(s.hi[i]!, v);
        break;
    }
  }
  return s;
}

function packSlot(s: Slot, buf: Buffer, at: number): void {
  for (let i = 0; i < KERNEL_NUMBER_FIELDS.length; i++) {
    buf.writeUInt32LE(s.lo[i]!, at + 4 * i);
    buf.writeUInt32LE(s.hi[i]!, at + 16 + 4 * i);
    buf.writeUInt32LE(s.ne[i] ?? 0, at + 32 + 4 * i);
  }
  let neMask = 0;
  s.ne.forEach((v, i) => {
    if (v !== undefined) neMask |= 1 << i;
  });
  buf.writeUInt32LE(neMask, at + 48);
  buf.writeUInt32LE(s.comm?.op ?? COMM_ANY, at + 52);
  if (s.comm) {
    // the value and its NUL must match; the bytes after it are the task's own
    const n = buf.write(s.comm.value, at + 56, COMM_LEN - 1);
    buf.fill(0xff, at + 72, at + 72 + n + 1);
  }
}

/**
 * The kernel's globals for the runs sharing a loaded gadget, each given as its pushed filters:
 * one slot per distinct run filter, so an event passes when any run's might. A run with none
 * (it wants everything), or more distinct filters than slots, turns the filter off.
 */
export function kernelFilterGlobals(runs: ReadonlyArray<readonly FieldFilter[]>): {
  gadget_ff_count: number;
  gadget_ff: Uint8Array;
} {
  const buf = Buffer.alloc(KERNEL_FILTER_SLOTS * KERNEL_FILTER_SLOT_SIZE);
  const off = { gadget_ff_count: 0, gadget_ff: buf };
  if (runs.length === 0 || runs.some((r) => r.length === 0)) return off;
  const slots = new Map<string, Buffer>();
  for (const r of runs) {
    const b = Buffer.alloc(KERNEL_FILTER_SLOT_SIZE);
    packSlot(slotOf(r), b, 0);
    slots.set(b.toString('hex'), b);
  }
  if (slots.size > KERNEL_FILTER_SLOTS) return off;
  let i = 0;
  for (const b of slots.values()) b.copy(buf, KERNEL_FILTER_SLOT_SIZE * i++);
  return { gadget_ff_count: slots.size, gadget_ff: buf };
}
