// trace open: every open, openat, openat2 and creat on the node, with its result.

import { COMMON_HIDDEN_COLUMNS, COMMON_LEADING_COLUMNS } from '../framework/columns.js';
import { errnoName, modeString, O_CREAT, O_TMPFILE, openFlagNames } from '../framework/linux.js';
import { field, fieldTransform } from '../framework/fields.js';
import { KERNEL_FILTER_FIELDS } from '../framework/pushdown.js';
import type { GadgetDescriptor, RecordFilter, RecordLayout } from '../framework/types.js';
import { boolParam, fieldOffset, listParam } from '../framework/params.js';

export const MAX_PREFIXES = 8;
export const MAX_PREFIX_LEN = 64;

export const descriptor: GadgetDescriptor = {
  command: ['trace', 'open'],
  name: 'trace_open',
  description: 'Trace files being opened: open, openat, openat2 and creat, with their result',
  docs: `Opens done through io_uring (IORING_OP_OPENAT) do not go through these syscalls and are
not seen. \`--prefix\` filters in the kernel on the path as passed, or with \`--full-path\` also on
the resolved path. \`full_path\` of a successful open is the opened file's real path (symlinks
resolved, relative to the process's root, so a container sees its own paths); of a failed one,
the dirfd's or cwd's path joined with the relative path as passed. 32-bit (ia32) syscalls are
not reported.`,
  examples: ['--local --failed', '--remote tcp://127.0.0.1:7878 --prefix /etc/ -o json'],
  params: [
    {
      name: 'failed',
      type: 'bool',
      default: 'false',
      description: 'Show only failed opens',
    },
    {
      name: 'prefix',
      type: 'string[]',
      description: `Only paths starting with this prefix (repeatable, up to ${MAX_PREFIXES}, filtered in the kernel)`,
      validate(v) {
        const list = v.startsWith('[') ? (JSON.parse(v) as string[]) : [v];
        if (list.length > MAX_PREFIXES) throw new Error(`at most ${MAX_PREFIXES} prefixes`);
        for (const p of list) {
          if (!p) throw new Error('empty prefix');
          if (Buffer.byteLength(p) >= MAX_PREFIX_LEN)
            throw new Error(`prefix longer than ${MAX_PREFIX_LEN - 1} bytes`);
        }
      },
    },
    {
      name: 'full-path',
      type: 'bool',
      default: 'false',
      description: 'Resolve full_path against the cwd or dirfd (in the kernel; costs a path walk)',
    },
  ],
  columns: [
    ...COMMON_LEADING_COLUMNS,
    { name: 'pid', width: 7, align: 'right' },
    { name: 'comm', width: 16 },
    { name: 'fd', width: 3, align: 'right' },
    { name: 'error', header: 'ERR', width: 3 },
    { name: 'path', width: 24, flex: true },
    ...COMMON_HIDDEN_COLUMNS,
    { name: 'ret', width: 4, hidden: true, align: 'right' },
    { name: 'flags', width: 12, hidden: true },
    { name: 'mode', width: 5, hidden: true },
    { name: 'full_path', width: 24, hidden: true },
  ],
  // one loaded trace_open serves every run on the node: kernelConfig and openFilter below
  // -F on these runs in the kernel too (bpf/gadget.h GADGET_FIELD_FILTER)
  kernelFilterFields: KERNEL_FILTER_FIELDS,
  shared: {
    globals: (runs) => kernelConfig(runs),
    recordFilter: (params, layout) => openFilter(params, layout),
  },
  // declared field by field, so -o json can be written straight from the record bytes
  transform: fieldTransform([
    field.map('fd', ['ret'], (ret: number) => (ret >= 0 ? ret : -1)),
    field.copy('ret'),
    field.map('error', ['ret'], errnoName),
    field.map('flags', ['flags'], openFlagNames),
    field.map('mode', ['flags', 'mode'], (flags: number, mode: number) =>
      (flags & O_CREAT) !== 0 || (flags & O_TMPFILE) === O_TMPFILE ? modeString(mode) : '',
    ),
    // path[] holds the path as passed, then (with --full-path) the resolved one
    field.nulString('path', 'path', 0),
    field.nulString('full_path', 'path', 1, 'full_path_len'),
  ]),
};

/** The prefixes packed as the kernel's `prefixes[MAX_PREFIXES][MAX_PREFIX_LEN]`. */
export function packPrefixes(prefixes: readonly string[]): Buffer {
  const buf = Buffer.alloc(MAX_PREFIXES * MAX_PREFIX_LEN);
  prefixes.forEach((p, i) => buf.write(p, i * MAX_PREFIX_LEN));
  return buf;
}

/**
 * The kernel's filter for these runs together, a superset of what each wants: failed opens only
 * when every run asked --failed, the resolved path when one asked --full-path, and the union of
 * the runs' prefixes when every run has some and they fit in the kernel's table (else no prefix
 * filter in the kernel).
 */
export function kernelConfig(
  runs: ReadonlyArray<Record<string, string>>,
): Record<string, boolean | number | Uint8Array> {
  const lists = runs.map((p) => listParam(p, 'prefix'));
  const union = lists.some((l) => l.length === 0) ? [] : [...new Set(lists.flat())];
  const prefixes = union.length <= MAX_PREFIXES ? union : [];
  return {
    failed_only: runs.length > 0 && runs.every((p) => boolParam(p, 'failed')),
    full_path: runs.some((p) => boolParam(p, 'full-path')),
    prefix_count: prefixes.length,
    prefixes: packPrefixes(prefixes),
  };
}

/**
 * A run's own filter over what the shared kernel filter passed: --failed, its --prefix list (on
 * the path as passed, and with its --full-path on the resolved one too), and without --full-path
 * the resolved path another run asked for is cut off, so the record is byte for byte what
 * trace_open loaded for this run alone would have written (path_size = the path's bytes with
 * its NUL, full_path_len 0).
 */
export function openFilter(
  params: Record<string, string>,
  layout: RecordLayout,
): RecordFilter | undefined {
  const failed = boolParam(params, 'failed');
  const full = boolParam(params, 'full-path');
  const prefixes = listParam(params, 'prefix').map((p) => Buffer.from(p));
  const retOff = fieldOffset(layout, 'ret');
  const sizeOff = fieldOffset(layout, 'path_size');
  const fullOff = fieldOffset(layout, 'full_path_len');
  const pathOff = fieldOffset(layout, 'path');
  const startsWith = (b: Buffer, from: number, end: number, p: Buffer): boolean =>
    end - from >= p.length && b.compare(p, 0, p.length, from, from + p.length) === 0;
  return (b, off, len) => {
    if (len < pathOff) return true; // malformed: the client reports it
    if (failed && b.readInt32LE(off + retOff) >= 0) return false;
    const start = off + pathOff;
    const end = off + len;
    let nul = b.indexOf(0, start);
    if (nul < 0 || nul >= end) nul = end;
    const fullLen = b.readUInt32LE(off + fullOff);
    if (prefixes.length > 0) {
      let ok = prefixes.some((p) => startsWith(b, start, nul, p));
      if (!ok && full && fullLen > 0) {
        const fEnd = Math.min(end, nul + 1 + fullLen);
        ok = prefixes.some((p) => startsWith(b, nul + 1, fEnd, p));
      }
      if (!ok) return false;
    }
    if (full) return true;
    const n = Math.min(nul + 1, end) - start; // the path as passed, with its NUL
    if (fullLen === 0 && b.readUInt32LE(off + sizeOff) === n && len === pathOff + n) return true;
    const out = Buffer.from(b.subarray(off, start + n));
    out.writeUInt32LE(n, sizeOff);
    out.writeUInt32LE(0, fullOff);
    return out;
  };
}
