// Structures and named numbers, decoded as strace prints them. Every expected string is a line
// (or argument list) that strace 6.x printed for the same call on this machine
// (`strace -f -qq -s 64` of a C program making these calls); the bytes are laid out as the kernel
// copies them (x86-64).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatParams, retText, type TraceRecord } from './format.js';
import { quoteBytes, sigset } from './structs.js';
import {
  infoWord,
  MODE_ARRAY,
  MODE_IOV,
  MODE_SIGMASK,
  MODE_WINSIZE,
  SC_AT_ENTER,
  SC_FIX_SHIFT,
  SC_MODE_SHIFT,
  syscallByName,
} from './table.js';

function rec(name: string, args: bigint[], items: Buffer[], ret = 0n): TraceRecord {
  const d = syscallByName(name);
  assert.ok(d, name);
  return {
    seq: 1n,
    kind: 'syscall',
    ts: 1n,
    exitTs: 0n,
    cpu: 0,
    pid: 1,
    tid: 1,
    comm: 't',
    nr: d.nr,
    args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6),
    ret,
    noReturn: false,
    items,
    truncated: items.map(() => false),
  };
}

const P = 0x7ffc0000n; // any user pointer
const ENOENT = -2n;

function sin(port: number, addr: number[]): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(addr).copy(b, 4);
  return b;
}
function sin6(port: number, addr: number[], scope = 0): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(10, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(addr).copy(b, 8);
  b.writeUInt32LE(scope, 24);
  return b;
}
function sun(path: string, len: number): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt16LE(1, 0);
  Buffer.from(path, 'latin1').copy(b, 2);
  return b;
}
function u64s(...v: bigint[]): Buffer {
  const b = Buffer.alloc(v.length * 8);
  v.forEach((x, i) => b.writeBigUInt64LE(BigInt.asUintN(64, x), i * 8));
  return b;
}
function statBuf(mode: number, size: bigint, rdev = 0n): Buffer {
  const b = Buffer.alloc(144);
  b.writeUInt32LE(mode, 24);
  b.writeBigUInt64LE(rdev, 40);
  b.writeBigInt64LE(size, 48);
  return b;
}
/** a 4-byte copy of an int (a wait status, a socket option, an entry count) */
function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return b;
}
const params = (name: string, args: bigint[], items: Buffer[] = [], ret = 0n): string =>
  formatParams(rec(name, args, items, ret));

test('socket: domain, type with its flags, protocol named by the domain', () => {
  assert.equal(
    params('socket', [2n, 0x80001n, 6n]),
    'AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP',
  );
  assert.equal(
    params('socket', [10n, 0x802n, 0n]),
    'AF_INET6, SOCK_DGRAM|SOCK_NONBLOCK, IPPROTO_IP',
  );
  assert.equal(params('socket', [1n, 1n, 0n]), 'AF_UNIX, SOCK_STREAM, 0');
  assert.equal(
    params('socket', [1n, 0x80801n, 0n]),
    'AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0',
  );
  assert.equal(params('socket', [16n, 3n, 0n]), 'AF_NETLINK, SOCK_RAW, NETLINK_ROUTE');
  assert.equal(
    params('socket', [16n, 0x80003n, 15n]),
    'AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT',
  );
  assert.equal(params('socket', [17n, 2n, 768n]), 'AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL)');
});

test('connect/bind: sockaddr_in, in6, un (path, abstract, unnamed), nl', () => {
  assert.equal(
    params('connect', [3n, P, 16n], [sin(8080, [127, 0, 0, 1])], -111n),
    '3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16',
  );
  const lo6 = [...Array(15).fill(0), 1];
  assert.equal(
    params('connect', [4n, P, 28n], [sin6(53, lo6)]),
    '4, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28',
  );
  const mapped = [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1];
  assert.equal(
    params('connect', [5n, P, 28n], [sin6(443, mapped)]),
    '5, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6_addr), sin6_scope_id=0}, 28',
  );
  const ll = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 5];
  // strace names the scope's interface (if_nametoindex("lo")) in its own netns; we give the index
  assert.equal(
    params('connect', [5n, P, 28n], [sin6(443, ll, 1)]),
    '5, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "fe80::1:0:0:5", &sin6_addr), sin6_scope_id=1}, 28',
  );
  assert.equal(
    params('connect', [5n, P, 14n], [sun('/run/x.sock\0', 14)], ENOENT),
    '5, {sa_family=AF_UNIX, sun_path="/run/x.sock"}, 14',
  );
  assert.equal(
    params('bind', [5n, P, 110n], [sun('/run/x.sock', 110)]),
    '5, {sa_family=AF_UNIX, sun_path="/run/x.sock"}, 110',
  );
  assert.equal(
    params('bind', [5n, P, 11n], [sun('\0abstract', 11)], -22n),
    '5, {sa_family=AF_UNIX, sun_path=@"abstract"}, 11',
  );
  assert.equal(params('connect', [5n, P, 2n], [sun('', 2)]), '5, {sa_family=AF_UNIX}, 2');
  assert.equal(
    params('connect', [5n, P, 16n], [sin(0, [0, 0, 0, 0])]),
    '5, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16',
  );
  const nl = Buffer.alloc(12);
  nl.writeUInt16LE(16, 0);
  nl.writeUInt32LE(1, 8);
  assert.equal(
    params('bind', [4n, P, 12n], [nl]),
    '4, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=0x000001}, 12',
  );
  nl.writeUInt32LE(0, 8);
  assert.equal(
    params('bind', [4n, P, 12n], [nl]),
    '4, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12',
  );
  // no copy (the read faulted): the pointer, as before
  assert.equal(params('connect', [3n, P, 16n], [Buffer.alloc(0)]), '3, 0x7ffc0000, 16');
});

test('clock_nanosleep / nanosleep: the clock and the timespec (an input: shown even on EINTR)', () => {
  assert.equal(
    params('clock_nanosleep', [0n, 0n, P, 0n], [u64s(0n, 1500000n)]),
    'CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1500000}, NULL',
  );
  assert.equal(
    params('clock_nanosleep', [1n, 0n, P, 0n], [u64s(0n, 1000n)], -4n),
    'CLOCK_MONOTONIC, 0, {tv_sec=0, tv_nsec=1000}, NULL',
  );
  assert.equal(params('nanosleep', [P, 0n], [u64s(2n, 0n)]), '{tv_sec=2, tv_nsec=0}, NULL');
});

test('rlimits: prlimit64 old limits (an output), N*1024, infinity; setrlimit input', () => {
  assert.equal(
    params('prlimit64', [0n, 7n, 0n, P], [u64s(20000n, 20000n)]),
    '0, RLIMIT_NOFILE, NULL, {rlim_cur=20000, rlim_max=20000}',
  );
  assert.equal(
    params('prlimit64', [0n, 3n, 0n, P], [u64s(8192n * 1024n, -1n)]),
    '0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}',
  );
  // the new limits are not copied (one structure per syscall): the pointer
  assert.equal(
    params('prlimit64', [0n, 4n, P, 0n], [Buffer.alloc(0)]),
    '0, RLIMIT_CORE, 0x7ffc0000, NULL',
  );
  // failed: an output is not shown
  assert.equal(
    params('prlimit64', [0n, 7n, 0n, P], [u64s(1n, 2n)], -1n),
    '0, RLIMIT_NOFILE, NULL, 0x7ffc0000',
  );
  assert.equal(
    params('setrlimit', [4n, P], [u64s(1024n, 16384n)]),
    'RLIMIT_CORE, {rlim_cur=1024, rlim_max=16*1024}',
  );
  assert.equal(
    params('getrlimit', [7n, P], [u64s(-1n, -1n)]),
    'RLIMIT_NOFILE, {rlim_cur=RLIM_INFINITY, rlim_max=RLIM_INFINITY}',
  );
});

test('uname: sysname and nodename', () => {
  const b = Buffer.alloc(130);
  b.write('Linux', 0);
  b.write('vm', 65);
  assert.equal(params('uname', [P], [b]), '{sysname="Linux", nodename="vm", ...}');
});

test('newfstatat/fstat: mode, size or device, and a failed call keeps the pointer', () => {
  const path = (s: string): Buffer => Buffer.from(s + '\0');
  assert.equal(
    params(
      'newfstatat',
      [BigInt.asUintN(64, -100n), P, P, 0n],
      [path('/etc/passwd'), statBuf(0o100644, 1270n)],
    ),
    'AT_FDCWD, "/etc/passwd", {st_mode=S_IFREG|0644, st_size=1270, ...}, 0',
  );
  assert.equal(
    params('newfstatat', [0n, P, P, 0x1000n], [path(''), statBuf(0o20666, 0n, 0x103n)]),
    '0, "", {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}, AT_EMPTY_PATH',
  );
  assert.equal(
    params(
      'newfstatat',
      [BigInt.asUintN(64, -100n), P, P, 0x100n],
      [path('/dev/null'), statBuf(0o20666, 0n, 0x103n)],
    ),
    'AT_FDCWD, "/dev/null", {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}, AT_SYMLINK_NOFOLLOW',
  );
  assert.equal(
    params(
      'newfstatat',
      [BigInt.asUintN(64, -100n), P, P, 0n],
      [path('/tmp'), statBuf(0o41777, 12288n)],
    ),
    'AT_FDCWD, "/tmp", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=12288, ...}, 0',
  );
  assert.equal(
    params(
      'newfstatat',
      [BigInt.asUintN(64, -100n), P, 0x7ffeecbf5aa0n, 0n],
      [path('/nonexist'), statBuf(0, 0n)],
      ENOENT,
    ),
    'AT_FDCWD, "/nonexist", 0x7ffeecbf5aa0, 0',
  );
  // a big minor number (makedev's split fields)
  assert.equal(
    params(
      'fstat',
      [3n, P],
      [statBuf(0o60660, 0n, (259n << 8n) | (0x12345n & 0xffn) | ((0x12345n & ~0xffn) << 12n))],
    ),
    '3, {st_mode=S_IFBLK|0660, st_rdev=makedev(0x103, 0x12345), ...}',
  );
});

test('rt_sigaction: handler, mask, flags, restorer', () => {
  const act = (h: bigint, flags: bigint, mask: bigint): Buffer =>
    u64s(h, flags, 0x7fe670c14050n, mask);
  assert.equal(
    params('rt_sigaction', [2n, P, 0n, 8n], [act(0x55dfa70ae2d9n, 0x14000000n, 1n << 14n)]),
    'SIGINT, {sa_handler=0x55dfa70ae2d9, sa_mask=[TERM], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7fe670c14050}, NULL, 8',
  );
  assert.equal(
    params('rt_sigaction', [13n, P, 0n, 8n], [act(1n, 0x04000000n, 0n)]),
    'SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7fe670c14050}, NULL, 8',
  );
  assert.equal(
    params('rt_sigaction', [17n, P, 0n, 8n], [act(0n, 0x04000000n, 0n)]),
    'SIGCHLD, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7fe670c14050}, NULL, 8',
  );
  // glibc's sigfillset leaves out its two internal signals; SA_RESETHAND sign-extended by glibc
  assert.equal(
    params(
      'rt_sigaction',
      [10n, P, 0n, 8n],
      [act(0x55abe48f11f9n, 0xffffffffdc000005n, ~(3n << 31n))],
    ).replace(/0x7fe670c14050/, 'R'),
    'SIGUSR1, {sa_handler=0x55abe48f11f9, sa_mask=~[RTMIN RT_1], sa_flags=SA_RESTORER|SA_ONSTACK|SA_RESTART|SA_NODEFER|SA_RESETHAND|SA_SIGINFO|SA_NOCLDSTOP|0xffffffff00000000, sa_restorer=R}, NULL, 8',
  );
  assert.equal(sigset((1n << 0n) | (1n << 1n) | (1n << 35n)), '[HUP INT RT_4]');
});

test('epoll_create1 and epoll_ctl: op, events, data', () => {
  assert.equal(params('epoll_create1', [0x80000n]), 'EPOLL_CLOEXEC');
  assert.equal(params('epoll_create1', [0n]), '0');
  const ev = (events: number, data: bigint): Buffer => {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(events, 0);
    b.writeBigUInt64LE(data, 4);
    return b;
  };
  assert.equal(
    params('epoll_ctl', [8n, 1n, 3n, P], [ev(0x80000001, 7n)]),
    '8, EPOLL_CTL_ADD, 3, {events=EPOLLIN|EPOLLET, data={u32=7, u64=7}}',
  );
  assert.equal(params('epoll_ctl', [8n, 2n, 3n, 0n], []), '8, EPOLL_CTL_DEL, 3, NULL');
  assert.equal(
    params('epoll_ctl', [6n, 3n, 4n, P], [ev(0x201f, 0x100000005n)], ENOENT),
    '6, EPOLL_CTL_MOD, 4, {events=EPOLLIN|EPOLLPRI|EPOLLOUT|EPOLLERR|EPOLLHUP|EPOLLRDHUP, data={u32=5, u64=4294967301}}',
  );
});

test('madvise advice and clone flags by name', () => {
  assert.equal(
    params('madvise', [0x7fe670dc2000n, 8192n, 4n]),
    '0x7fe670dc2000, 8192, MADV_DONTNEED',
  );
  assert.equal(
    params('madvise', [0x7fe670dc2000n, 8192n, 10n]),
    '0x7fe670dc2000, 8192, MADV_DONTFORK',
  );
  assert.equal(
    params('madvise', [0x7fe670dc2000n, 8192n, 14n]),
    '0x7fe670dc2000, 8192, MADV_HUGEPAGE',
  );
  assert.equal(
    params('clone', [0x1200011n, 0n, 0n, 0x7fe670bd5a10n, 0n]),
    'child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fe670bd5a10',
  );
});

test('info words: a structure carries its fixed size for the kernel', () => {
  const w = (n: string): number => infoWord(syscallByName(n)!) >>> 0;
  assert.equal(w('newfstatat') >>> SC_FIX_SHIFT, 144);
  assert.equal(w('uname') >>> SC_FIX_SHIFT, 130);
  assert.equal(w('clock_nanosleep') >>> SC_FIX_SHIFT, 16);
  assert.equal(w('epoll_ctl') >>> SC_FIX_SHIFT, 12);
  assert.equal(w('connect') >>> SC_FIX_SHIFT, 0, 'a sockaddr takes its length argument');
  assert.equal((w('connect') >> 9) & 7, 3);
  assert.equal(w('getppid'), 0);
});

test('a copy that is not the structure size (cut, or rewritten by redaction) is shown as the pointer', () => {
  assert.equal(params('uname', [P], [Buffer.alloc(131)]), '0x7ffc0000');
  assert.equal(
    params('clock_nanosleep', [0n, 0n, P, 0n], [Buffer.alloc(15)]),
    'CLOCK_REALTIME, 0, 0x7ffc0000, NULL',
  );
  assert.equal(
    params('connect', [3n, P, 16n], [Buffer.concat([sin(80, [10, 0, 0, 1]), Buffer.from('*')])]),
    '3, 0x7ffc0000, 16',
  );
  // a unix path is text: its redacted form is shown
  assert.equal(
    params('connect', [3n, P, 30n], [sun('/run/token=***', 17)]),
    '3, {sa_family=AF_UNIX, sun_path="/run/token=***"}, 30',
  );
});

test('statx (what ls -l calls): sync type, flags, mask, and the struct', () => {
  const sx = (mask: number, mode: number, size: bigint): Buffer => {
    const b = Buffer.alloc(256);
    b.writeUInt32LE(mask, 0);
    b.writeUInt16LE(mode, 28);
    b.writeBigUInt64LE(size, 40);
    return b;
  };
  const path = Buffer.from('/etc/passwd\0');
  assert.equal(
    params(
      'statx',
      [BigInt.asUintN(64, -100n), P, 0x900n, 0x25en, P],
      [path, sx(0x17ff, 0o100644, 1270n)],
    ),
    'AT_FDCWD, "/etc/passwd", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT, STATX_MODE|STATX_NLINK|STATX_UID|STATX_GID|STATX_MTIME|STATX_SIZE, {stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0644, stx_size=1270, ...}',
  );
  assert.equal(
    params(
      'statx',
      [BigInt.asUintN(64, -100n), P, 0x800n, 0xfffn, P],
      [path, sx(0x1fff, 0o100644, 1270n)],
    ),
    'AT_FDCWD, "/etc/passwd", AT_STATX_SYNC_AS_STAT|AT_NO_AUTOMOUNT, STATX_ALL, {stx_mask=STATX_ALL|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0644, stx_size=1270, ...}',
  );
});

// ---- copied by a mode (program.bpf.c TL_MODE_*) --------------------------------------------------

/**
 * An iovec copy as read_iov lays it out: bases, lengths, count read, bytes copied of each, fault
 * bits, buffer 0, a NUL, buffer 1. `budget`: the bytes the kernel may copy (readv: the result).
 */
function iov(vecs: Array<[bigint, string | number]>, budget = 1n << 30n, faults = 0): Buffer {
  const h = Buffer.alloc(36);
  const bufs: Buffer[] = [];
  let left = budget;
  vecs.slice(0, 2).forEach(([base, d], i) => {
    const data = typeof d === 'string' ? Buffer.from(d, 'latin1') : Buffer.alloc(d, 'x');
    const len = BigInt(data.length);
    const c = Number([len, left, 64n].reduce((a, b) => (a < b ? a : b)));
    left -= len < left ? len : left;
    h.writeBigUInt64LE(base, i * 8);
    h.writeBigUInt64LE(len, 16 + i * 8);
    h[33 + i] = faults & (1 << i) ? 0 : c;
    bufs.push(faults & (1 << i) ? Buffer.alloc(0) : data.subarray(0, c));
  });
  h[32] = Math.min(vecs.length, 2);
  h[35] = faults;
  return Buffer.concat([
    h,
    bufs[0] ?? Buffer.alloc(0),
    Buffer.alloc(1),
    bufs[1] ?? Buffer.alloc(0),
  ]);
}
const B0 = 0x7ffc1000n;
const B1 = 0x7ffc2000n;

test('the info word carries the mode, the count argument and the element size', () => {
  const w = (name: string): number => infoWord(syscallByName(name)!);
  assert.equal(w('writev') >>> SC_MODE_SHIFT, MODE_IOV);
  assert.ok(w('writev') & SC_AT_ENTER, 'writev: its inputs are read at entry');
  assert.ok(!(w('readv') & SC_AT_ENTER), 'readv: at exit');
  assert.equal(w('poll') >>> SC_MODE_SHIFT, MODE_ARRAY);
  assert.equal((w('poll') >> SC_FIX_SHIFT) & 511, 8);
  assert.equal((w('epoll_wait') >> SC_FIX_SHIFT) & 511, 12);
  assert.equal(w('ioctl') >>> SC_MODE_SHIFT, MODE_WINSIZE);
  assert.equal(w('rt_sigprocmask') >>> SC_MODE_SHIFT, MODE_SIGMASK);
});

test('iovecs: writev sends every iovec; strace -s 64 cuts each buffer; past 2 iovecs: ...', () => {
  assert.equal(
    params(
      'writev',
      [1n, P, 2n],
      [
        iov([
          [B0, 'hello'],
          [B1, ' world\n'],
        ]),
      ],
      12n,
    ),
    '1, [{iov_base="hello", iov_len=5}, {iov_base=" world\\n", iov_len=7}], 2',
  );
  assert.equal(
    params(
      'writev',
      [4n, P, 3n],
      [
        iov([
          [B0, 100],
          [B1, 'a\tb'],
          [0n, 'c'],
        ]),
      ],
      104n,
    ),
    `4, [{iov_base="${'x'.repeat(64)}"..., iov_len=100}, {iov_base="a\\tb", iov_len=3}, ...], 3`,
  );
  // an input: shown whatever the result
  assert.equal(
    params('writev', [99n, P, 1n], [iov([[B0, 'hi']])], -9n),
    '99, [{iov_base="hi", iov_len=2}], 1',
  );
  assert.equal(params('writev', [1n, 0n, 0n], [Buffer.alloc(0)], -14n), '1, NULL, 0');
});

test('iovecs: readv shows what the result says came, pointers when it failed', () => {
  const got = 'hello world\n';
  const rv = (ret: bigint): Buffer =>
    iov(
      [
        [B0, got.slice(0, 4)],
        [B1, got.slice(4, Number(ret)) || 0],
      ],
      ret,
    );
  // the kernel copies 4 + 8 bytes; the second iovec is 100 bytes long
  const item = iov(
    [
      [B0, 'hell'],
      [B1, 'o world\n'],
    ],
    12n,
  );
  item.writeBigUInt64LE(100n, 24);
  assert.equal(
    params('readv', [3n, P, 2n], [item], 12n),
    '3, [{iov_base="hell", iov_len=4}, {iov_base="o world\\n", iov_len=100}], 2',
  );
  const short = iov(
    [
      [B0, 'abc'],
      [B1, 0],
    ],
    3n,
  );
  short.writeBigUInt64LE(4n, 16);
  short.writeBigUInt64LE(100n, 24);
  assert.equal(
    params('readv', [3n, P, 2n], [short], 3n),
    '3, [{iov_base="abc", iov_len=4}, {iov_base="", iov_len=100}], 2',
  );
  assert.equal(
    params('readv', [99n, P, 2n], [rv(0n)], -9n),
    '99, [{iov_base=0x7ffc1000, iov_len=4}, {iov_base=0x7ffc2000, iov_len=0}], 2',
  );
  assert.equal(
    params('preadv', [5n, P, 1n, 0n, 0n], [iov([[B0, '\x7fELF']])], 4n),
    '5, [{iov_base="\\177ELF", iov_len=4}], 1, 0',
  );
  // a buffer whose copy faulted: its pointer
  assert.equal(
    params(
      'pwritev',
      [6n, P, 2n, 3n, 0n],
      [
        iov(
          [
            [B0, 'ab'],
            [B1, 'cd'],
          ],
          1n << 30n,
          2,
        ),
      ],
      4n,
    ),
    '6, [{iov_base="ab", iov_len=2}, {iov_base=0x7ffc2000, iov_len=2}], 2, 3',
  );
});

test('iovecs rewritten by redaction: the buffer that kept its length is found by the NUL', () => {
  const redact = (b: Buffer, from: string, to: string): Buffer =>
    Buffer.from(b.toString('latin1').replace(from, to), 'latin1');
  const item = iov([
    [B0, 'GET /?token=s3cr3t HTTP/1.1\r\n'],
    [B1, 'Host: x\r\n\r\n'],
  ]);
  assert.equal(
    params('writev', [3n, P, 2n], [redact(item, 's3cr3t', '***')], 40n),
    '3, [{iov_base="GET /?token=*** HTTP/1.1\\r\\n", iov_len=29}, {iov_base="Host: x\\r\\n\\r\\n", iov_len=11}], 2',
  );
  const second = iov([
    [B0, 'POST / HTTP/1.1\r\n'],
    [B1, 'password=hunter2'],
  ]);
  assert.equal(
    params('writev', [3n, P, 2n], [redact(second, 'hunter2', '***')], 33n),
    '3, [{iov_base="POST / HTTP/1.1\\r\\n", iov_len=17}, {iov_base="password=***", iov_len=16}], 2',
  );
  // both rewritten: no certain split, the pointer
  const both = redact(
    redact(
      iov([
        [B0, 'pass=aaaa'],
        [B1, 'pass=bbbbbb'],
      ]),
      'aaaa',
      '***',
    ),
    'bbbbbb',
    '***',
  );
  assert.equal(params('writev', [3n, P, 2n], [both], 20n), '3, 0x7ffc0000, 2');
});

test('poll: events in the arguments, revents (or Timeout) after the result', () => {
  const pfds = (...e: Array<[number, number, number]>): Buffer => {
    const b = Buffer.alloc(e.length * 8);
    e.forEach(([fd, ev, rev], i) => {
      b.writeInt32LE(fd, i * 8);
      b.writeUInt16LE(ev, i * 8 + 4);
      b.writeUInt16LE(rev, i * 8 + 6);
    });
    return b;
  };
  const r = rec('poll', [P, 2n, 10n], [pfds([9, 1, 1], [11, 5, 4])], 2n);
  assert.equal(formatParams(r), '[{fd=9, events=POLLIN}, {fd=11, events=POLLIN|POLLOUT}], 2, 10');
  assert.equal(retText(r), '2 ([{fd=9, revents=POLLIN}, {fd=11, revents=POLLOUT}])');
  const one = rec('poll', [P, 2n, 0n], [pfds([9, 1, 0], [-1, 1, 0])], 0n);
  assert.equal(formatParams(one), '[{fd=9, events=POLLIN}, {fd=-1}], 2, 0');
  assert.equal(retText(one), '0 (Timeout)');
  // past the 8 entries copied
  const many = Array.from({ length: 8 }, (_, i): [number, number, number] => [i, 1, 0]);
  assert.ok(
    params('ppoll', [P, 9n, 0n, 0n, 8n], [pfds(...many)], 0n).endsWith(
      '{fd=7, events=POLLIN}, ...], 9, NULL, NULL, 8',
    ),
  );
  assert.equal(params('poll', [P, 1n, 0n], [pfds([3, 1, 0])], -4n), '0x7ffc0000, 1, 0');
});

test('epoll_wait: the ready events (the result), the first 8', () => {
  const ev = (events: number, data: bigint): Buffer => {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(events, 0);
    b.writeBigUInt64LE(data, 4);
    return b;
  };
  assert.equal(
    params('epoll_wait', [8n, P, 4n, 0n], [Buffer.concat([ev(1, 9n), ev(4, 10n)])], 2n),
    '8, [{events=EPOLLIN, data={u32=9, u64=9}}, {events=EPOLLOUT, data={u32=10, u64=10}}], 4, 0',
  );
  assert.equal(
    params('epoll_pwait', [8n, P, 4n, 0n, 0n, 8n], [Buffer.alloc(0)], 0n),
    '8, [], 4, 0, NULL, 8',
  );
  assert.equal(
    params('epoll_wait', [8n, P, 4n, 0n], [Buffer.alloc(0)], -4n),
    '8, 0x7ffc0000, 4, 0',
  );
});

test('ioctl: winsize for TIOCGWINSZ/TIOCSWINSZ, other requests as before', () => {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(24, 0);
  ws.writeUInt16LE(80, 2);
  assert.equal(
    params('ioctl', [13n, 0x5414n, P], [ws]),
    '13, TIOCSWINSZ, {ws_row=24, ws_col=80, ws_xpixel=0, ws_ypixel=0}',
  );
  assert.equal(
    params('ioctl', [9n, 0x5413n, P], [Buffer.alloc(0)], -25n),
    '9, TIOCGWINSZ, 0x7ffc0000',
  );
  assert.equal(params('ioctl', [1n, 0x5421n, 1n], [Buffer.alloc(0)]), '1, FIONBIO, 1');
});

test('rt_sigprocmask: how, the set (read at entry), the old set (at exit)', () => {
  const item = (set: bigint, old: bigint, ok: number): Buffer =>
    Buffer.concat([u64s(set, old), Buffer.from([ok])]);
  const INT_TERM = (1n << 1n) | (1n << 14n);
  assert.equal(
    params('rt_sigprocmask', [0n, P, P + 8n, 8n], [item(INT_TERM, 0n, 3)]),
    'SIG_BLOCK, [INT TERM], [], 8',
  );
  assert.equal(
    params('rt_sigprocmask', [2n, P, 0n, 8n], [item(0n, 0n, 1)]),
    'SIG_SETMASK, [], NULL, 8',
  );
  assert.equal(
    params('rt_sigprocmask', [1n, P, P + 8n, 8n], [item(~(3n << 31n) & ((1n << 64n) - 1n), 0n, 3)]),
    'SIG_UNBLOCK, ~[RTMIN RT_1], [], 8',
  );
  // the old set is an output: a failed call shows its pointer; a set that faulted too
  assert.equal(
    params('rt_sigprocmask', [0n, P, P + 8n, 7n], [item(0n, 0n, 2)], -22n),
    'SIG_BLOCK, 0x7ffc0000, 0x7ffc0008, 7',
  );
});

test('pipe2 and socketpair: the descriptors made; pipe flags', () => {
  const fds = Buffer.alloc(8);
  fds.writeInt32LE(9, 0);
  fds.writeInt32LE(10, 4);
  assert.equal(params('pipe2', [P, 0x80000n], [fds]), '[9, 10], O_CLOEXEC');
  assert.equal(params('pipe2', [P, 0n], [fds], -24n), '0x7ffc0000, 0');
  assert.equal(params('socketpair', [1n, 2n, 0n, P], [fds]), 'AF_UNIX, SOCK_DGRAM, 0, [9, 10]');
});

test('bytes are quoted as strace does: octal, three digits before an octal digit', () => {
  assert.equal(
    quoteBytes(Buffer.from('\xd8O\x017a\x07\x08\0', 'latin1')),
    '"\\330O\\0017a\\7\\10\\0"',
  );
  assert.equal(quoteBytes(Buffer.from('ab\xff', 'latin1')), '"ab\\377"');
});

test('prctl: the task name of PR_SET_NAME/PR_GET_NAME, cut as strace cuts it', () => {
  const name = (t: string): Buffer => {
    const b = Buffer.alloc(16);
    Buffer.from(t, 'latin1').copy(b, 0, 0, 16);
    return b;
  };
  assert.equal(params('prctl', [15n, P, 0n, 0n, 0n], [name('kgname')]), 'PR_SET_NAME, "kgname"');
  assert.equal(params('prctl', [16n, P, 0n, 0n, 0n], [name('kgname')]), 'PR_GET_NAME, "kgname"');
  assert.equal(
    params('prctl', [15n, P, 0n, 0n, 0n], [name('a-very-long-process-name')]),
    'PR_SET_NAME, "a-very-long-pro"...',
  );
  assert.equal(
    params('prctl', [16n, P, 0n, 0n, 0n], [Buffer.alloc(0)], -14n),
    'PR_GET_NAME, 0x7ffc0000',
  );
});

test('fcntl F_GETFD/F_GETFL: the result in hex with its flags, as strace prints it', () => {
  const ret = (cmd: bigint, v: bigint): string => retText(rec('fcntl', [3n, cmd, 0n], [], v));
  assert.equal(ret(1n, 1n), '0x1 (flags FD_CLOEXEC)');
  assert.equal(ret(1n, 0n), '0');
  assert.equal(ret(3n, 0x8000n), '0x8000 (flags O_RDONLY|O_LARGEFILE)');
  assert.equal(ret(3n, 0x8401n), '0x8401 (flags O_WRONLY|O_APPEND|O_LARGEFILE)');
  assert.equal(ret(3n, -9n), 'EBADF');
  assert.equal(ret(2n, 0n), '0');
});

test('msghdr: name, iovecs, lengths, flags; recvmsg up to its result, only the name length when it failed', () => {
  const msg = (o: {
    name?: Buffer;
    namelen?: number;
    iov?: Buffer;
    iovlen: bigint;
    controllen?: bigint;
    flags?: number;
  }): Buffer => {
    const h = Buffer.alloc(56);
    h.writeBigUInt64LE(o.name ? 0x7ffc3000n : 0n, 0);
    h.writeUInt32LE(o.namelen ?? 0, 8);
    h.writeBigUInt64LE(0x7ffc4000n, 16);
    h.writeBigUInt64LE(o.iovlen, 24);
    h.writeBigUInt64LE(o.controllen ? 0x7ffc5000n : 0n, 32);
    h.writeBigUInt64LE(o.controllen ?? 0n, 40);
    h.writeUInt32LE(o.flags ?? 0, 48);
    const name = o.name ?? Buffer.alloc(0);
    return Buffer.concat([h, o.iov ?? Buffer.alloc(0), name, Buffer.from([name.length])]);
  };
  assert.equal(
    params(
      'sendmsg',
      [3n, P, 0x4000n],
      [
        msg({
          iov: iov([
            [B0, 'ping '],
            [B1, 'pong'],
          ]),
          iovlen: 2n,
        }),
      ],
      9n,
    ),
    '3, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="ping ", iov_len=5}, {iov_base="pong", iov_len=4}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL',
  );
  const got = iov(
    [
      [B0, 'pin'],
      [B1, 'g pong'],
    ],
    9n,
  );
  got.writeBigUInt64LE(64n, 24);
  assert.equal(
    params('recvmsg', [4n, P, 0x40n], [msg({ iov: got, iovlen: 2n, flags: 0x20 })], 9n),
    '4, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="pin", iov_len=3}, {iov_base="g pong", iov_len=64}], msg_iovlen=2, msg_controllen=0, msg_flags=MSG_TRUNC}, MSG_DONTWAIT',
  );
  assert.equal(
    params('recvmsg', [4n, P, 0x40n], [msg({ iov: got, iovlen: 2n })], -11n),
    '4, {msg_namelen=0}, MSG_DONTWAIT',
  );
  assert.equal(
    params(
      'sendmsg',
      [6n, P, 0n],
      [
        msg({
          name: sin(9, [127, 0, 0, 1]),
          namelen: 16,
          iov: iov([[B0, 'ping ']]),
          iovlen: 1n,
          controllen: 24n,
        }),
      ],
      5n,
    ),
    '6, {msg_name={sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, msg_namelen=16, msg_iov=[{iov_base="ping ", iov_len=5}], msg_iovlen=1, msg_control=0x7ffc5000, msg_controllen=24, msg_flags=0}, 0',
  );
  assert.equal(
    params('sendto', [3n, P, 1n, 0x4040n, 0n, 0n], [Buffer.from('x')], 1n),
    '3, "x", 1, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0',
  );
});

test('getrandom: the bytes it returned, in hex as strace prints them', () => {
  const b = Buffer.from([0xc7, 0xdb, 0xfb, 0xfb, 0x7e, 0x68, 0xc1, 0x3f]);
  assert.equal(
    params('getrandom', [P, 8n, 1n], [b], 8n),
    '"\\xc7\\xdb\\xfb\\xfb\\x7e\\x68\\xc1\\x3f", 8, GRND_NONBLOCK',
  );
  assert.ok(
    params('getrandom', [P, 100n, 0n], [Buffer.alloc(100, 1)], 100n).endsWith('\\x01"..., 100, 0'),
  );
  assert.equal(params('getrandom', [P, 8n, 1n], [b], -11n), '0x7ffc0000, 8, GRND_NONBLOCK');
});

test('rt_sigaction: the old action when the call only asks (act NULL)', () => {
  const dfl = Buffer.alloc(32);
  assert.equal(
    params('rt_sigaction', [2n, 0n, P, 8n], [dfl]),
    'SIGINT, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8',
  );
  assert.equal(params('rt_sigaction', [2n, 0n, P, 8n], [dfl], -22n), 'SIGINT, NULL, 0x7ffc0000, 8');
  const ign = Buffer.alloc(32);
  ign.writeBigUInt64LE(1n, 0);
  assert.equal(
    params('rt_sigaction', [13n, P, P + 32n, 8n], [ign]),
    'SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, 0x7ffc0020, 8',
  );
});

test('wait4: the status of the reaped child, as strace prints it', () => {
  assert.equal(
    params('wait4', [1234n, P, 0n, 0n], [int32(3 << 8)], 1234n),
    '1234, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL',
  );
  assert.equal(
    params('wait4', [1234n, P, 0n, 0n], [int32(9)], 1234n),
    '1234, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}], 0, NULL',
  );
  assert.equal(
    params('wait4', [1234n, P, 0n, 0n], [int32(0x80 | 11)], 1234n),
    '1234, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV && WCOREDUMP(s)}], 0, NULL',
  );
  // strace 6.1 names wait4's bit 2 WSTOPPED (WUNTRACED's value)
  assert.equal(
    params('wait4', [1234n, P, 2n, 0n], [int32((19 << 8) | 0x7f)], 1234n),
    '1234, [{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}], WSTOPPED, NULL',
  );
  // WNOHANG with no child ready (0) or an error: the pointer
  assert.equal(params('wait4', [-1n, P, 1n, 0n], [int32(0)], 0n), '-1, 0x7ffc0000, WNOHANG, NULL');
  assert.equal(
    params('wait4', [-1n, P, 1n, 0n], [int32(0)], -10n),
    '-1, 0x7ffc0000, WNOHANG, NULL',
  );
  assert.equal(params('wait4', [5n, 0n, 0n, 0n], [Buffer.alloc(0)], 5n), '5, NULL, 0, NULL');
});

test('prctl options strace prints with no argument, a signal, a number or SUID_DUMP_*', () => {
  const p = (opt: bigint, a2 = 0n): string => params('prctl', [opt, a2, 0n, 0n, 0n]);
  assert.equal(p(1n, 9n), 'PR_SET_PDEATHSIG, SIGKILL');
  assert.equal(p(3n), 'PR_GET_DUMPABLE');
  assert.equal(p(4n, 1n), 'PR_SET_DUMPABLE, SUID_DUMP_USER');
  assert.equal(p(7n), 'PR_GET_KEEPCAPS');
  assert.equal(p(8n), 'PR_SET_KEEPCAPS, 0');
  assert.equal(p(21n), 'PR_GET_SECCOMP');
  assert.equal(p(38n, 1n), 'PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0');
  assert.equal(p(39n), 'PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0');
  assert.equal(p(36n, 1n), 'PR_SET_CHILD_SUBREAPER, 1');
  // the result: `= 1 (SUID_DUMP_USER)`
  assert.equal(retText(rec('prctl', [3n, 0n, 0n, 0n, 0n], [], 1n)), '1 (SUID_DUMP_USER)');
  assert.equal(retText(rec('prctl', [7n, 0n, 0n, 0n, 0n], [], 0n)), '0');
});

test('setsockopt: level, option and an int value; other sizes and faults as the pointer', () => {
  const p = (lvl: bigint, opt: bigint, item: Buffer, len = 4n, ret = 0n): string =>
    params('setsockopt', [3n, lvl, opt, P, len], [item], ret);
  assert.equal(p(1n, 2n, int32(1)), '3, SOL_SOCKET, SO_REUSEADDR, [1], 4');
  assert.equal(p(1n, 9n, int32(1)), '3, SOL_SOCKET, SO_KEEPALIVE, [1], 4');
  assert.equal(p(6n, 1n, int32(1)), '3, SOL_TCP, TCP_NODELAY, [1], 4');
  assert.equal(p(0n, 1n, int32(5)), '3, SOL_IP, IP_TOS, [5], 4');
  assert.equal(p(41n, 26n, int32(1)), '3, SOL_IPV6, IPV6_V6ONLY, [1], 4');
  // an input: shown whatever the result
  assert.equal(p(1234n, 77n, int32(1), 4n, -92n), '3, 0x4d2 /* SOL_?? */, 77, [1], 4');
  assert.equal(
    p(1n, 8n, int32(1).subarray(0, 2), 2n, -22n),
    '3, SOL_SOCKET, SO_RCVBUF, 0x7ffc0000, 2',
  );
  assert.equal(p(1n, 2n, Buffer.alloc(0), 4n, -14n), '3, SOL_SOCKET, SO_REUSEADDR, 0x7ffc0000, 4');
  // SO_LINGER's struct is not decoded: the pointer
  assert.equal(p(1n, 13n, Buffer.alloc(8), 8n), '3, SOL_SOCKET, SO_LINGER, 0x7ffc0000, 8');
});

test('getdents64: the entry count the kernel walked, as strace prints it', () => {
  assert.equal(
    params('getdents64', [5n, P, 32768n], [int32(159)], 5040n),
    '5, 0x7ffc0000 /* 159 entries */, 32768',
  );
  assert.equal(
    params('getdents64', [5n, P, 32768n], [int32(0)], 0n),
    '5, 0x7ffc0000 /* 0 entries */, 32768',
  );
  // an error, or a walk that did not end at the result (no count copied): the pointer
  assert.equal(
    params('getdents64', [99n, P, 32768n], [Buffer.alloc(0)], -9n),
    '99, 0x7ffc0000, 32768',
  );
  assert.equal(
    params('getdents64', [5n, P, 32768n], [Buffer.alloc(0)], 5040n),
    '5, 0x7ffc0000, 32768',
  );
});

test('rt_sigreturn: the mask its frame restores', () => {
  assert.equal(params('rt_sigreturn', [], [u64s(0n)]), '{mask=[]}');
  assert.equal(params('rt_sigreturn', [], [u64s(1n << 14n)]), '{mask=[TERM]}');
  // not read (a fault): nothing, as before
  assert.equal(params('rt_sigreturn', [], [Buffer.alloc(0)]), '');
});
