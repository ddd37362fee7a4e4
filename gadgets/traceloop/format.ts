// Slots -> records -> text. Runs where output is made (the CLI); the daemon only ships raw slots.
//
// A record on the wire is the kernel's struct tl_slot (gadgets/traceloop/program.bpf.c: a 128-byte
// header; its layout is also in build/gadgets/traceloop.layout.json, checked against these offsets
// by a test) followed by its `len` data bytes.

import { decodeBytes, decodeCString, splitNulStrings } from '../framework/decode.js';
import { errnoName, modeString, O_CREAT, O_TMPFILE } from '../framework/linux.js';
import { namedParams, openFlags } from './named.js';
import type { ArgKind } from './syscalls.js';
import { modeParams, nrParams, retDetail } from './buffers.js';
import { signalName } from './signals.js';
import * as st from './structs.js';
import { syscallByNr, syscallName, type SyscallDef } from './table.js';

export { signalName };

export const SLOT_SIZE = 128;
export const DATA_SIZE = 264;
/** bytes of a buffer `show` prints, as `strace -s 64` */
export const STRSIZE = 64;

export const SLOT = {
  front: 0,
  ts: 8,
  args: 16,
  ret: 64,
  exitTs: 72,
  pid: 80,
  tid: 84,
  nr: 88,
  cpu: 90,
  kind: 92,
  flags: 93,
  len: 94,
  comm: 96,
  back: 112,
  data: 128,
} as const;

export const KIND_SYSCALL = 1;
export const KIND_CONT = 2;
export const KIND_SIGNAL = 3;
export const KIND_EXIT = 4;

export const F_DONE = 1;
export const F_NORETURN = 2;
export const F_HAS_CONT = 4;
export const F_TRUNC0 = 8;
export const F_TRUNC1 = 16;

export interface Slot {
  seq: bigint;
  /** exit (or the whole record) written */
  done: boolean;
  ts: bigint;
  args: bigint[];
  ret: bigint;
  exitTs: bigint;
  pid: number;
  tid: number;
  nr: number;
  cpu: number;
  kind: number;
  flags: number;
  comm: string;
  data: Buffer;
}

/** One record at `off` (`length` bytes: header + data); null when never written or torn. */
export function parseSlot(buf: Buffer, off = 0, length = SLOT_SIZE): Slot | null {
  // a record shorter than the header (a daemon's layout decides the stream's minimum length)
  if (length < SLOT_SIZE || off < 0 || off + SLOT_SIZE > buf.length) return null;
  const front = buf.readBigUInt64LE(off + SLOT.front);
  const back = buf.readBigUInt64LE(off + SLOT.back);
  if (front === 0n || front !== back) return null;
  const args: bigint[] = [];
  for (let i = 0; i < 6; i++) args.push(buf.readBigUInt64LE(off + SLOT.args + i * 8));
  const len = Math.max(
    0,
    Math.min(buf.readUInt16LE(off + SLOT.len), DATA_SIZE, length - SLOT_SIZE),
  );
  return {
    seq: front >> 1n,
    done: (front & 1n) === 1n,
    ts: buf.readBigUInt64LE(off + SLOT.ts),
    args,
    ret: buf.readBigInt64LE(off + SLOT.ret),
    exitTs: buf.readBigUInt64LE(off + SLOT.exitTs),
    pid: buf.readUInt32LE(off + SLOT.pid),
    tid: buf.readUInt32LE(off + SLOT.tid),
    nr: buf.readUInt16LE(off + SLOT.nr),
    cpu: buf.readUInt16LE(off + SLOT.cpu),
    kind: buf[off + SLOT.kind]!,
    flags: buf[off + SLOT.flags]!,
    comm: decodeCString(buf, off + SLOT.comm, off + SLOT.comm + 16),
    data: Buffer.from(buf.subarray(off + SLOT.data, off + SLOT.data + len)),
  };
}

export type RecordKind = 'syscall' | 'signal' | 'exit';

/** One merged record: a syscall (entry + exit + its data), a delivered signal, or a process exit. */
export interface TraceRecord {
  seq: bigint;
  kind: RecordKind;
  /** boot-clock ns at entry */
  ts: bigint;
  /** boot-clock ns at exit when recorded with --durations, else 0n */
  exitTs: bigint;
  cpu: number;
  pid: number;
  tid: number;
  comm: string;
  /** syscall number, or signal number */
  nr: number;
  args: bigint[];
  /** return value; null while the syscall had not returned, or never returns */
  ret: bigint | null;
  noReturn: boolean;
  /** data items (strings, buffer, argv) in the order of SyscallDef.items */
  items: Buffer[];
  truncated: boolean[];
}

/** Slots (any order) -> records in time order; continuation slots merged into their syscall. */
export function assemble(slots: Slot[]): TraceRecord[] {
  const conts = new Map<bigint, Slot>();
  const out: TraceRecord[] = [];
  for (const s of slots) {
    if (s.kind === KIND_CONT) conts.set(s.args[0]!, s);
  }
  for (const s of slots) {
    if (s.kind === KIND_CONT) continue;
    const kind: RecordKind =
      s.kind === KIND_SIGNAL ? 'signal' : s.kind === KIND_EXIT ? 'exit' : 'syscall';
    const items: Buffer[] = [];
    const truncated: boolean[] = [];
    if (kind === 'syscall') {
      items.push(s.data);
      truncated.push((s.flags & F_TRUNC0) !== 0);
      if (s.flags & F_HAS_CONT) {
        const c = conts.get(s.seq);
        items.push(c ? c.data : Buffer.alloc(0));
        truncated.push((s.flags & F_TRUNC1) !== 0);
      }
    }
    const noReturn = (s.flags & F_NORETURN) !== 0;
    const returned = (s.flags & F_DONE) !== 0 && !noReturn;
    out.push({
      seq: s.seq,
      kind,
      ts: s.ts,
      exitTs: s.exitTs,
      cpu: s.cpu,
      pid: s.pid,
      tid: s.tid,
      comm: s.comm,
      nr: s.nr,
      args: s.args,
      ret: kind === 'syscall' ? (returned ? s.ret : null) : s.ret,
      noReturn,
      items,
      truncated,
    });
  }
  // CPUs' clocks agree to well under a microsecond; the seq breaks ties (claim order)
  out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.seq < b.seq ? -1 : 1));
  return out;
}

// ---- names -------------------------------------------------------------------------------------

const SI_CODES: Record<number, string> = {
  0: 'SI_USER',
  0x80: 'SI_KERNEL',
  [-1]: 'SI_QUEUE',
  [-2]: 'SI_TIMER',
  [-3]: 'SI_MESGQ',
  [-4]: 'SI_ASYNCIO',
  [-6]: 'SI_TKILL',
};
const SEGV_CODES = ['', 'SEGV_MAPERR', 'SEGV_ACCERR', 'SEGV_BNDERR', 'SEGV_PKUERR'];
const CLD_CODES = ['', 'CLD_EXITED', 'CLD_KILLED', 'CLD_DUMPED', 'CLD_TRAPPED', 'CLD_STOPPED'];
const FAULT_SIGNALS = new Set([4, 7, 8, 11]); // SIGILL SIGBUS SIGFPE SIGSEGV
/** signals whose default action ends the process */
const DEFAULT_IGNORE = new Set([17, 18, 23, 28]); // SIGCHLD SIGCONT SIGURG SIGWINCH
const DEFAULT_STOP = new Set([19, 20, 21, 22]);
const CORE_SIGNALS = new Set([3, 4, 5, 6, 7, 8, 11, 24, 25, 31]);

function siCode(sig: number, code: number): string {
  if (code > 0 && code < 0x80) {
    if (sig === 11 && SEGV_CODES[code]) return SEGV_CODES[code]!;
    if (sig === 17 && CLD_CODES[code]) return CLD_CODES[code]!;
  }
  return SI_CODES[code] ?? String(code);
}

const AT_FLAGS: Array<[number, string]> = [
  [0x100, 'AT_SYMLINK_NOFOLLOW'],
  [0x200, 'AT_REMOVEDIR'],
  [0x400, 'AT_SYMLINK_FOLLOW'],
  [0x800, 'AT_NO_AUTOMOUNT'],
  [0x1000, 'AT_EMPTY_PATH'],
  [0x8000, 'AT_RECURSIVE'],
];
const PROT: Array<[number, string]> = [
  [1, 'PROT_READ'],
  [2, 'PROT_WRITE'],
  [4, 'PROT_EXEC'],
  [0x1000000, 'PROT_GROWSDOWN'],
  [0x2000000, 'PROT_GROWSUP'],
];
const MAP_FLAGS: Array<[number, string]> = [
  [0x10, 'MAP_FIXED'],
  [0x20, 'MAP_ANONYMOUS'],
  [0x100, 'MAP_GROWSDOWN'],
  [0x800, 'MAP_DENYWRITE'],
  [0x1000, 'MAP_EXECUTABLE'],
  [0x2000, 'MAP_LOCKED'],
  [0x4000, 'MAP_NORESERVE'],
  [0x8000, 'MAP_POPULATE'],
  [0x10000, 'MAP_NONBLOCK'],
  [0x20000, 'MAP_STACK'],
  [0x40000, 'MAP_HUGETLB'],
  [0x80000, 'MAP_SYNC'],
  [0x100000, 'MAP_FIXED_NOREPLACE'],
];
const MAP_TYPES = ['0', 'MAP_SHARED', 'MAP_PRIVATE', 'MAP_SHARED_VALIDATE'];
const WHENCE = ['SEEK_SET', 'SEEK_CUR', 'SEEK_END', 'SEEK_DATA', 'SEEK_HOLE'];
/** Common ioctl requests (asm-generic/ioctls.h and friends): terminals and file descriptors. */
const IOCTL: Record<number, string> = {
  0x5401: 'TCGETS',
  0x5402: 'TCSETS',
  0x5403: 'TCSETSW',
  0x5404: 'TCSETSF',
  0x5409: 'TCSBRK',
  0x540b: 'TCFLSH',
  0x540e: 'TIOCSCTTY',
  0x540f: 'TIOCGPGRP',
  0x5410: 'TIOCSPGRP',
  0x5411: 'TIOCOUTQ',
  0x5413: 'TIOCGWINSZ',
  0x5414: 'TIOCSWINSZ',
  0x541b: 'FIONREAD',
  0x5421: 'FIONBIO',
  0x5422: 'TIOCNOTTY',
  0x5441: 'TIOCGPTPEER',
  0x5450: 'FIONCLEX',
  0x5451: 'FIOCLEX',
  0x5452: 'FIOASYNC',
  0x5460: 'FIOQSIZE',
  0x80045430: 'TIOCGPTN',
  0x40045431: 'TIOCSPTLCK',
  0x802c542a: 'TCGETS2',
  0x402c542b: 'TCSETS2',
  0x80086601: 'FS_IOC_GETFLAGS',
  0x40086602: 'FS_IOC_SETFLAGS',
  0x40049409: 'FICLONE',
};
const FCNTL: Record<number, string> = {
  0: 'F_DUPFD',
  1: 'F_GETFD',
  2: 'F_SETFD',
  3: 'F_GETFL',
  4: 'F_SETFL',
  5: 'F_GETLK',
  6: 'F_SETLK',
  7: 'F_SETLKW',
  8: 'F_SETOWN',
  9: 'F_GETOWN',
  1024: 'F_SETLEASE',
  1025: 'F_GETLEASE',
  1030: 'F_DUPFD_CLOEXEC',
  1031: 'F_SETPIPE_SZ',
  1032: 'F_GETPIPE_SZ',
  1033: 'F_ADD_SEALS',
  1034: 'F_GET_SEALS',
};

// ---- values ------------------------------------------------------------------------------------

const s32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const u32 = (v: bigint): number => Number(BigInt.asUintN(32, v));
const hex = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;

/** strace-like quoted string: printable ASCII kept, the rest escaped. */
export function quote(b: Buffer, truncated: boolean): string {
  return st.quoteBytes(b) + (truncated ? '...' : '');
}

/** A NUL-terminated string item (its NUL, if present, dropped). */
function cstr(b: Buffer): Buffer {
  const nul = b.indexOf(0);
  return nul >= 0 ? b.subarray(0, nul) : b;
}

/** A structure argument: decoded when its copy is there and whole, else the pointer. */
function structArg(
  v: bigint,
  item: Buffer | undefined,
  decode: (b: Buffer) => string | undefined,
): string {
  if (v === 0n) return 'NULL';
  return (item && decode(item)) ?? hex(v);
}

export function formatArg(
  kind: ArgKind,
  v: bigint,
  item?: Buffer,
  truncated = false,
  syscall = '',
): string {
  switch (kind) {
    case 'int':
    case 'fd':
      return String(s32(v));
    case 'uint':
      return String(u32(v));
    case 'long':
      return String(BigInt.asIntN(64, v));
    case 'ulong':
      return String(BigInt.asUintN(64, v));
    case 'dirfd':
      return s32(v) === -100 ? 'AT_FDCWD' : String(s32(v));
    case 'str':
      if (v === 0n) return 'NULL';
      return item ? quote(cstr(item), truncated) : hex(v);
    case 'buf':
      if (v === 0n) return 'NULL';
      // the first STRSIZE bytes, as strace -s 64 (paths, `str`, are whole, as strace has them)
      if (!item) return hex(v);
      return quote(item.subarray(0, STRSIZE), truncated || item.length > STRSIZE);
    case 'argv': {
      if (v === 0n) return 'NULL';
      if (!item) return hex(v);
      const parts = splitNulStrings(item).map((a) => quote(Buffer.from(a, 'latin1'), false));
      return `[${parts.join(', ')}${truncated ? ', ...' : ''}]`;
    }
    case 'ptr':
      return v === 0n ? 'NULL' : hex(v);
    case 'mode':
      return modeString(u32(v));
    case 'oflags':
      return openFlags(u32(v));
    case 'atflags':
      return st.flagNames(u32(v), AT_FLAGS, '0');
    case 'prot':
      return st.flagNames(u32(v), PROT, 'PROT_NONE');
    case 'mmapflags': {
      const f = u32(v);
      const rest = st.flagNames(f & ~3, MAP_FLAGS, '');
      return [MAP_TYPES[f & 3], rest].filter(Boolean).join('|');
    }
    case 'signal':
      return signalName(s32(v));
    case 'whence':
      return WHENCE[u32(v)] ?? String(u32(v));
    case 'fcntl':
      return FCNTL[u32(v)] ?? String(u32(v));
    case 'ioctl':
      return IOCTL[u32(v)] ?? `0x${u32(v).toString(16)}`;
    case 'sockdomain':
      return st.sockDomain(s32(v));
    case 'socktype':
      return st.sockType(u32(v));
    case 'sockproto':
      return String(s32(v)); // named with its domain by formatParams
    case 'cloneflags':
      return st.cloneFlags(u32(v));
    case 'madvise':
      return st.madvise(s32(v));
    case 'clockid':
      return st.clockId(s32(v));
    case 'rlimitres':
      return st.rlimitResource(u32(v));
    case 'epollop':
      return st.epollOp(s32(v));
    case 'epollflags':
      return st.epollFlags(u32(v));
    case 'sockaddr':
      return structArg(v, item, st.sockaddr);
    case 'timespec':
      return structArg(v, item, st.timespec);
    case 'rlimit':
      return structArg(v, item, (b) =>
        st.rlimit(b, syscall === 'prlimit64' ? 'RLIM64_INFINITY' : 'RLIM_INFINITY'),
      );
    case 'utsname':
      return structArg(v, item, st.utsname);
    case 'stat':
      return structArg(v, item, st.stat);
    case 'sigaction':
      return structArg(v, item, st.sigaction);
    case 'epollevent':
      return structArg(v, item, st.epollEvent);
    case 'statxflags':
      return st.statxFlags(u32(v), (rest) => st.flagNames(rest, AT_FLAGS, '0'));
    case 'statxmask':
      return st.statxMask(u32(v));
    case 'statx':
      return structArg(v, item, st.statx);
    // copied by a mode (buffers.ts decodes them with their record); alone, the pointer
    case 'iovec':
    case 'pollfd':
    case 'epollevents':
    case 'sigset':
      return v === 0n ? 'NULL' : hex(v);
    case 'ioctlarg':
      return String(BigInt.asUintN(64, v));
    case 'sighow':
      return st.sigHow(s32(v));
    case 'fdpair':
      return structArg(v, item, st.fdPair);
    case 'pipeflags':
      return st.pipeFlags(u32(v));
    case 'hexbuf':
      if (v === 0n) return 'NULL';
      if (!item) return hex(v);
      return (
        `"${[...item.subarray(0, STRSIZE)].map((c) => `\\x${c.toString(16).padStart(2, '0')}`).join('')}"` +
        (truncated || item.length > STRSIZE ? '...' : '')
      );
    case 'wstatus':
      return structArg(v, item, st.wstatus);
    case 'msghdr':
      return v === 0n ? 'NULL' : hex(v);
    case 'msgflags':
      return st.msgFlags(u32(v));
    case 'sockoptval':
      // an int option as strace prints it; other sizes (a struct, a string): the pointer
      if (v === 0n) return 'NULL';
      return item?.length === 4 ? `[${item.readInt32LE(0)}]` : hex(v);
  }
}

/** The decoded parameters of a syscall record, strace style: `AT_FDCWD, "/etc/passwd", O_RDONLY`. */
export function formatParams(r: TraceRecord): string {
  if (r.kind === 'signal') return signalParams(r);
  if (r.kind === 'exit') return exitText(Number(r.ret));
  const d = syscallByNr(r.nr);
  if (!d?.args) return r.args.map(hex).join(', ');
  const moded =
    modeParams(d, r, (i) => formatArg(d.args![i]?.[1] ?? 'long', r.args[i] ?? 0n)) ??
    nrParams(d, r);
  if (moded !== undefined) return moded;
  const named = namedParams(d.name, r.args, (i) => {
    // a copied buffer (getrandom's output) when it holds data
    const idx = d.items.indexOf(i);
    const ok = idx >= 0 && (d.buffer?.[0] !== i || outputBufferValid(d, r));
    const kind = d.args![i]?.[1] ?? 'long';
    return formatArg(
      kind,
      r.args[i] ?? 0n,
      ok ? r.items[idx] : undefined,
      r.truncated[idx] ?? false,
    );
  });
  if (named !== undefined) return named;
  let args = d.args;
  // like strace: open's mode only when a file may be created
  if (d.name === 'open' || d.name === 'openat') {
    const flags = u32(r.args[d.name === 'open' ? 1 : 2] ?? 0n);
    if (!(flags & O_CREAT) && (flags & O_TMPFILE) !== O_TMPFILE) args = args.slice(0, -1);
  }
  if (d.name === 'clone') return st.cloneParams(r.args);
  return args
    .map(([, kind], i) => {
      const itemIdx = d.items.indexOf(i);
      const item = itemIdx >= 0 ? r.items[itemIdx] : undefined;
      // output buffers and structures (read, stat, uname) hold data only when the call succeeded
      let bufOk = d.buffer?.[0] !== i || outputBufferValid(d, r);
      // a structure whose copy is not its size was cut or rewritten (redaction): its fields
      // would be read at the wrong offsets, so it is shown as the pointer
      const size = d.buffer?.[0] === i ? d.buffer[2] : undefined;
      if (size && item && item.length !== size) bufOk = false;
      if (kind === 'sockaddr' && item) {
        const want = Math.min(
          Number(BigInt.asUintN(32, r.args[d.buffer?.[1] ?? 2] ?? 0n)),
          DATA_SIZE,
        );
        // a unix path is text: shown redacted; an address's bytes are not
        if (item.length !== want && (item.length < 2 || item.readUInt16LE(0) !== 1)) bufOk = false;
      }
      if (kind === 'sockproto') return st.sockProto(s32(r.args[0] ?? 0n), s32(r.args[i] ?? 0n));
      return formatArg(
        kind,
        r.args[i] ?? 0n,
        bufOk ? item : undefined,
        r.truncated[itemIdx] ?? false,
        d.name,
      );
    })
    .join(', ');
}

function outputBufferValid(d: SyscallDef, r: TraceRecord): boolean {
  if (!d.buffer) return true;
  // input buffer (write: its length is an argument) or input structure (-2: nanosleep's timespec)
  if (d.buffer[1] >= 0 || d.buffer[1] === -2) return true;
  // a wait status is written only when a child was reaped (WNOHANG's 0: nothing)
  if (d.args?.[d.buffer[0]]?.[1] === 'wstatus') return r.ret !== null && r.ret > 0n;
  return r.ret !== null && r.ret >= 0n;
}

function signalParams(r: TraceRecord): string {
  const sig = r.nr;
  const code = s32(r.args[0] ?? 0n);
  const parts = [`si_signo=${signalName(sig)}`, `si_code=${siCode(sig, code)}`];
  if (FAULT_SIGNALS.has(sig)) {
    const addr = r.args[2] ?? 0n;
    parts.push(`si_addr=${addr === 0n ? 'NULL' : hex(addr)}`);
  } else if (code <= 0) {
    parts.push(`si_pid=${s32(r.args[3] ?? 0n)}`);
  }
  const handler = r.args[4] ?? 0n;
  let action: string;
  if (handler === 1n) action = 'ignored';
  else if (handler !== 0n) action = 'handled';
  else if (DEFAULT_IGNORE.has(sig)) action = 'ignored (default)';
  else if (DEFAULT_STOP.has(sig)) action = 'stops the process';
  else action = CORE_SIGNALS.has(sig) ? 'fatal, core dump' : 'fatal';
  return `{${parts.join(', ')}} ${action}`;
}

/** A wait(2) status as text: "exited with 3" / "killed by SIGSEGV (core dumped)". */
export function exitText(status: number): string {
  const sig = status & 0x7f;
  if (sig === 0) return `exited with ${(status >> 8) & 0xff}`;
  return `killed by ${signalName(sig)}${status & 0x80 ? ' (core dumped)' : ''}`;
}

/** Exit code as a shell reports it: the code, or 128 + the signal. */
export function exitCode(status: number): number {
  const sig = status & 0x7f;
  return sig === 0 ? (status >> 8) & 0xff : 128 + sig;
}

export function recordName(r: TraceRecord): string {
  if (r.kind === 'signal') return `--- ${signalName(r.nr)}`;
  if (r.kind === 'exit') return '+++ exit';
  return syscallName(r.nr);
}

/** ns from entry to exit of a returned syscall recorded with --durations; null otherwise. */
export function durationNs(r: TraceRecord): bigint | null {
  if (r.kind !== 'syscall' || r.ret === null || r.exitTs === 0n || r.exitTs < r.ts) return null;
  return r.exitTs - r.ts;
}

/** A duration as strace -T prints it: `<0.000123>` (seconds, microseconds truncated). */
export function durationText(ns: bigint): string {
  const us = ns / 1000n;
  return `<${us / 1_000_000n}.${String(us % 1_000_000n).padStart(6, '0')}>`;
}

/**
 * RET column text: the value, an errno name for errors, `?` when it did not (yet) return; the
 * duration after it when recorded (strace -T).
 */
export function retText(r: TraceRecord): string {
  if (r.kind === 'signal') return '';
  if (r.kind === 'exit') return String(exitCode(Number(r.ret)));
  if (r.ret === null) return r.noReturn ? '?' : '? (unfinished)';
  const d = syscallByNr(r.nr);
  // poll's revents, fcntl's flags: what strace prints with the result
  const text = errorName(r) || retDetail(d, r) || (d?.returnsPointer ? hex(r.ret) : String(r.ret));
  const ns = durationNs(r);
  return ns === null ? text : `${text} ${durationText(ns)}`;
}

export function errorName(r: TraceRecord): string {
  if (r.kind !== 'syscall' || r.ret === null) return '';
  if (r.ret < 0n && r.ret >= -4095n) {
    const d = syscallByNr(r.nr);
    if (d?.returnsPointer && r.ret < -4095n) return '';
    return errnoName(Number(r.ret));
  }
  return '';
}

/** The record as the `-o json` object (and the row the table prints). */
export function recordObject(r: TraceRecord, bootToWallNs: bigint): Record<string, unknown> {
  const syscall =
    r.kind === 'signal' ? signalName(r.nr) : r.kind === 'exit' ? 'exit' : syscallName(r.nr);
  let ret: number | null;
  if (r.kind === 'exit') ret = exitCode(Number(r.ret));
  else if (r.kind === 'signal') ret = 0;
  else ret = r.ret === null ? null : Number(r.ret);
  const ns = durationNs(r);
  return {
    timestamp: r.ts + bootToWallNs,
    kind: r.kind,
    cpu: r.cpu,
    pid: r.pid,
    tid: r.tid,
    comm: r.comm,
    syscall,
    params: formatParams(r),
    ret,
    error: errorName(r),
    // recorded with --durations only
    ...(ns === null ? {} : { duration_ns: Number(ns) }),
  };
}

/** Decodes bytes as text for callers that want the raw data of an item. */
export function itemText(b: Buffer): string {
  return decodeBytes(b, 0, cstr(b).length);
}
