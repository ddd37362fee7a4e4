// Arguments whose meaning depends on the call, printed as strace prints them (found by the strace
// parity test, gadgets/traceloop/parity.e2e.test.ts): fcntl's third argument by command, prctl's
// and arch_prctl's options, rseq's length and signature in hex, the flag words of getrandom,
// shutdown and wait4, and setsockopt's level, option and int value.

import { openFlagNames } from '../framework/linux.js';
import { signalName } from './signals.js';
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

/** prctl options strace prints alone (they take no argument) */
const PRCTL_ALONE = new Set([3, 7, 21]); // PR_GET_DUMPABLE PR_GET_KEEPCAPS PR_GET_SECCOMP
/** prctl options strace prints with their one argument, a number */
const PRCTL_ONE = new Set([8, 36]); // PR_SET_KEEPCAPS PR_SET_CHILD_SUBREAPER
const SUID_DUMP = ['SUID_DUMP_DISABLE', 'SUID_DUMP_USER', 'SUID_DUMP_ROOT'];

/** prctl's result when strace names it: PR_GET_DUMPABLE's `1 (SUID_DUMP_USER)`. */
export function prctlRet(option: number, ret: bigint): string | undefined {
  if (option !== 3) return undefined;
  const name = SUID_DUMP[Number(ret)];
  return name ? `${ret} (${name})` : undefined;
}

// setsockopt/getsockopt levels, and the options of the common ones (strace's names)
const SOL: Record<number, string> = {
  0: 'SOL_IP',
  1: 'SOL_SOCKET',
  6: 'SOL_TCP',
  17: 'SOL_UDP',
  41: 'SOL_IPV6',
  255: 'SOL_RAW',
  263: 'SOL_PACKET',
  270: 'SOL_NETLINK',
};
const SO: Record<number, Record<number, string>> = {
  1: {
    1: 'SO_DEBUG',
    2: 'SO_REUSEADDR',
    3: 'SO_TYPE',
    4: 'SO_ERROR',
    5: 'SO_DONTROUTE',
    6: 'SO_BROADCAST',
    7: 'SO_SNDBUF',
    8: 'SO_RCVBUF',
    9: 'SO_KEEPALIVE',
    10: 'SO_OOBINLINE',
    12: 'SO_PRIORITY',
    13: 'SO_LINGER',
    15: 'SO_REUSEPORT',
    16: 'SO_PASSCRED',
    17: 'SO_PEERCRED',
    18: 'SO_RCVLOWAT',
    19: 'SO_SNDLOWAT',
    20: 'SO_RCVTIMEO_OLD',
    21: 'SO_SNDTIMEO_OLD',
    25: 'SO_BINDTODEVICE',
    30: 'SO_ACCEPTCONN',
    32: 'SO_SNDBUFFORCE',
    33: 'SO_RCVBUFFORCE',
    36: 'SO_MARK',
    38: 'SO_PROTOCOL',
    39: 'SO_DOMAIN',
  },
  0: {
    1: 'IP_TOS',
    2: 'IP_TTL',
    3: 'IP_HDRINCL',
    8: 'IP_PKTINFO',
    10: 'IP_MTU_DISCOVER',
    11: 'IP_RECVERR',
    15: 'IP_FREEBIND',
    19: 'IP_TRANSPARENT',
    24: 'IP_BIND_ADDRESS_NO_PORT',
  },
  6: {
    1: 'TCP_NODELAY',
    2: 'TCP_MAXSEG',
    3: 'TCP_CORK',
    4: 'TCP_KEEPIDLE',
    5: 'TCP_KEEPINTVL',
    6: 'TCP_KEEPCNT',
    9: 'TCP_DEFER_ACCEPT',
    12: 'TCP_QUICKACK',
    13: 'TCP_CONGESTION',
    18: 'TCP_USER_TIMEOUT',
    23: 'TCP_FASTOPEN',
  },
  41: {
    16: 'IPV6_UNICAST_HOPS',
    25: 'IPV6_RECVERR',
    26: 'IPV6_V6ONLY',
    67: 'IPV6_TCLASS',
  },
};

/** A socket option's level and name: `SOL_SOCKET, SO_REUSEADDR`; unknown levels as strace. */
export function sockOpt(level: number, name: number): string {
  const l = SOL[level] ?? `0x${(level >>> 0).toString(16)} /* SOL_?? */`;
  return `${l}, ${SO[level]?.[name] ?? String(name)}`;
}

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
      // the task's name: buffers.ts prints the copied string; here only when there is none
      if (opt === 15 || opt === 16) return `${optName}, ${a(1) === 0n ? 'NULL' : hex(a(1))}`;
      if (PRCTL_ALONE.has(opt)) return optName;
      if (PRCTL_ONE.has(opt)) return `${optName}, ${BigInt.asUintN(64, a(1))}`;
      if (opt === 1) return `${optName}, ${signalName(s32(a(1)))}`; // PR_SET_PDEATHSIG
      if (opt === 4) return `${optName}, ${SUID_DUMP[u32(a(1))] ?? String(u32(a(1)))}`;
      return [optName, ...args.slice(1, 5).map((v) => String(BigInt.asUintN(64, v)))].join(', ');
    }
    case 'rseq':
      return `${fmt(0)}, ${hex(a(1))}, ${s32(a(2))}, ${hex(BigInt.asUintN(32, a(3)))}`;
    case 'getrandom':
      return `${fmt(0)}, ${fmt(1)}, ${flagNames(u32(a(2)), GRND, '0')}`;
    case 'shutdown':
      return `${fmt(0)}, ${SHUT[u32(a(1))] ?? String(s32(a(1)))}`;
    case 'setsockopt':
      // the value: [int] when copied whole (buffers.ts / format.ts `sockoptval`), else the pointer
      return `${fmt(0)}, ${sockOpt(s32(a(1)), s32(a(2)))}, ${fmt(3)}, ${fmt(4)}`;
    case 'getsockopt':
      return `${fmt(0)}, ${sockOpt(s32(a(1)), s32(a(2)))}, ${fmt(3)}, ${fmt(4)}`;
    case 'wait4':
      return `${fmt(0)}, ${fmt(1)}, ${flagNames(u32(a(2)), WAIT, '0')}, ${fmt(3)}`;
    default:
      return undefined;
  }
}
