#!/usr/bin/env node
// Generates gadgets/traceloop/syscalls.ts: the x86-64 syscall table (number, name, arguments with
// a display kind), from the kernel headers (asm/unistd_64.h: numbers) and the running kernel's
// syscall tracepoint formats (/sys/kernel/tracing/events/syscalls/sys_enter_*/format: argument
// names and C types). Run once per kernel-ABI update; the output is checked in.
//
//   node gadgets/traceloop/gen-syscalls.mjs > gadgets/traceloop/syscalls.ts &&
//     npx prettier --write gadgets/traceloop/syscalls.ts
import { existsSync, readFileSync } from 'node:fs';

const UNISTD = process.env.UNISTD ?? '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const TRACEFS = process.env.TRACEFS ?? '/sys/kernel/tracing/events/syscalls';

const numbers = [];
for (const line of readFileSync(UNISTD, 'utf8').split('\n')) {
  const m = /^#define __NR_(\w+)\s+(\d+)/.exec(line);
  if (m) numbers.push([Number(m[2]), m[1]]);
}
// Newer than many distributions' headers (x86-64 numbers, arch/x86/entry/syscalls/syscall_64.tbl);
// kept only when the running kernel has the syscall's tracepoint.
const NEWER = [
  [451, 'cachestat'],
  [452, 'fchmodat2'],
  [453, 'map_shadow_stack'],
  [454, 'futex_wake'],
  [455, 'futex_wait'],
  [456, 'futex_requeue'],
  [457, 'statmount'],
  [458, 'listmount'],
  [459, 'lsm_get_self_attr'],
  [460, 'lsm_set_self_attr'],
  [461, 'lsm_list_modules'],
  [462, 'mseal'],
  [463, 'setxattrat'],
  [464, 'getxattrat'],
  [465, 'listxattrat'],
  [466, 'removexattrat'],
  [467, 'open_tree_attr'],
  [468, 'file_getattr'],
  [469, 'file_setattr'],
];
for (const [nr, name] of NEWER) {
  if (!numbers.some(([n]) => n === nr) && existsSync(`${TRACEFS}/sys_enter_${name}`)) {
    numbers.push([nr, name]);
  }
}
numbers.sort((a, b) => a[0] - b[0]);

// tracepoint names that differ from the syscall names
const TP_ALIAS = {
  stat: 'newstat',
  fstat: 'newfstat',
  lstat: 'newlstat',
  uname: 'newuname',
  umount2: 'umount',
  sendfile: 'sendfile64',
  newfstatat: 'newfstatat',
};

// Syscalls with no tracepoint metadata (arch-specific entry points): written by hand.
const MANUAL = {
  rt_sigreturn: [],
  fork: [],
  vfork: [],
  arch_prctl: [
    ['option', 'int'],
    ['addr', 'unsigned long'],
  ],
  clone: [
    ['flags', 'unsigned long'],
    ['newsp', 'unsigned long'],
    ['parent_tidptr', 'int *'],
    ['child_tidptr', 'int *'],
    ['tls', 'unsigned long'],
  ],
  iopl: [['level', 'unsigned int']],
  modify_ldt: [
    ['func', 'int'],
    ['ptr', 'void *'],
    ['bytecount', 'unsigned long'],
  ],
  mmap: [
    ['addr', 'unsigned long'],
    ['len', 'unsigned long'],
    ['prot', 'unsigned long'],
    ['flags', 'unsigned long'],
    ['fd', 'unsigned long'],
    ['off', 'unsigned long'],
  ],
};

// data buffers: argument index, and the index of its length argument (-1: the return value)
const BUFFERS = {
  read: [1, -1],
  pread64: [1, -1],
  write: [1, 2],
  pwrite64: [1, 2],
  readlink: [1, -1],
  readlinkat: [2, -1],
  getcwd: [0, -1],
  recvfrom: [1, -1],
  sendto: [1, 2],
  // strace prints random bytes in hex
  getrandom: [0, -1, 'hexbuf'],
  // an option's value (read at exit: the kernel does not change it), shown as [int] or a struct
  setsockopt: [3, 4, 'sockoptval'],
  connect: [1, 2, 'sockaddr'],
  bind: [1, 2, 'sockaddr'],
};

// Structures behind a pointer argument, copied whole (a fixed size): argument index, size in
// bytes, input (read whatever the result; else shown only when the call succeeded), and the
// decoder's kind. One per syscall: the kernel copies one buffer per syscall.
const STRUCTS = {
  nanosleep: [0, 16, true, 'timespec'],
  clock_nanosleep: [2, 16, true, 'timespec'],
  getrlimit: [1, 16, false, 'rlimit'],
  setrlimit: [1, 16, true, 'rlimit'],
  // glibc's getrlimit is prlimit64(0, R, NULL, &old): the old limits, the common case
  prlimit64: [3, 16, false, 'rlimit'],
  // sysname and nodename: what strace prints by default
  uname: [0, 130, false, 'utsname'],
  stat: [1, 144, false, 'stat'],
  fstat: [1, 144, false, 'stat'],
  lstat: [1, 144, false, 'stat'],
  newfstatat: [2, 144, false, 'stat'],
  statx: [4, 256, false, 'statx'],
  epoll_ctl: [3, 12, true, 'epollevent'],
  // the child's wait status (shown when a child was reaped: the result is its pid)
  wait4: [1, 4, false, 'wstatus'],
  // the two descriptors made
  pipe: [0, 8, false, 'fdpair'],
  pipe2: [0, 8, false, 'fdpair'],
  socketpair: [3, 8, false, 'fdpair'],
};

// Copied by a mode of their own (program.bpf.c TL_MODE_*, one per syscall like the above):
// argument index, the count's argument index (-1: the result), element size, mode, the decoder's
// kind. iov: the first 2 iovecs and up to 64 bytes of each; array: the first 8 elements; winsize:
// ioctl's argument for TIOCGWINSZ/TIOCSWINSZ only; sigmask: rt_sigprocmask's set (at entry) and
// old set (at exit); prctl: the 16-byte task name of PR_SET_NAME/PR_GET_NAME only; msg: a
// msghdr, its iovecs as iov and up to 28 bytes of its name; sigact: rt_sigaction's new action
// (the kernel's struct sigaction: handler, flags, restorer, mask), or its old one when there is
// no new one (a query).
const MODES = { iov: 1, array: 2, winsize: 3, sigmask: 4, prctl: 5, msg: 6, sigact: 7 };
const SPECIAL = {
  readv: [1, 2, 0, 'iov', 'iovec'],
  writev: [1, 2, 0, 'iov', 'iovec'],
  preadv: [1, 2, 0, 'iov', 'iovec'],
  pwritev: [1, 2, 0, 'iov', 'iovec'],
  poll: [0, 1, 8, 'array', 'pollfd'],
  ppoll: [0, 1, 8, 'array', 'pollfd'],
  epoll_wait: [1, -1, 12, 'array', 'epollevents'],
  epoll_pwait: [1, -1, 12, 'array', 'epollevents'],
  ioctl: [2, -1, 8, 'winsize', 'ioctlarg'],
  rt_sigprocmask: [1, -1, 0, 'sigmask', 'sigset'],
  prctl: [1, -1, 16, 'prctl', 'ulong'],
  rt_sigaction: [1, -1, 32, 'sigact', 'sigaction'],
  sendmsg: [1, -1, 0, 'msg', 'msghdr'],
  recvmsg: [1, -1, 0, 'msg', 'msghdr'],
};

const DIRFD = new Set(['dfd', 'olddfd', 'newdfd', 'dirfd', 'fromdfd', 'todfd']);
const FD = new Set([
  'fd',
  'oldfd',
  'newfd',
  'epfd',
  'fd_in',
  'fd_out',
  'in_fd',
  'out_fd',
  'pidfd',
  'fdin',
  'fdout',
  'ufd',
]);
const AT_FLAGS = new Set([
  'newfstatat',
  'unlinkat',
  'faccessat2',
  'fchownat',
  'fchmodat2',
  'linkat',
  'utimensat',
  'statx',
  'execveat',
  'name_to_handle_at',
  'open_tree',
  'move_mount',
]);

const MEM_ADDR = new Set([
  'mmap',
  'munmap',
  'mprotect',
  'madvise',
  'mremap',
  'msync',
  'mincore',
  'mlock',
  'munlock',
  'mlock2',
  'brk',
  'pkey_mprotect',
]);

function kindOf(sys, name, type) {
  const t = type.replace(/__user\s*/g, '').trim();
  if (DIRFD.has(name)) return 'dirfd';
  if (FD.has(name) && !t.includes('*')) return 'fd';
  if (t === 'const char *const *' || t === 'const char * const *')
    return name === 'argv' ? 'argv' : 'ptr';
  if (/^const char \*$/.test(t) && !/buf/.test(name)) return 'str';
  if (t === 'umode_t' || (name === 'mode' && /^(int|unsigned int)$/.test(t))) return 'mode';
  if (name === 'flags' && ['open', 'openat'].includes(sys)) return 'oflags';
  if (sys === 'statx' && name === 'flags') return 'statxflags';
  if (sys === 'statx' && name === 'mask') return 'statxmask';
  if ((name === 'flags' || name === 'flag') && AT_FLAGS.has(sys)) return 'atflags';
  if (name === 'prot' && ['mmap', 'mprotect', 'pkey_mprotect'].includes(sys)) return 'prot';
  if (name === 'flags' && sys === 'mmap') return 'mmapflags';
  if ((name === 'sig' || name === 'signum') && !t.includes('*')) return 'signal';
  if (name === 'whence' && sys === 'lseek') return 'whence';
  if (name === 'cmd' && sys === 'fcntl') return 'fcntl';
  if (name === 'cmd' && sys === 'ioctl') return 'ioctl';
  if (sys === 'socket' || sys === 'socketpair') {
    if (name === 'family') return 'sockdomain';
    if (name === 'type') return 'socktype';
    if (name === 'protocol') return 'sockproto';
  }
  // addresses strace prints in hex (or NULL) though the kernel takes an unsigned long
  if (/^(addr|start|brk|new_addr)$/.test(name) && t === 'unsigned long' && MEM_ADDR.has(sys))
    return 'ptr';
  if (name === 'clone_flags' && sys === 'clone') return 'cloneflags';
  if (name === 'behavior' && sys === 'madvise') return 'madvise';
  if (name === 'which_clock' || (name === 'clockid' && !t.includes('*'))) return 'clockid';
  if (name === 'resource' && /rlimit/.test(sys)) return 'rlimitres';
  if (name === 'op' && sys === 'epoll_ctl') return 'epollop';
  if (sys === 'pipe2' && name === 'flags') return 'pipeflags';
  if (/^(send|recv)(msg|to|from)$/.test(sys) && name === 'flags') return 'msgflags';
  if (sys === 'rt_sigprocmask' && name === 'how') return 'sighow';
  if (sys === 'rt_sigprocmask' && name === 'oset') return 'sigset';
  if (sys === 'rt_sigaction' && name === 'oact') return 'sigaction';
  if (name === 'flags' && sys === 'epoll_create1') return 'epollflags';
  if (t.includes('*')) return 'ptr';
  // 64-bit values: registers are read whole; 32-bit ones keep only their low half
  if (/^(unsigned long|size_t|u64|__u64|aio_context_t)$/.test(t)) return 'ulong';
  if (/^(long|loff_t|off_t|ssize_t|__s64|s64)$/.test(t)) return 'long';
  if (/^(unsigned|u32|__u32|const __u32|const u32|uid_t|gid_t|qid_t)/.test(t)) return 'uint';
  return 'int';
}

function argsFromTracefs(sys) {
  const tp = TP_ALIAS[sys] ?? sys;
  const f = `${TRACEFS}/sys_enter_${tp}/format`;
  if (!existsSync(f)) return undefined;
  const out = [];
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const m = /field:(.*?);\s*offset:(\d+)/.exec(line);
    if (!m) continue;
    const decl = m[1].trim();
    if (/common_|__syscall_nr/.test(decl)) continue;
    const dm = /^(.*?)\s*(\w+)$/.exec(decl);
    if (!dm) continue;
    out.push([dm[2], dm[1].trim()]);
  }
  return out;
}

const rows = [];
const missing = [];
for (const [nr, name] of numbers) {
  let args = argsFromTracefs(name);
  if (!args) {
    args = MANUAL[name];
    if (!args) {
      missing.push(name);
      args = undefined;
    }
  }
  const defs = args ? args.map(([n, t]) => [n, kindOf(name, n, t)]) : null;
  let buf = BUFFERS[name];
  if (buf && defs) defs[buf[0]][1] = buf[2] ?? 'buf';
  const st = STRUCTS[name];
  if (st && defs) {
    defs[st[0]][1] = st[3];
    // [arg, -1 (output) | -2 (input), size]
    buf = [st[0], st[2] ? -2 : -1, st[1]];
  }
  const sp = SPECIAL[name];
  if (sp && defs) {
    defs[sp[0]][1] = sp[4];
    // [arg, count arg | -1 (the result), element size, mode]
    buf = [sp[0], sp[1], sp[2], MODES[sp[3]]];
  }
  rows.push({
    nr,
    name,
    args: defs,
    buf: buf && (sp ? buf : [buf[0], buf[1], ...(st ? [buf[2]] : [])]),
  });
}

let out = '';
out +=
  "// Code generated by gadgets/traceloop/gen-syscalls.mjs from asm/unistd_64.h and the kernel's\n";
out += '// syscall tracepoint formats. DO NOT EDIT (edit the generator and run it again).\n';
out += '//\n';
out +=
  '// [nr, name, args | null (unknown: shown raw), buffer [argIndex, lengthArgIndex | -1 = ret, size]?]\n' +
  '// size: a structure of that many bytes (lengthArgIndex -1: an output, -2: an input).\n' +
  '// mode (4th): copied by program.bpf.c TL_MODE_* (1 iovecs, 2 an array of size-byte elements,\n' +
  '// 3 ioctl winsize, 4 rt_sigprocmask sets, 5 prctl task names, 6 msghdr, 7 rt_sigaction);\n' +
  '// lengthArgIndex is then the count.\n';
out += '// arg: [name, kind]; kinds are decoded by gadgets/traceloop/format.ts.\n\n';
out +=
  "export type ArgKind =\n  | 'int'\n  | 'uint'\n  | 'long'\n  | 'ulong'\n  | 'fd'\n  | 'dirfd'\n  | 'str'\n  | 'buf'\n  | 'argv'\n  | 'ptr'\n  | 'mode'\n  | 'oflags'\n  | 'atflags'\n  | 'prot'\n  | 'mmapflags'\n  | 'signal'\n  | 'whence'\n  | 'fcntl'\n  | 'ioctl'\n  | 'sockdomain'\n  | 'socktype'\n  | 'sockproto'\n  | 'cloneflags'\n  | 'madvise'\n  | 'clockid'\n  | 'rlimitres'\n  | 'epollop'\n  | 'epollflags'\n  | 'sockaddr'\n  | 'timespec'\n  | 'rlimit'\n  | 'utsname'\n  | 'stat'\n  | 'sigaction'\n  | 'epollevent'\n  | 'statxflags'\n  | 'statxmask'\n  | 'statx'\n  | 'iovec'\n  | 'pollfd'\n  | 'epollevents'\n  | 'ioctlarg'\n  | 'sigset'\n  | 'sighow'\n  | 'fdpair'\n  | 'pipeflags'\n  | 'msghdr'\n  | 'msgflags'\n  | 'hexbuf'\n  | 'wstatus'\n  | 'sockoptval';\n\n";
out +=
  'export type SyscallRow = readonly [\n  nr: number,\n  name: string,\n  args: ReadonlyArray<readonly [string, ArgKind]> | null,\n  buffer?: readonly [number, number, number?, number?],\n];\n\n';
out += 'export const SYSCALL_ROWS: readonly SyscallRow[] = [\n';
for (const r of rows) {
  const a = r.args === null ? 'null' : `[${r.args.map(([n, k]) => `['${n}', '${k}']`).join(', ')}]`;
  out += `  [${r.nr}, '${r.name}', ${a}${r.buf ? `, [${r.buf.join(', ')}]` : ''}],\n`;
}
out += '];\n';
process.stdout.write(out);
if (missing.length)
  process.stderr.write(`no argument metadata (shown raw): ${missing.join(' ')}\n`);
