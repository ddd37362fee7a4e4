// The parity test's normalisation on strace's own output forms, and the strace-style named
// arguments (named.ts) the parity test asked for.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { namedParams, openFlags } from './named.js';
import { compare, fromStrace, fromTraceloop, normalise } from './parity.js';

test('strace -f output: unfinished/resumed joined, children after their parent, pids and addresses normalised', () => {
  const p = fromStrace(
    [
      '100   execve("/bin/sh", ["sh", "-c", "true | true"], 0x7ffd12345678 /* 3 vars */) = 0',
      '100   clone(child_stack=NULL, flags=SIGCHLD) = 102',
      '100   clone(child_stack=NULL, flags=SIGCHLD) = 101',
      '101   exit_group(0)                     = ?',
      '100   wait4(-1,  <unfinished ...>',
      '102   read(0, "", 4096)                 = 0',
      '100   <... wait4 resumed>NULL, 0, NULL) = 101',
      '100   --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=101} ---',
      '100   openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory)',
      '102   +++ exited with 0 +++',
    ].join('\n'),
  );
  assert.deepEqual(p.pids, [100, 102, 101]);
  assert.deepEqual(p.lines, [
    'execve("/bin/sh", ["sh", "-c", "true | true"], 0xADDR) = 0',
    'clone(child_stack=NULL, flags=SIGCHLD) = PID',
    'clone(child_stack=NULL, flags=SIGCHLD) = PID',
    'wait4(-1, NULL, 0, NULL) = PID',
    '--- SIGCHLD ---',
    'openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT',
    'read(0, "", 4096) = 0',
    'exit_group(0) = ?',
  ]);
});

test('traceloop records: from the program execve on, its process tree only', () => {
  const ev = (pid: number, syscall: string, params: string, ret: number | null, error = '') => ({
    kind: 'syscall',
    pid,
    syscall,
    params,
    ret,
    error,
  });
  const p = fromTraceloop(
    [
      ev(7, 'execve', '"/bin/httpd", ["httpd"], 0x7ffd00000000', 0),
      ev(5, 'execve', '"/bin/cat", ["cat", "/x"], 0x7ffd00000000', 0),
      ev(5, 'brk', 'NULL', 0x55d0_0000_0000),
      ev(7, 'accept', '3, NULL, NULL', 4),
      ev(5, 'openat', 'AT_FDCWD, "/x", O_RDONLY', -2, 'ENOENT'),
      { kind: 'exit', pid: 5, syscall: 'exit', params: 'exited with 1', ret: 1, error: '' },
    ],
    '"/bin/cat", ["cat", "/x"]',
  );
  assert.deepEqual(p.lines, [
    'execve("/bin/cat", ["cat", "/x"], 0xADDR) = 0',
    'brk(NULL) = 0xADDR',
    'openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT',
  ]);
  // random bytes and the pid an interrupted wait4 returned through rt_sigreturn: run-specific
  assert.equal(
    normalise('getrandom("\\xd8\\x4f\\x0c", 3, GRND_NONBLOCK) = 3', new Set()),
    'getrandom("\\xXX\\xXX\\xXX", 3, GRND_NONBLOCK) = 3',
  );
  assert.equal(
    normalise('rt_sigreturn({mask=[]}) = 8372', new Set([8372])),
    'rt_sigreturn({mask=[]}) = PID',
  );
  assert.equal(
    normalise('rt_sigreturn({mask=[]}) = 0', new Set([8372])),
    'rt_sigreturn({mask=[]}) = 0',
  );
  const c = compare(['a', 'b', 'c'], ['a', 'x', 'c', 'd']);
  assert.deepEqual([c.same, c.share, c.diffs], [2, 0.5, ['- b', '+ x', '+ d']]);
});

test('named arguments as strace prints them', () => {
  const fmt = (i: number): string => String(i);
  assert.equal(openFlags(0o2204000), 'O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY');
  assert.equal(namedParams('fcntl', [3n, 3n, 0x5af8aan], fmt), '0, 1');
  assert.equal(namedParams('fcntl', [3n, 4n, 0o4002n], fmt), '0, 1, O_RDWR|O_NONBLOCK');
  assert.equal(namedParams('arch_prctl', [0x1002n, 0x3a2c9380n], fmt), 'ARCH_SET_FS, 0x3a2c9380');
  assert.equal(namedParams('rseq', [1n, 32n, 0n, 0x53053053n], fmt), '0, 0x20, 0, 0x53053053');
  assert.equal(namedParams('getrandom', [1n, 8n, 1n], fmt), '0, 1, GRND_NONBLOCK');
  assert.equal(namedParams('shutdown', [3n, 1n], fmt), '0, SHUT_WR');
  assert.equal(namedParams('wait4', [-1n, 0n, 1n, 0n], fmt), '0, 1, WNOHANG, 3');
  assert.equal(namedParams('read', [0n], fmt), undefined);
  assert.equal(
    namedParams('prctl', [15n, 0x7ffd1234n, 0n, 0n, 0n], fmt),
    'PR_SET_NAME, 0x7ffd1234',
  );
  assert.equal(namedParams('prctl', [38n, 1n, 0n, 0n, 0n], fmt), 'PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0');
  assert.equal(namedParams('wait4', [-1n, 0n, 2n, 0n], fmt), '0, 1, WSTOPPED, 3');
  assert.equal(
    namedParams('setsockopt', [3n, 1n, 2n, 0n, 4n], fmt),
    '0, SOL_SOCKET, SO_REUSEADDR, 3, 4',
  );
});
