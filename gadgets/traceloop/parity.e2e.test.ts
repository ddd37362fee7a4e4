// traceloop against strace on real programs (issue 17): each program runs in a podman container of
// the busybox rootfs while traceloop records it, then in the same kind of container under
// `strace -f -qq -s 64` (strace and its libraries copied into the rootfs). Both sides become one
// `name(params) = ret` line per call (gadgets/traceloop/parity.ts normalises addresses and pids
// and joins strace's unfinished/resumed halves), compared line by line; the share of identical
// lines and the differing lines are printed, and each share is held above a measured floor.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../../e2e/helpers/daemon.js';
import {
  ensureRootfs,
  podmanSkip,
  REPO_ROOT,
  removeContainer,
  runContainer,
  uniqueName,
  waitFor,
} from '../../e2e/fixtures/podman.js';
import { compare, fromStrace, fromTraceloop } from './parity.js';

const STRACE = '/usr/bin/strace';
const skip = podmanSkip() || (!existsSync(STRACE) && 'needs strace');
const ROOTFS = join(REPO_ROOT, 'build', 'rootfs', 'parity');

/** The busybox rootfs with strace and its libraries, a page for httpd and a request for nc. */
function parityRootfs(): string {
  rmSync(ROOTFS, { recursive: true, force: true });
  cpSync(ensureRootfs(), ROOTFS, { recursive: true, verbatimSymlinks: true });
  const libs = execFileSync('ldd', [STRACE], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
  for (const f of [STRACE, ...libs]) {
    mkdirSync(join(ROOTFS, dirname(f)), { recursive: true });
    cpSync(f, join(ROOTFS, f), { dereference: true });
  }
  mkdirSync(join(ROOTFS, 'www'), { recursive: true });
  const page = 'hello from httpd\n'.repeat(20);
  writeFileSync(join(ROOTFS, 'www', 'index.html'), page);
  // wget's page: httpd passes a CGI's output that starts with `HTTP` on in one write, so wget
  // reads the whole response at once in every run (a file is sent as headers, then body: one
  // read or two, by timing, which strace changes)
  mkdirSync(join(ROOTFS, 'www', 'cgi-bin'));
  writeFileSync(
    join(ROOTFS, 'www', 'page'),
    `HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${page.length}\r\n\r\n${page}`,
  );
  writeFileSync(join(ROOTFS, 'www', 'cgi-bin', 'page'), '#!/bin/sh\ncat /www/page\n', {
    mode: 0o755,
  });
  writeFileSync(join(ROOTFS, 'req'), 'GET /index.html HTTP/1.0\r\n\r\n');
  // nc's server: reads the request, sends the page in one write, closes 0.5 s later, so nc's
  // polls see the data alone and then the close alone in every run (with httpd, whether the
  // close came with the data depended on timing, which strace changes)
  writeFileSync(join(ROOTFS, 'srv.sh'), 'head -n 1 >/dev/null\ncat /www/index.html\nsleep 0.5\n');
  return ROOTFS;
}

interface Case {
  name: string;
  /** shell commands run first (a server), not compared */
  setup: string;
  /** the program: argv, then a shell redirection of its stdin, if any */
  argv: string[];
  stdin?: string;
  /** share of identical lines it must keep (measured: docs/traceloop.md) */
  floor: number;
}

/** issue 17's target, and each program's floor: every run since the workloads were made
 * deterministic (2026-12-07, docs/traceloop.md) measured 98.5-100% */
const TARGET = 0.95;
const HTTPD = 'httpd -p 127.0.0.1:8080 -h /www';
/** a one-connection server (srv.sh), waited for until it listens */
const NC_SERVER =
  'nc -l -p 8080 -e /bin/sh /srv.sh & while ! netstat -ltn | grep -q :8080; do usleep 10000; done';
const CASES: Case[] = [
  {
    name: 'wget',
    setup: HTTPD,
    argv: ['/bin/wget', '-q', '-O', '/tmp/page', 'http://127.0.0.1:8080/cgi-bin/page'],
    floor: TARGET,
  },
  { name: 'ls -l', setup: ':', argv: ['/bin/ls', '-l', '/etc'], floor: TARGET },
  { name: 'cat', setup: ':', argv: ['/bin/cat', '/etc/passwd'], floor: TARGET },
  {
    name: 'sh pipeline',
    setup: ':',
    argv: ['/bin/sh', '-c', 'cat /etc/passwd | grep root | wc -l'],
    floor: TARGET,
  },
  {
    name: 'nc (sockets, poll)',
    setup: NC_SERVER,
    argv: ['/bin/nc', '127.0.0.1', '8080'],
    stdin: '/req',
    floor: TARGET,
  },
];

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The container's command: setup, then exec the program (under strace when `out` is given). */
function command(c: Case, out?: string): string[] {
  const prefix = out ? `exec ${STRACE} -f -qq -s 64 -o ${out} ` : 'exec ';
  const redirect = c.stdin ? ` < ${c.stdin}` : '';
  return ['/bin/sh', '-c', `${c.setup}; ${prefix}${c.argv.map(q).join(' ')}${redirect}`];
}

describe('traceloop show against strace -f on real programs', { skip, concurrency: 1 }, () => {
  let d: TestDaemon | undefined;
  const names: string[] = [];
  let rootfs = '';

  before(async () => {
    rootfs = parityRootfs();
    d = new TestDaemon('traceloop-parity');
    await d.start();
  });
  after(async () => {
    for (const n of names) await removeContainer(n);
    await d?.cleanup();
    rmSync(ROOTFS, { recursive: true, force: true });
  });

  for (const c of CASES) {
    test(c.name, async () => {
      // the host's pid namespace: clone's return value is the pid traceloop records
      // no /etc/hosts naming the container: both runs read the same files
      const args = ['--pid=host', '--network=none', '--no-hosts', '-v', `${d!.dir}:/out`];
      const name = uniqueName('tl-parity');
      names.push(name);
      await d!.cli(['traceloop', 'delete']); // the previous program's session
      await d!.ok(['traceloop', 'start', '--containername', name, '--syscalls', '16384']);
      const r = await runContainer(name, command(c), { rootfs, args });
      assert.equal(r.code, 0, r.stderr);
      const exec = `${JSON.stringify(c.argv[0])}, [${c.argv.map((a) => JSON.stringify(a)).join(', ')}]`;
      let last = '';
      const events = await waitFor(async () => {
        // a container that lived a moment may be named to the daemon after it ended: until
        // then `show` finds no recording for the name, so that is asked again
        const r = await d!.cli(['traceloop', 'show', name, '-o', 'json']);
        last = r.stderr;
        if (r.code !== 0) return undefined;
        const evs = r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const start = evs.find((e) => e.syscall === 'execve' && String(e.params).startsWith(exec));
        return start && evs.some((e) => e.kind === 'exit' && e.pid === start.pid) ? evs : undefined;
      }, 20_000).catch((err: Error) => {
        throw new Error(
          `${err.message}; last show: ${last.trim() || 'no exit of the program yet'}`,
        );
      });
      // the RET column as `show` prints it, record for record (the recording is complete)
      const table = (await d!.ok(['traceloop', 'show', name, '-o', 'columns=ret'])).stdout;
      const rets = table.split('\n').slice(1, events.length + 1);
      assert.equal(rets.length, events.length, 'one RET a record');
      const recorded = fromTraceloop(
        events.map((e, i) => ({ ...e, retText: rets[i]!.trim() })),
        exec,
      );

      const sname = uniqueName('tl-parity-strace');
      names.push(sname);
      const out = join(d!.dir, 'strace.out');
      rmSync(out, { force: true });
      const s = await runContainer(sname, command(c, '/out/strace.out'), { rootfs, args });
      assert.equal(s.code, 0, s.stderr);
      const traced = fromStrace(readFileSync(out, 'utf8'));

      const p = compare(traced.lines, recorded.lines);
      process.stderr.write(
        `parity ${c.name}: ${p.same}/${Math.max(p.strace, p.traceloop)} lines identical ` +
          `(${(100 * p.share).toFixed(1)}%; strace ${p.strace} lines in ${traced.pids.length} ` +
          `processes, traceloop ${p.traceloop} in ${recorded.pids.length})\n` +
          p.diffs.map((l) => `  ${l}\n`).join(''),
      );
      assert.equal(recorded.pids.length, traced.pids.length, 'the same processes');
      assert.ok(p.share >= c.floor, `${(100 * p.share).toFixed(1)}% < ${100 * c.floor}%`);
    });
  }
});
