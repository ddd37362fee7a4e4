// traceloop on the real kernel: the structures behind pointer arguments are copied by the program
// and `show` decodes them as strace does. testdata/structs.c (sockets and their addresses,
// sleeps, limits, uname, stat and statx, sigaction, epoll, madvise, clone, pipes, iovecs, poll
// and epoll_wait arrays, winsize, signal masks, a socket option, directory entries, the mask a
// signal handler's return restores) runs in a container while
// traceloop records it, then under `strace -f -qq -s 64` on the host in the same directory; every
// call from its first socket() to its fork reads the same, argument for argument (addresses
// that move between two runs normalised on both sides).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../../e2e/helpers/daemon.js';
import {
  ensureRootfs,
  podmanSkip,
  removeContainer,
  runContainer,
  uniqueName,
  waitFor,
} from '../../e2e/fixtures/podman.js';
import { buildStructs } from './testdata/build.js';

const strace = ((): boolean => {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = podmanSkip() || (!strace && 'needs strace');

type Ev = Record<string, unknown>;

/**
 * Addresses that differ between two runs (mmap's, the stack's, the heap's: ASLR), on both sides;
 * the static program's own code addresses (its signal handler) stay. The thread pointer clone
 * passes lies in the brk heap, which may start low enough to have fewer digits.
 */
const normalise = (line: string): string =>
  line
    .replace(/0x[0-9a-f]{7,}/g, '0xADDR')
    .replace(/child_tidptr=0x[0-9a-f]+/, 'child_tidptr=0xADDR');

/** The program's calls from its first socket() through its fork (clone) and its wait. */
function window(lines: string[]): string[] {
  const from = lines.findIndex((l) => l.startsWith('socket('));
  const to = lines.findIndex((l) => l.startsWith('wait4('));
  assert.ok(from >= 0 && to > from, `socket() .. wait4() in:\n${lines.join('\n')}`);
  return lines.slice(from, to + 1).map(normalise);
}

describe('traceloop show decodes structures like strace', { skip, concurrency: 1 }, () => {
  let d: TestDaemon | undefined;
  const name = uniqueName('tl-structs');

  before(async () => {
    ensureRootfs();
    d = new TestDaemon('traceloop-structs');
    copyFileSync(buildStructs(), join(d.dir, 'structs'));
    await d.start();
  });
  after(async () => {
    await removeContainer(name);
    await d?.cleanup();
  });

  test('the same arguments as strace -f, call for call', async () => {
    await d!.ok(['traceloop', 'start', '--containername', name]);
    // the host's UTS namespace: uname() must return the same nodename on both sides
    const r = await runContainer(name, ['/t/structs', '/t'], {
      args: ['-v', `${d!.dir}:/t:ro`, '--uts=host'],
    });
    assert.equal(r.code, 0, r.stderr);
    const events = await waitFor(async () => {
      const evs = await d!.ndjson(['traceloop', 'show', name]);
      return evs.some((e) => e.kind === 'exit') ? evs : undefined;
    }, 15_000);
    const main = events.find((e) => e.comm === 'structs' && e.kind === 'syscall');
    assert.ok(main, 'the program is recorded');
    const recorded = window(
      events
        .filter((e: Ev) => e.kind === 'syscall' && e.tid === main.pid)
        .map((e) => `${String(e.syscall)}(${String(e.params)})`),
    );

    const out = join(d!.dir, 'strace.out');
    execFileSync('strace', ['-qq', '-s', '64', '-o', out, join(d!.dir, 'structs'), d!.dir]);
    const traced = window(
      readFileSync(out, 'utf8')
        .split('\n')
        .map((l) => /^(\w+\(.*\))\s+= /.exec(l)?.[1])
        .filter((l): l is string => l !== undefined),
    ).map((l) =>
      // traceloop copies the first 2 iovecs of an array (its budget): the third shows as `...`
      l.replace(', {iov_base="c", iov_len=1}], 3)', ', ...], 3)'),
    );
    rmSync(out, { force: true });

    const same = recorded.filter((l, i) => l === traced[i]).length;
    process.stderr.write(
      `structs: ${same}/${traced.length} calls read the same as strace (${((100 * same) / traced.length).toFixed(1)}%)\n`,
    );
    assert.deepEqual(recorded, traced);
    // the structures are there, not their pointers
    for (const want of [
      'connect(3, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("127.0.0.1")}, 16)',
      'bind(5, {sa_family=AF_UNIX, sun_path=@"kgtest-abstract"}, 18)',
      'clock_nanosleep(CLOCK_MONOTONIC, 0, {tv_sec=0, tv_nsec=1500000}, NULL)',
      'prlimit64(0, RLIMIT_NOFILE, NULL, {rlim_cur=256, rlim_max=512})',
      'newfstatat(AT_FDCWD, "/dev/null", {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}, 0)',
      'epoll_ctl(8, EPOLL_CTL_ADD, 3, {events=EPOLLIN|EPOLLET, data={u32=7, u64=7}})',
      'pipe2([9, 10], O_CLOEXEC)',
      'writev(10, [{iov_base="hello", iov_len=5}, {iov_base=" world\\n", iov_len=7}], 2)',
      `writev(10, [{iov_base="${'x'.repeat(64)}"..., iov_len=100}, {iov_base="a\\tb", iov_len=3}, ...], 3)`,
      'readv(9, [{iov_base="abc", iov_len=4}, {iov_base="", iov_len=100}], 2)',
      'readv(99, [{iov_base=0xADDR, iov_len=4}, {iov_base=0xADDR, iov_len=100}], 2)',
      'poll([{fd=9, events=POLLIN}, {fd=10, events=POLLIN|POLLOUT}], 2, 0)',
      'epoll_wait(8, [{events=EPOLLIN, data={u32=9, u64=9}}, {events=EPOLLOUT, data={u32=10, u64=10}}], 4, 0)',
      'ioctl(12, TIOCGWINSZ, {ws_row=24, ws_col=80, ws_xpixel=0, ws_ypixel=0})',
      'rt_sigprocmask(SIG_BLOCK, [INT TERM], [], 8)',
      'sendmsg(13, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="ping ", iov_len=5}, {iov_base="pong", iov_len=4}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL)',
      'recvmsg(14, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="pin", iov_len=3}, {iov_base="g pong", iov_len=64}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, MSG_DONTWAIT)',
      'recvmsg(14, {msg_namelen=0}, MSG_DONTWAIT)',
      'rt_sigaction(SIGINT, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8)',
      'wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL)',
      'prctl(PR_SET_NAME, "kg-structs-long"...)',
      'prctl(PR_GET_NAME, "kg-structs-long")',
      'setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4)',
      'rt_sigreturn({mask=[TERM]})',
    ]) {
      assert.ok(recorded.includes(want), `recorded: ${want}`);
    }
    // /proc/self/ns's entries (how many the kernel has), then the end of the directory
    const dents = recorded.filter((l) => l.startsWith('getdents64('));
    assert.match(dents[0] ?? '', /^getdents64\(\d+, 0xADDR \/\* [1-9]\d* entries \*\/, 4096\)$/);
    assert.match(dents[1] ?? '', /^getdents64\(\d+, 0xADDR \/\* 0 entries \*\/, 4096\)$/);
    // stx_mask depends on the filesystem: the rest is fixed
    const size = statSync(join(d!.dir, 'structs')).size;
    assert.ok(
      recorded.some(
        (l) =>
          l.startsWith(
            'statx(AT_FDCWD, "structs", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_MODE|STATX_SIZE, {stx_mask=STATX_',
          ) && l.endsWith(`stx_attributes=0, stx_mode=S_IFREG|0755, stx_size=${size}, ...})`),
      ),
      'statx decoded',
    );
  });
});
