// Arguments whose meaning depends on the call, printed as strace prints them (found by the strace
// parity test, gadgets/traceloop/parity.e2e.test.ts): fcntl's third argument by command, prctl's
// and arch_prctl's options, rseq's length and signature in hex, and the flag words of getrandom,
// shutdown and wait4.

import { openFlagNames } from '../framework/linux.js';
import { flagNames } from './structs.js';

const hex = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;
const s32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const u32 = (v: bigint): number => Number(BigInt.asUintN(32, v));

/** strace's order of the open flags after the access mode (its xlat table's order). */
const OPEN_ORDER = [
  'O_CREAT',
  'O_EXCL',
  'O_NOCTTY',
  'O_TRUNC',
  'O_APPEND',
  'O_NONBLOCK',
  'O_SYNC',
  'O_DSYNC',
  'O_DIRECT',
  'O_LARGEFILE',
  'O_NOFOLLOW',
  'O_NOATIME',
  'O_CLOEXEC',
  'O_PATH',
  'O_TMPFILE',
  'O_DIRECTORY',
  'FASYNC',
];

/** Open flags as strace writes them: `O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY`. */
export function openFlags(flags: number): string {
  const [mode, ...rest] = openFlagNames(flags).map((n) => (n === 'O_ASYNC' ? 'FASYNC' : n));
  const set = new Set(rest);
  // O_SYNC is __O_SYNC|O_DSYNC, O_TMPFILE is __O_TMPFILE|O_DIRECTORY: strace names the whole
  if (set.has('O_SYNC')) set.delete('O_DSYNC');
  if (set.has('O_TMPFILE')) set.delete('O_DIRECTORY');
  const rank = (n: string): number => {
    const i = OPEN_ORDER.indexOf(n);
    return i < 0 ? OPEN_ORDER.length : i; // unknown bits (hex) last
  };
  return [mode, ...[...set].sort((a, b) => rank(a) - rank(b))].join('|');
}

const ARCH_PRCTL: Record<number, string> = {
  0x1001: 'ARCH_SET_GS',
  0x1002: 'ARCH_SET_FS',
  0x1003: 'ARCH_GET_FS',
  0x1004: 'ARCH_GET_GS',
  0x1011: 'ARCH_GET_CPUID',
  0x1012: 'ARCH_SET_CPUID',
};
const GRND: Array<[number, string]> = [
  [1, 'GRND_NONBLOCK'],
  [2, 'GRND_RANDOM'],
  [4, 'GRND_INSECURE'],
];
const SHUT = ['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'];
const WAIT: Array<[number, string]> = [
  [1, 'WNOHANG'],
  [2, 'WSTOPPED'],
  [4, 'WEXITED'],
  [8, 'WCONTINUED'],
  [0x1000000, 'WNOWAIT'],
  [0x20000000, '__WNOTHREAD'],
  [0x40000000, '__WALL'],
  [0x80000000, '__WCLONE'],
];
/** wait4 says WUNTRACED for the bit waitid calls WSTOPPED */
const WAIT4 = WAIT.map(([b, n]): [number, string] => [b, b === 2 ? 'WUNTRACED' : n]);
const PRCTL: Record<number, string> = {
  1: 'PR_SET_PDEATHSIG',
  2: 'PR_GET_PDEATHSIG',
  3: 'PR_GET_DUMPABLE',
  4: 'PR_SET_DUMPABLE',
  7: 'PR_GET_KEEPCAPS',
  8: 'PR_SET_KEEPCAPS',
  15: 'PR_SET_NAME',
  16: 'PR_GET_NAME',
  21: 'PR_GET_SECCOMP',
  22: 'PR_SET_SECCOMP',
  23: 'PR_CAPBSET_READ',
  24: 'PR_CAPBSET_DROP',
  35: 'PR_SET_MM',
  36: 'PR_SET_CHILD_SUBREAPER',
  37: 'PR_GET_CHILD_SUBREAPER',
  38: 'PR_SET_NO_NEW_PRIVS',
  39: 'PR_GET_NO_NEW_PRIVS',
  41: 'PR_SET_THP_DISABLE',
  42: 'PR_GET_THP_DISABLE',
  47: 'PR_CAP_AMBIENT',
  0x53564d41: 'PR_SET_VMA',
};

export const prctlOption = (opt: number): string => PRCTL[opt] ?? String(opt);

/** fcntl commands whose third argument strace does not print */
const FCNTL_NO_ARG = new Set([1, 3, 9, 1025, 1032, 1034]); // F_GETFD F_GETFL F_GETOWN F_GETLEASE F_GETPIPE_SZ F_GET_SEALS

/**
 * The parameters of calls whose arguments are named by another argument, as strace prints them;
 * undefined for every other call. `fmt(i)` is argument i as the syscall table formats it.
 */
export function namedParams(
  name: string,
  args: bigint[],
  fmt: (i: number) => string,
): string | undefined {
  const a = (i: number): bigint => args[i] ?? 0n;
  switch (name) {
    case 'fcntl': {
      const cmd = u32(a(1));
      if (FCNTL_NO_ARG.has(cmd)) return `${fmt(0)}, ${fmt(1)}`;
      if (cmd === 4) return `${fmt(0)}, ${fmt(1)}, ${openFlags(u32(a(2)))}`; // F_SETFL
      if (cmd === 2) return `${fmt(0)}, ${fmt(1)}, ${u32(a(2)) & 1 ? 'FD_CLOEXEC' : '0'}`; // F_SETFD
      return `${fmt(0)}, ${fmt(1)}, ${s32(a(2))}`;
    }
    case 'arch_prctl': {
      const code = u32(a(0));
      return `${ARCH_PRCTL[code] ?? hex(a(0))}, ${a(1) === 0n ? 'NULL' : hex(a(1))}`;
    }
    case 'prctl': {
      const opt = s32(a(0));
      const optName = PRCTL[opt] ?? String(opt);
      // the task's name: strace prints the string (not copied yet: the pointer)
      if (opt === 15 || opt === 16) return `${optName}, ${a(1) === 0n ? 'NULL' : hex(a(1))}`;
      return [optName, ...args.slice(1, 5).map((v) => String(BigInt.asUintN(64, v)))].join(', ');
    }
    case 'rseq':
      return `${fmt(0)}, ${hex(a(1))}, ${s32(a(2))}, ${hex(BigInt.asUintN(32, a(3)))}`;
    case 'getrandom':
      return `${fmt(0)}, ${fmt(1)}, ${flagNames(u32(a(2)), GRND, '0')}`;
    case 'shutdown':
      return `${fmt(0)}, ${SHUT[u32(a(1))] ?? String(s32(a(1)))}`;
    case 'wait4':
      return `${fmt(0)}, ${fmt(1)}, ${flagNames(u32(a(2)), WAIT4, '0')}, ${fmt(3)}`;
    default:
      return undefined;
  }
}
