// trace open: every open, openat, openat2 and creat on the node, with its result.

import { COMMON_HIDDEN_COLUMNS, COMMON_LEADING_COLUMNS } from '../framework/columns.js';
import { errnoName, modeString, O_CREAT, O_TMPFILE, openFlagNames } from '../framework/linux.js';
import { field, fieldTransform } from '../framework/fields.js';
import type { GadgetDescriptor } from '../framework/types.js';
import { listParam } from '../framework/params.js';

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
      rodata: 'failed_only',
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
      rodata: 'full_path',
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
  configure(params) {
    const prefixes = listParam(params, 'prefix');
    const buf = Buffer.alloc(MAX_PREFIXES * MAX_PREFIX_LEN);
    prefixes.forEach((p, i) => buf.write(p, i * MAX_PREFIX_LEN));
    return {
      rodata: {
        prefix_count: prefixes.length,
        prefixes: buf,
      },
    };
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
