// Names for kernel numbers (x86-64, asm-generic), shared by every gadget's transform.

const ERRNO_NAMES = [
  '',
  'EPERM',
  'ENOENT',
  'ESRCH',
  'EINTR',
  'EIO',
  'ENXIO',
  'E2BIG',
  'ENOEXEC',
  'EBADF',
  'ECHILD',
  'EAGAIN',
  'ENOMEM',
  'EACCES',
  'EFAULT',
  'ENOTBLK',
  'EBUSY',
  'EEXIST',
  'EXDEV',
  'ENODEV',
  'ENOTDIR',
  'EISDIR',
  'EINVAL',
  'ENFILE',
  'EMFILE',
  'ENOTTY',
  'ETXTBSY',
  'EFBIG',
  'ENOSPC',
  'ESPIPE',
  'EROFS',
  'EMLINK',
  'EPIPE',
  'EDOM',
  'ERANGE',
  'EDEADLK',
  'ENAMETOOLONG',
  'ENOLCK',
  'ENOSYS',
  'ENOTEMPTY',
  'ELOOP',
];

const ERRNO_HIGH: Record<number, string> = {
  42: 'ENOMSG',
  61: 'ENODATA',
  62: 'ETIME',
  75: 'EOVERFLOW',
  84: 'EILSEQ',
  88: 'ENOTSOCK',
  90: 'EMSGSIZE',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH',
  104: 'ECONNRESET',
  105: 'ENOBUFS',
  106: 'EISCONN',
  107: 'ENOTCONN',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
  114: 'EALREADY',
  115: 'EINPROGRESS',
  116: 'ESTALE',
  122: 'EDQUOT',
  125: 'ECANCELED',
  512: 'ERESTARTSYS',
  513: 'ERESTARTNOINTR',
  514: 'ERESTARTNOHAND',
  516: 'ERESTART_RESTARTBLOCK',
};

/** `ENOENT` for 2 or -2; empty for 0 or positive return values. */
export function errnoName(ret: number): string {
  if (ret >= 0) return '';
  const e = -ret;
  return ERRNO_NAMES[e] ?? ERRNO_HIGH[e] ?? `E${e}`;
}

export const O_ACCMODE = 0o3;
export const O_CREAT = 0o100;
export const O_TMPFILE = 0o20200000;

const OPEN_FLAGS: Array<[number, string]> = [
  [0o100, 'O_CREAT'],
  [0o200, 'O_EXCL'],
  [0o400, 'O_NOCTTY'],
  [0o1000, 'O_TRUNC'],
  [0o2000, 'O_APPEND'],
  [0o4000, 'O_NONBLOCK'],
  [0o10000, 'O_DSYNC'],
  [0o20000, 'O_ASYNC'],
  [0o40000, 'O_DIRECT'],
  [0o100000, 'O_LARGEFILE'],
  [0o200000, 'O_DIRECTORY'],
  [0o400000, 'O_NOFOLLOW'],
  [0o1000000, 'O_NOATIME'],
  [0o2000000, 'O_CLOEXEC'],
  [0o4000000, 'O_SYNC'], // __O_SYNC; O_SYNC also sets O_DSYNC
  [0o10000000, 'O_PATH'],
  [0o20000000, 'O_TMPFILE'], // __O_TMPFILE; O_TMPFILE also sets O_DIRECTORY
];

const ACCMODE_NAMES = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'];

/** Always names the access mode first, then every other flag set; unknown bits as hex. */
export function openFlagNames(flags: number): string[] {
  const out = [ACCMODE_NAMES[flags & O_ACCMODE]!];
  let rest = flags & ~O_ACCMODE;
  for (const [bit, name] of OPEN_FLAGS) {
    if (rest & bit) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

/** `0644`-style octal string of the permission bits. */
export function modeString(mode: number): string {
  return '0' + (mode & 0o7777).toString(8).padStart(3, '0');
}
