// The syscall table as the recorder and the decoder use it: names <-> numbers, and the per-syscall
// info word the kernel program reads (which arguments are strings or buffers, exit/exit_group,
// the syscall filter). Shared by the daemon (configuring the program) and the CLI (decoding).

import { clipLine } from '../framework/clip.js';
import { SYSCALL_ROWS, type ArgKind, type SyscallRow } from './syscalls.js';

export const MAX_NR = 512;

// sc_info bits: keep in sync with gadgets/traceloop/program.bpf.c
export const SC_STR_MASK = 0x3f;
export const SC_BUF_SHIFT = 6;
export const SC_LEN_SHIFT = 9;
export const SC_NORETURN = 1 << 12;
export const SC_AT_ENTER = 1 << 13;
export const SC_KEEP = 1 << 14;
export const SC_ARGV_SHIFT = 15;
export const SC_ITEMS_SHIFT = 18;
export const SC_FIX_SHIFT = 20;
export const SC_MODE_SHIFT = 29;
/** how the kernel copies the buffer argument (SyscallDef.buffer[3]; program.bpf.c TL_MODE_*) */
export const MODE_IOV = 1;
export const MODE_ARRAY = 2;
export const MODE_WINSIZE = 3;
export const MODE_SIGMASK = 4;
export const MODE_PRCTL = 5;
export const MODE_MSG = 6;
export const MODE_SIGACT = 7;

export interface SyscallDef {
  nr: number;
  name: string;
  /** null: unknown arguments (all six shown raw) */
  args: ReadonlyArray<readonly [string, ArgKind]> | null;
  /**
   * data buffer: argument index, its length argument index (-1: the return value), and for a
   * structure its size (length index -1: an output, -2: an input); with a mode (4th: MODE_*),
   * the index of the count argument, the element size and the mode
   */
  buffer?: readonly [number, number, number?, number?];
  noReturn: boolean;
  /** returns an address (shown in hex) */
  returnsPointer: boolean;
  /**
   * Data items the kernel copies, in order (item 0 into the slot, item 1 into a continuation):
   * argument indexes of the strings, then the buffer, then argv.
   */
  items: number[];
}

const NORETURN = new Set(['exit', 'exit_group']);
// execve's strings (the old mm is gone at exit); the data writev, pwritev, sendmsg send (input)
const AT_ENTER = new Set(['execve', 'execveat', 'writev', 'pwritev', 'sendmsg']);
const POINTER_RET = new Set(['mmap', 'mremap', 'brk', 'shmat']);

/** Read at entry (SC_AT_ENTER): the syscall's data are its inputs. */
export const readAtEntry = (name: string): boolean => AT_ENTER.has(name);

function toDef(row: SyscallRow): SyscallDef {
  const [nr, name, args, buffer] = row;
  const items: number[] = [];
  args?.forEach(([, k], i) => {
    if (k === 'str') items.push(i);
  });
  if (buffer) items.push(buffer[0]);
  args?.forEach(([, k], i) => {
    if (k === 'argv') items.push(i);
  });
  return {
    nr,
    name,
    args,
    ...(buffer ? { buffer } : {}),
    noReturn: NORETURN.has(name),
    returnsPointer: POINTER_RET.has(name),
    items,
  };
}

const byNr = new Map<number, SyscallDef>();
const byName = new Map<string, SyscallDef>();
for (const row of SYSCALL_ROWS) {
  const d = toDef(row);
  byNr.set(d.nr, d);
  byName.set(d.name, d);
}

export function syscallByNr(nr: number): SyscallDef | undefined {
  return byNr.get(nr);
}

export function syscallByName(name: string): SyscallDef | undefined {
  return byName.get(name);
}

export function syscallName(nr: number): string {
  return byNr.get(nr)?.name ?? `syscall_${nr}`;
}

export function allSyscallNames(): string[] {
  return [...byName.keys()];
}

/** The info word of one syscall (without SC_KEEP). */
export function infoWord(d: SyscallDef): number {
  let w = 0;
  const strs = (d.args ?? []).flatMap(([, k], i) => (k === 'str' ? [i] : []));
  for (const i of strs) w |= 1 << i;
  if (d.buffer) {
    w |= (d.buffer[0] + 1) << SC_BUF_SHIFT;
    if (d.buffer[1] >= 0) w |= (d.buffer[1] + 1) << SC_LEN_SHIFT;
    if (d.buffer[2]) w |= d.buffer[2] << SC_FIX_SHIFT;
    if (d.buffer[3]) w |= d.buffer[3] << SC_MODE_SHIFT;
  }
  const argv = (d.args ?? []).findIndex(([, k]) => k === 'argv');
  if (argv >= 0) w |= (argv + 1) << SC_ARGV_SHIFT;
  if (d.noReturn) w |= SC_NORETURN;
  if (AT_ENTER.has(d.name)) w |= SC_AT_ENTER;
  w |= Math.min(d.items.length, 2) << SC_ITEMS_SHIFT;
  return w >>> 0;
}

/**
 * The `sc_info` global: MAX_NR little-endian u32 words. `keep` (the syscall filter), when given,
 * sets SC_KEEP on those numbers only.
 */
export function scInfoBytes(keep?: ReadonlySet<number>): Uint8Array {
  const b = Buffer.alloc(MAX_NR * 4);
  for (const d of byNr.values()) {
    if (d.nr >= MAX_NR) continue;
    let w = infoWord(d);
    if (!keep || keep.has(d.nr)) w |= SC_KEEP;
    b.writeUInt32LE(w >>> 0, d.nr * 4);
  }
  return b;
}

/** Levenshtein distance, small strings only. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** Up to `max` candidates close to `word`: same prefix/substring first, then small edit distance. */
export function closeMatches(word: string, candidates: Iterable<string>, max = 3): string[] {
  const w = word.toLowerCase();
  const scored: Array<[number, string]> = [];
  for (const c of candidates) {
    const l = c.toLowerCase();
    let score: number;
    if (l.startsWith(w) || w.startsWith(l)) score = 0;
    else if (l.includes(w) || w.includes(l)) score = 1;
    else {
      const limit = Math.max(2, Math.floor(w.length / 3));
      // the distance is at least the length difference: a long word costs nothing to reject
      if (Math.abs(w.length - l.length) > limit) continue;
      const d = editDistance(w, l);
      if (d > limit) continue;
      score = 1 + d;
    }
    scored.push([score, c]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].length - b[1].length || a[1].localeCompare(b[1]));
  return [...new Set(scored.map(([, c]) => c))].slice(0, max);
}

export class SyscallFilterError extends Error {
  constructor(
    readonly syscall: string,
    readonly suggestions: string[],
  ) {
    super(
      `unknown syscall "${clipLine(syscall)}" in --syscall-filter` +
        (suggestions.length ? ` (did you mean ${suggestions.join(', ')}?)` : ''),
    );
    this.name = 'SyscallFilterError';
  }
}

/**
 * Parses syscall filter names (comma-separated entries allowed) into numbers.
 * Throws SyscallFilterError naming the first unknown syscall.
 */
export function parseSyscallFilter(names: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const entry of names) {
    for (const raw of entry.split(',')) {
      const n = raw.trim();
      if (!n) continue;
      const d = byName.get(n);
      if (!d) throw new SyscallFilterError(n, closeMatches(n, byName.keys()));
      out.add(d.nr);
    }
  }
  return out;
}
