// strace-style text of the structures and named numbers traceloop records (x86-64 layouts). The
// kernel copies a structure whole (gen-syscalls.mjs: STRUCTS, sockaddrs by their length argument);
// a copy shorter than its layout (a failed read, redaction) is shown as the pointer by the caller.

import { signalName } from './signals.js';

const hex = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;

export function flagNames(
  v: number,
  table: ReadonlyArray<readonly [number, string]>,
  zero: string,
): string {
  if (v === 0) return zero;
  const out: string[] = [];
  let rest = v >>> 0;
  for (const [bit, name] of table) {
    if ((rest & bit) >>> 0 === bit >>> 0 && bit !== 0) {
      out.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out.join('|');
}

// ---- sockets -----------------------------------------------------------------------------------

const AF: Record<number, string> = {
  0: 'AF_UNSPEC',
  1: 'AF_UNIX',
  2: 'AF_INET',
  4: 'AF_IPX',
  5: 'AF_APPLETALK',
  10: 'AF_INET6',
  15: 'AF_KEY',
  16: 'AF_NETLINK',
  17: 'AF_PACKET',
  29: 'AF_CAN',
  31: 'AF_BLUETOOTH',
  38: 'AF_ALG',
  40: 'AF_VSOCK',
  44: 'AF_XDP',
};
export const sockDomain = (v: number): string => AF[v] ?? String(v);

const SOCK_TYPES: Record<number, string> = {
  1: 'SOCK_STREAM',
  2: 'SOCK_DGRAM',
  3: 'SOCK_RAW',
  4: 'SOCK_RDM',
  5: 'SOCK_SEQPACKET',
  6: 'SOCK_DCCP',
  10: 'SOCK_PACKET',
};
export function sockType(v: number): string {
  const t = v & 0xf;
  const parts = [SOCK_TYPES[t] ?? String(t)];
  const flags = flagNames(
    v & ~0xf,
    [
      [0x80000, 'SOCK_CLOEXEC'],
      [0x800, 'SOCK_NONBLOCK'],
    ],
    '',
  );
  if (flags) parts.push(flags);
  return parts.join('|');
}

const IPPROTO: Record<number, string> = {
  0: 'IPPROTO_IP',
  1: 'IPPROTO_ICMP',
  2: 'IPPROTO_IGMP',
  6: 'IPPROTO_TCP',
  17: 'IPPROTO_UDP',
  41: 'IPPROTO_IPV6',
  58: 'IPPROTO_ICMPV6',
  132: 'IPPROTO_SCTP',
  136: 'IPPROTO_UDPLITE',
  255: 'IPPROTO_RAW',
  262: 'IPPROTO_MPTCP',
};
const NETLINK: Record<number, string> = {
  0: 'NETLINK_ROUTE',
  4: 'NETLINK_SOCK_DIAG',
  6: 'NETLINK_XFRM',
  7: 'NETLINK_SELINUX',
  9: 'NETLINK_AUDIT',
  12: 'NETLINK_NETFILTER',
  15: 'NETLINK_KOBJECT_UEVENT',
  16: 'NETLINK_GENERIC',
};
const ETH_P: Record<number, string> = {
  0x0003: 'ETH_P_ALL',
  0x0800: 'ETH_P_IP',
  0x0806: 'ETH_P_ARP',
  0x86dd: 'ETH_P_IPV6',
};
/** socket(2)'s protocol, which the domain gives its meaning (AF_PACKET: an ethertype, network order). */
export function sockProto(domain: number, v: number): string {
  if (domain === 2 || domain === 10) return IPPROTO[v] ?? String(v);
  if (domain === 16) return NETLINK[v] ?? String(v);
  if (domain === 17) {
    const host = ((v & 0xff) << 8) | ((v >> 8) & 0xff);
    return `htons(${ETH_P[host] ?? `0x${host.toString(16)}`})`;
  }
  return String(v);
}

function ipv6(b: Buffer): string {
  // ::ffff:a.b.c.d as inet_ntop writes it (the URL parser would give ::ffff:a0b:c0d)
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${[...b.subarray(12, 16)].join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // RFC 5952 text (the longest run of zero groups as ::), as the WHATWG URL parser serialises it
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** A sockaddr of `b.length` bytes (the length argument, capped by the copy). */
export function sockaddr(b: Buffer): string | undefined {
  if (b.length < 2) return undefined;
  const fam = b.readUInt16LE(0);
  const head = `sa_family=${sockDomain(fam)}`;
  if (fam === 1) {
    if (b.length === 2) return `{${head}}`;
    if (b[2] === 0) return `{${head}, sun_path=@${quoteBytes(b.subarray(3))}}`;
    const nul = b.indexOf(0, 2);
    return `{${head}, sun_path=${quoteBytes(b.subarray(2, nul >= 0 ? nul : b.length))}}`;
  }
  if (fam === 2 && b.length >= 8) {
    return `{${head}, sin_port=htons(${b.readUInt16BE(2)}), sin_addr=inet_addr("${[...b.subarray(4, 8)].join('.')}")}`;
  }
  if (fam === 10 && b.length >= 24) {
    const scope = b.length >= 28 ? `, sin6_scope_id=${b.readUInt32LE(24)}` : '';
    return (
      `{${head}, sin6_port=htons(${b.readUInt16BE(2)}), sin6_flowinfo=htonl(${b.readUInt32BE(4)}), ` +
      `inet_pton(AF_INET6, "${ipv6(b.subarray(8, 24))}", &sin6_addr)${scope}}`
    );
  }
  if (fam === 16 && b.length >= 12) {
    const g = b.readUInt32LE(8);
    const groups = g === 0 ? '00000000' : `0x${g.toString(16).padStart(6, '0')}`;
    return `{${head}, nl_pid=${b.readUInt32LE(4)}, nl_groups=${groups}}`;
  }
  return `{${head}, sa_data=${quoteBytes(b.subarray(2))}}`;
}

// ---- time, limits, identity --------------------------------------------------------------------

export function timespec(b: Buffer): string | undefined {
  if (b.length < 16) return undefined;
  return `{tv_sec=${b.readBigInt64LE(0)}, tv_nsec=${b.readBigInt64LE(8)}}`;
}

const CLOCKS = [
  'CLOCK_REALTIME',
  'CLOCK_MONOTONIC',
  'CLOCK_PROCESS_CPUTIME_ID',
  'CLOCK_THREAD_CPUTIME_ID',
  'CLOCK_MONOTONIC_RAW',
  'CLOCK_REALTIME_COARSE',
  'CLOCK_MONOTONIC_COARSE',
  'CLOCK_BOOTTIME',
  'CLOCK_REALTIME_ALARM',
  'CLOCK_BOOTTIME_ALARM',
  '10',
  'CLOCK_TAI',
];
export const clockId = (v: number): string => (v >= 0 && CLOCKS[v]) || String(v);

const RLIMITS = [
  'RLIMIT_CPU',
  'RLIMIT_FSIZE',
  'RLIMIT_DATA',
  'RLIMIT_STACK',
  'RLIMIT_CORE',
  'RLIMIT_RSS',
  'RLIMIT_NPROC',
  'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK',
  'RLIMIT_AS',
  'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
];
export const rlimitResource = (v: number): string => RLIMITS[v] ?? String(v);

/** `infinity`: RLIM64_INFINITY (prlimit64) or RLIM_INFINITY (getrlimit, setrlimit). */
export function rlimit(b: Buffer, infinity: string): string | undefined {
  if (b.length < 16) return undefined;
  const lim = (v: bigint): string => {
    if (v === 0xffffffffffffffffn) return infinity;
    // strace: whole KiB as N*1024
    return v > 1024n && v % 1024n === 0n ? `${v / 1024n}*1024` : String(v);
  };
  return `{rlim_cur=${lim(b.readBigUInt64LE(0))}, rlim_max=${lim(b.readBigUInt64LE(8))}}`;
}

/** struct utsname (65-byte fields): sysname and nodename, the rest elided as strace does. */
export function utsname(b: Buffer): string | undefined {
  if (b.length < 130) return undefined;
  const field = (off: number): string => {
    const f = b.subarray(off, off + 65);
    const nul = f.indexOf(0);
    return quoteBytes(f.subarray(0, nul >= 0 ? nul : f.length));
  };
  return `{sysname=${field(0)}, nodename=${field(65)}, ...}`;
}

// ---- files -------------------------------------------------------------------------------------

const S_IFMT: Record<number, string> = {
  0o140000: 'S_IFSOCK',
  0o120000: 'S_IFLNK',
  0o100000: 'S_IFREG',
  0o060000: 'S_IFBLK',
  0o040000: 'S_IFDIR',
  0o020000: 'S_IFCHR',
  0o010000: 'S_IFIFO',
};
/** st_mode as strace prints it: S_IFDIR|S_ISVTX|0777. */
export function fileMode(m: number): string {
  const parts: string[] = [];
  const fmt = m & 0o170000;
  if (fmt) parts.push(S_IFMT[fmt] ?? `0${fmt.toString(8)}`);
  if (m & 0o4000) parts.push('S_ISUID');
  if (m & 0o2000) parts.push('S_ISGID');
  if (m & 0o1000) parts.push('S_ISVTX');
  parts.push('0' + (m & 0o777).toString(8).padStart(3, '0'));
  return parts.join('|');
}

/** struct stat (x86-64, 144 bytes): mode, then rdev for devices or size for the rest. */
export function stat(b: Buffer): string | undefined {
  if (b.length < 144) return undefined;
  const mode = b.readUInt32LE(24);
  const fmt = mode & 0o170000;
  let second: string;
  if (fmt === 0o020000 || fmt === 0o060000) {
    const dev = b.readBigUInt64LE(40);
    const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
    const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
    second = `st_rdev=makedev(0x${major.toString(16)}, 0x${minor.toString(16)})`;
  } else {
    second = `st_size=${b.readBigInt64LE(48)}`;
  }
  return `{st_mode=${fileMode(mode)}, ${second}, ...}`;
}

const STATX_MASK: ReadonlyArray<readonly [number, string]> = [
  [0xfff, 'STATX_ALL'],
  [0x7ff, 'STATX_BASIC_STATS'],
  [0x1, 'STATX_TYPE'],
  [0x2, 'STATX_MODE'],
  [0x4, 'STATX_NLINK'],
  [0x8, 'STATX_UID'],
  [0x10, 'STATX_GID'],
  [0x20, 'STATX_ATIME'],
  [0x40, 'STATX_MTIME'],
  [0x80, 'STATX_CTIME'],
  [0x100, 'STATX_INO'],
  [0x200, 'STATX_SIZE'],
  [0x400, 'STATX_BLOCKS'],
  [0x800, 'STATX_BTIME'],
  [0x1000, 'STATX_MNT_ID'],
  [0x2000, 'STATX_DIOALIGN'],
  [0x4000, 'STATX_MNT_ID_UNIQUE'],
  [0x8000, 'STATX_SUBVOL'],
  [0x10000, 'STATX_WRITE_ATOMIC'],
  [0x20000, 'STATX_DIO_READ_ALIGN'],
];
export const statxMask = (v: number): string => flagNames(v, STATX_MASK, '0');

const STATX_SYNC = ['AT_STATX_SYNC_AS_STAT', 'AT_STATX_FORCE_SYNC', 'AT_STATX_DONT_SYNC', '0x6000'];
/** statx's flags: the sync type (always named, AT_STATX_SYNC_AS_STAT being 0), then AT_* flags. */
export function statxFlags(v: number, atFlags: (rest: number) => string): string {
  const rest = v & ~0x6000;
  return [STATX_SYNC[(v >> 13) & 3]!, ...(rest ? [atFlags(rest)] : [])].join('|');
}

/** struct statx (256 bytes): mask, attributes, mode, size (strace's default). */
export function statx(b: Buffer): string | undefined {
  if (b.length < 256) return undefined;
  return (
    `{stx_mask=${statxMask(b.readUInt32LE(0))}, stx_attributes=${attrs(b.readBigUInt64LE(8))}, ` +
    `stx_mode=${fileMode(b.readUInt16LE(28))}, stx_size=${b.readBigUInt64LE(40)}, ...}`
  );
}

const STATX_ATTRS: ReadonlyArray<readonly [number, string]> = [
  [0x4, 'STATX_ATTR_COMPRESSED'],
  [0x10, 'STATX_ATTR_IMMUTABLE'],
  [0x20, 'STATX_ATTR_APPEND'],
  [0x40, 'STATX_ATTR_NODUMP'],
  [0x800, 'STATX_ATTR_ENCRYPTED'],
  [0x1000, 'STATX_ATTR_AUTOMOUNT'],
  [0x2000, 'STATX_ATTR_MOUNT_ROOT'],
  [0x100000, 'STATX_ATTR_VERITY'],
  [0x200000, 'STATX_ATTR_DAX'],
  [0x400000, 'STATX_ATTR_WRITE_ATOMIC'],
];
function attrs(v: bigint): string {
  const lo = Number(v & 0xffffffffn);
  const hi = v >> 32n;
  const f = flagNames(lo, STATX_ATTRS, '0');
  return hi ? `${lo ? f + '|' : ''}${hex(hi << 32n)}` : f;
}

// ---- signals -----------------------------------------------------------------------------------

const SA_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x04000000, 'SA_RESTORER'],
  [0x08000000, 'SA_ONSTACK'],
  [0x10000000, 'SA_RESTART'],
  [0x40000000, 'SA_NODEFER'],
  [0x80000000, 'SA_RESETHAND'],
  [0x00000004, 'SA_SIGINFO'],
  [0x00000001, 'SA_NOCLDSTOP'],
  [0x00000002, 'SA_NOCLDWAIT'],
  [0x00000400, 'SA_UNSUPPORTED'],
  [0x00000800, 'SA_EXPOSE_TAGBITS'],
];

/** A 64-signal mask: [HUP INT], or ~[...] when more than half are set (strace's choice). */
export function sigset(mask: bigint): string {
  const names = (set: boolean): string[] => {
    const out: string[] = [];
    for (let s = 1; s <= 64; s++) {
      if ((((mask >> BigInt(s - 1)) & 1n) === 1n) === set)
        out.push(signalName(s).replace(/^SIG/, ''));
    }
    return out;
  };
  let n = 0;
  for (let m = mask; m; m >>= 1n) n += Number(m & 1n);
  return n > 32 ? `~[${names(false).join(' ')}]` : `[${names(true).join(' ')}]`;
}

/** The kernel's struct sigaction (x86-64): handler, flags, restorer, mask. */
export function sigaction(b: Buffer): string | undefined {
  if (b.length < 32) return undefined;
  const h = b.readBigUInt64LE(0);
  const handler = h === 0n ? 'SIG_DFL' : h === 1n ? 'SIG_IGN' : hex(h);
  const flags = b.readBigUInt64LE(8);
  const lo = Number(flags & 0xffffffffn);
  const hi = flags >> 32n;
  let f = flagNames(lo, SA_FLAGS, '0');
  if (hi) f = (lo ? f + '|' : '') + hex(hi << 32n);
  const parts = [
    `sa_handler=${handler}`,
    `sa_mask=${sigset(b.readBigUInt64LE(24))}`,
    `sa_flags=${f}`,
  ];
  if (lo & 0x04000000) parts.push(`sa_restorer=${hex(b.readBigUInt64LE(16))}`);
  return `{${parts.join(', ')}}`;
}

// ---- processes and memory ----------------------------------------------------------------------

const CLONE_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x100, 'CLONE_VM'],
  [0x200, 'CLONE_FS'],
  [0x400, 'CLONE_FILES'],
  [0x800, 'CLONE_SIGHAND'],
  [0x1000, 'CLONE_PIDFD'],
  [0x2000, 'CLONE_PTRACE'],
  [0x4000, 'CLONE_VFORK'],
  [0x8000, 'CLONE_PARENT'],
  [0x10000, 'CLONE_THREAD'],
  [0x20000, 'CLONE_NEWNS'],
  [0x40000, 'CLONE_SYSVSEM'],
  [0x80000, 'CLONE_SETTLS'],
  [0x100000, 'CLONE_PARENT_SETTID'],
  [0x200000, 'CLONE_CHILD_CLEARTID'],
  [0x400000, 'CLONE_DETACHED'],
  [0x800000, 'CLONE_UNTRACED'],
  [0x1000000, 'CLONE_CHILD_SETTID'],
  [0x2000000, 'CLONE_NEWCGROUP'],
  [0x4000000, 'CLONE_NEWUTS'],
  [0x8000000, 'CLONE_NEWIPC'],
  [0x10000000, 'CLONE_NEWUSER'],
  [0x20000000, 'CLONE_NEWPID'],
  [0x40000000, 'CLONE_NEWNET'],
  [0x80000000, 'CLONE_IO'],
];
/** clone's flags: the CLONE_* bits, then the exit signal (low byte) by name. */
export function cloneFlags(v: number): string {
  const parts: string[] = [];
  const f = flagNames(v & ~0xff, CLONE_FLAGS, '');
  if (f) parts.push(f);
  if (v & 0xff || !parts.length) parts.push(v & 0xff ? signalName(v & 0xff) : '0');
  return parts.join('|');
}

/** clone(2) as strace prints it: named arguments, the pointers its flags make meaningful. */
export function cloneParams(args: readonly bigint[]): string {
  const flags = Number(BigInt.asUintN(32, args[0] ?? 0n));
  const ptr = (v: bigint | undefined): string => (!v ? 'NULL' : hex(v));
  const parts = [`child_stack=${ptr(args[1])}`, `flags=${cloneFlags(flags)}`];
  if (flags & 0x100000) parts.push(`parent_tid=${ptr(args[2])}`);
  if (flags & 0x80000) parts.push(`tls=${ptr(args[4])}`);
  if (flags & 0x1200000) parts.push(`child_tidptr=${ptr(args[3])}`);
  return parts.join(', ');
}

const MADV: Record<number, string> = {
  0: 'MADV_NORMAL',
  1: 'MADV_RANDOM',
  2: 'MADV_SEQUENTIAL',
  3: 'MADV_WILLNEED',
  4: 'MADV_DONTNEED',
  8: 'MADV_FREE',
  9: 'MADV_REMOVE',
  10: 'MADV_DONTFORK',
  11: 'MADV_DOFORK',
  12: 'MADV_MERGEABLE',
  13: 'MADV_UNMERGEABLE',
  14: 'MADV_HUGEPAGE',
  15: 'MADV_NOHUGEPAGE',
  16: 'MADV_DONTDUMP',
  17: 'MADV_DODUMP',
  18: 'MADV_WIPEONFORK',
  19: 'MADV_KEEPONFORK',
  20: 'MADV_COLD',
  21: 'MADV_PAGEOUT',
  22: 'MADV_POPULATE_READ',
  23: 'MADV_POPULATE_WRITE',
  24: 'MADV_DONTNEED_LOCKED',
  25: 'MADV_COLLAPSE',
  100: 'MADV_HWPOISON',
  101: 'MADV_SOFT_OFFLINE',
  102: 'MADV_GUARD_INSTALL',
  103: 'MADV_GUARD_REMOVE',
};
export const madvise = (v: number): string => MADV[v] ?? String(v);

// ---- epoll -------------------------------------------------------------------------------------

const EPOLL_EVENTS: ReadonlyArray<readonly [number, string]> = [
  [0x1, 'EPOLLIN'],
  [0x2, 'EPOLLPRI'],
  [0x4, 'EPOLLOUT'],
  [0x8, 'EPOLLERR'],
  [0x10, 'EPOLLHUP'],
  [0x20, 'EPOLLNVAL'],
  [0x40, 'EPOLLRDNORM'],
  [0x80, 'EPOLLRDBAND'],
  [0x100, 'EPOLLWRNORM'],
  [0x200, 'EPOLLWRBAND'],
  [0x400, 'EPOLLMSG'],
  [0x2000, 'EPOLLRDHUP'],
  [0x10000000, 'EPOLLEXCLUSIVE'],
  [0x20000000, 'EPOLLWAKEUP'],
  [0x40000000, 'EPOLLONESHOT'],
  [0x80000000, 'EPOLLET'],
];
const EPOLL_OPS = ['0', 'EPOLL_CTL_ADD', 'EPOLL_CTL_DEL', 'EPOLL_CTL_MOD'];
export const epollOp = (v: number): string => EPOLL_OPS[v] ?? String(v);
export const epollFlags = (v: number): string => flagNames(v, [[0x80000, 'EPOLL_CLOEXEC']], '0');

/** struct epoll_event (packed on x86-64: 12 bytes). */
export function epollEvent(b: Buffer): string | undefined {
  if (b.length < 12) return undefined;
  const data = b.readBigUInt64LE(4);
  return `{events=${flagNames(b.readUInt32LE(0), EPOLL_EVENTS, '0')}, data={u32=${data & 0xffffffffn}, u64=${data}}}`;
}

// ---- strings -----------------------------------------------------------------------------------

const ESCAPES: Record<number, string> = {
  0x09: '\\t',
  0x0a: '\\n',
  0x0b: '\\v',
  0x0c: '\\f',
  0x0d: '\\r',
  0x22: '\\"',
  0x5c: '\\\\',
};

/**
 * strace-like quoted bytes: printable ASCII kept, \t \n \v \f \r \" \\ named, the rest in octal
 * (`\0`, `\177`; three digits when an octal digit follows, as strace writes them).
 */
export function quoteBytes(b: Buffer): string {
  let s = '"';
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    const e = ESCAPES[c];
    if (e) s += e;
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else {
      const next = b[i + 1];
      const wide = next !== undefined && next >= 0x30 && next <= 0x37;
      s += '\\' + (wide ? c.toString(8).padStart(3, '0') : c.toString(8));
    }
  }
  return s + '"';
}

// ---- poll, terminals, signal masks -------------------------------------------------------------

const POLL_EVENTS: ReadonlyArray<readonly [number, string]> = [
  [0x1, 'POLLIN'],
  [0x2, 'POLLPRI'],
  [0x4, 'POLLOUT'],
  [0x8, 'POLLERR'],
  [0x10, 'POLLHUP'],
  [0x20, 'POLLNVAL'],
  [0x40, 'POLLRDNORM'],
  [0x80, 'POLLRDBAND'],
  [0x100, 'POLLWRNORM'],
  [0x200, 'POLLWRBAND'],
  [0x400, 'POLLMSG'],
  [0x1000, 'POLLREMOVE'],
  [0x2000, 'POLLRDHUP'],
];
export const pollEvents = (v: number): string => flagNames(v, POLL_EVENTS, '0');

/**
 * struct pollfd entries (8 bytes each) as strace prints them: the requested `events` (the
 * arguments), or the `revents` of the entries that have some (after the result). `total`: the
 * array's length; entries past the copy show as `...`.
 */
export function pollfds(b: Buffer, total: number, field: 'events' | 'revents'): string {
  const out: string[] = [];
  for (let off = 0; off + 8 <= b.length; off += 8) {
    const v = b.readUInt16LE(off + (field === 'events' ? 4 : 6));
    if (field === 'revents' && v === 0) continue;
    const fd = b.readInt32LE(off);
    // a negative fd is ignored by the kernel: strace leaves its events out
    out.push(fd < 0 && field === 'events' ? `{fd=${fd}}` : `{fd=${fd}, ${field}=${pollEvents(v)}}`);
  }
  if (total > Math.floor(b.length / 8)) out.push('...');
  return `[${out.join(', ')}]`;
}

/** epoll_wait's events: `count` of them ready (the result), the copy holding the first ones. */
export function epollEvents(b: Buffer, count: number): string {
  const out: string[] = [];
  for (let off = 0; off + 12 <= b.length; off += 12)
    out.push(epollEvent(b.subarray(off, off + 12))!);
  if (count > Math.floor(b.length / 12)) out.push('...');
  return `[${out.join(', ')}]`;
}

/** struct winsize (ioctl TIOCGWINSZ, TIOCSWINSZ). */
export function winsize(b: Buffer): string | undefined {
  if (b.length !== 8) return undefined;
  return (
    `{ws_row=${b.readUInt16LE(0)}, ws_col=${b.readUInt16LE(2)}, ` +
    `ws_xpixel=${b.readUInt16LE(4)}, ws_ypixel=${b.readUInt16LE(6)}}`
  );
}

/** A task name (16 bytes with its NUL): cut names as strace shows them, 15 bytes and `...`. */
export function taskName(b: Buffer): string | undefined {
  if (b.length !== 16) return undefined;
  const nul = b.indexOf(0);
  return nul >= 0 ? quoteBytes(b.subarray(0, nul)) : `${quoteBytes(b.subarray(0, 15))}...`;
}

const SIG_HOW = ['SIG_BLOCK', 'SIG_UNBLOCK', 'SIG_SETMASK'];
export const sigHow = (v: number): string => SIG_HOW[v] ?? String(v);

/** The two descriptors pipe, pipe2 and socketpair make: `[3, 4]`. */
export function fdPair(b: Buffer): string | undefined {
  if (b.length !== 8) return undefined;
  return `[${b.readInt32LE(0)}, ${b.readInt32LE(4)}]`;
}

const PIPE_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x80000, 'O_CLOEXEC'],
  [0x4000, 'O_DIRECT'],
  [0x800, 'O_NONBLOCK'],
  [0x80, 'O_NOTIFICATION_PIPE'],
];
export const pipeFlags = (v: number): string => flagNames(v, PIPE_FLAGS, '0');

// ---- iovec -------------------------------------------------------------------------------------

/** The kernel's iovec copy (program.bpf.c read_iov): header, buffer 0, a NUL, buffer 1. */
export const IOV_HDR = 36;
/** Bytes of each buffer copied at most: strace -s 64. */
export const IOV_BUF = 64;

export interface IovCopy {
  bases: bigint[];
  lens: bigint[];
  /** the copied bytes of each iovec read (redacted); null: that copy faulted */
  data: Array<Buffer | null>;
  /** how many bytes of each the kernel copied */
  copied: number[];
}

/**
 * Splits an iovec copy. Redaction rewrites secrets (changing the length) but keeps NUL bytes, so
 * a secret never spans the NUL between the two buffers: when the length moved, the buffer that
 * kept its length is found by that NUL. Undefined when no split is certain (both rewritten).
 */
export function iovCopy(b: Buffer): IovCopy | undefined {
  if (b.length < IOV_HDR + 1) return undefined;
  const n = b[32]!;
  const c0 = b[33]!;
  const c1 = b[34]!;
  const faults = b[35]!;
  if (n < 1 || n > 2 || c0 > IOV_BUF || c1 > IOV_BUF) return undefined;
  let d0: Buffer;
  let d1: Buffer;
  if (b.length === IOV_HDR + c0 + 1 + c1) {
    d0 = b.subarray(IOV_HDR, IOV_HDR + c0);
    d1 = b.subarray(IOV_HDR + c0 + 1);
  } else if (b.length - c1 - 1 >= IOV_HDR && b[b.length - c1 - 1] === 0) {
    d0 = b.subarray(IOV_HDR, b.length - c1 - 1);
    d1 = b.subarray(b.length - c1);
  } else if (b[IOV_HDR + c0] === 0) {
    d0 = b.subarray(IOV_HDR, IOV_HDR + c0);
    d1 = b.subarray(IOV_HDR + c0 + 1);
  } else {
    return undefined;
  }
  const bases = [b.readBigUInt64LE(0), b.readBigUInt64LE(8)].slice(0, n);
  const lens = [b.readBigUInt64LE(16), b.readBigUInt64LE(24)].slice(0, n);
  const data = [faults & 1 ? null : d0, faults & 2 ? null : d1].slice(0, n);
  return { bases, lens, data, copied: [c0, c1].slice(0, n) };
}

/**
 * An iovec array as strace prints it: each buffer's bytes up to `budget` in all (readv: the
 * result; writev: everything), `...` after 64 bytes; null budget (a failed call): the pointers.
 * `count`: the array's length; iovecs past the first two show as `...`.
 */
export function iovecs(c: IovCopy, count: bigint, budget: bigint | null): string {
  const out: string[] = [];
  let left = budget;
  c.lens.forEach((len, i) => {
    const d = c.data[i];
    let base: string;
    if (left === null || !d) {
      base = c.bases[i] ? hex(c.bases[i]) : 'NULL';
    } else {
      const avail = len < left ? len : left;
      left -= avail;
      base = quoteBytes(d) + (avail > BigInt(c.copied[i] ?? 0) ? '...' : '');
    }
    out.push(`{iov_base=${base}, iov_len=${len}}`);
  });
  if (count > BigInt(c.lens.length)) out.push('...');
  return `[${out.join(', ')}]`;
}

// ---- msghdr ------------------------------------------------------------------------------------

const MSG_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x1, 'MSG_OOB'],
  [0x2, 'MSG_PEEK'],
  [0x4, 'MSG_DONTROUTE'],
  [0x8, 'MSG_CTRUNC'],
  [0x10, 'MSG_PROXY'],
  [0x20, 'MSG_TRUNC'],
  [0x40, 'MSG_DONTWAIT'],
  [0x80, 'MSG_EOR'],
  [0x100, 'MSG_WAITALL'],
  [0x200, 'MSG_FIN'],
  [0x400, 'MSG_SYN'],
  [0x800, 'MSG_CONFIRM'],
  [0x1000, 'MSG_RST'],
  [0x2000, 'MSG_ERRQUEUE'],
  [0x4000, 'MSG_NOSIGNAL'],
  [0x8000, 'MSG_MORE'],
  [0x10000, 'MSG_WAITFORONE'],
  [0x40000, 'MSG_BATCH'],
  [0x4000000, 'MSG_ZEROCOPY'],
  [0x20000000, 'MSG_FASTOPEN'],
  [0x40000000, 'MSG_CMSG_CLOEXEC'],
];
export const msgFlags = (v: number): string => flagNames(v, MSG_FLAGS, '0');

/** The kernel's msghdr copy (program.bpf.c read_msg): header, iovec copy, name, name length. */
export const MSG_HDR = 56;

/**
 * struct msghdr as strace prints it; `budget` as for iovecs (null: the call failed, only the
 * name length shows). Undefined when the copy cannot be split (see iovCopy).
 */
export function msghdr(b: Buffer, budget: bigint | null): string | undefined {
  if (b.length < MSG_HDR + 1) return undefined;
  const namelen = b.readUInt32LE(8);
  if (budget === null) return `{msg_namelen=${namelen}}`;
  const k = b[b.length - 1]!;
  const nameAt = b.length - 1 - k;
  if (nameAt < MSG_HDR) return undefined;
  const namePtr = b.readBigUInt64LE(0);
  const iovPtr = b.readBigUInt64LE(16);
  const iovlen = b.readBigUInt64LE(24);
  const control = b.readBigUInt64LE(32);
  const controllen = b.readBigUInt64LE(40);
  let name = namePtr === 0n ? 'NULL' : hex(namePtr);
  if (namePtr !== 0n && k > 0 && k === Math.min(namelen, 28)) {
    name = sockaddr(b.subarray(nameAt, nameAt + k)) ?? name;
  }
  let iov = iovPtr === 0n ? 'NULL' : hex(iovPtr);
  if (nameAt > MSG_HDR) {
    const c = iovCopy(b.subarray(MSG_HDR, nameAt));
    if (!c) return undefined;
    iov = iovecs(c, iovlen, budget);
  } else if (iovlen === 0n && iovPtr !== 0n) {
    iov = '[]';
  }
  const parts = [
    `msg_name=${name}`,
    `msg_namelen=${namelen}`,
    `msg_iov=${iov}`,
    `msg_iovlen=${iovlen}`,
  ];
  if (controllen !== 0n) parts.push(`msg_control=${control === 0n ? 'NULL' : hex(control)}`);
  parts.push(`msg_controllen=${controllen}`, `msg_flags=${msgFlags(b.readUInt32LE(48))}`);
  return `{${parts.join(', ')}}`;
}

// ---- wait status -------------------------------------------------------------------------------

/** A wait(2) status as strace prints it: `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]`. */
export function wstatus(b: Buffer): string | undefined {
  if (b.length !== 4) return undefined;
  const s = b.readInt32LE(0);
  const sig = s & 0x7f;
  let text: string;
  if (sig === 0) text = `WIFEXITED(s) && WEXITSTATUS(s) == ${(s >> 8) & 0xff}`;
  else if (sig === 0x7f) text = `WIFSTOPPED(s) && WSTOPSIG(s) == ${signalName((s >> 8) & 0xff)}`;
  else {
    text = `WIFSIGNALED(s) && WTERMSIG(s) == ${signalName(sig)}${s & 0x80 ? ' && WCOREDUMP(s)' : ''}`;
  }
  return `[{${text}}]`;
}
