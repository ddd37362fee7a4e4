// traceloop end to end: a real daemon (its own bpffs pin directory), the real CLI with --remote,
// real podman containers.
//   - fidelity: a static test program (gadgets/traceloop/testdata/fidelity.c) crashes with
//     SIGSEGV in a container; its recording, read after it died, matches `strace -f` of the same
//     program on the host: syscall names, order per thread, return values, decoded paths, and
//     the fatal signal. Same for a non-zero exit.
//   - a restart of the daemon keeps the recordings (pinned maps) and recording goes on (the new
//     daemon adopts the programs the pinned links kept attached; e2e/traceloop-gap.test.ts has
//     what happens while no daemon runs);
//   - errors: unknown container (close matches), bad --syscall-filter, a second start,
//     an evicted recording;
//   - stop, then delete: no pins and none of traceloop's programs left in the kernel.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sleep } from './helpers/cli.js';
import { bpftoolAvailable, emptyIds, heldBy, liveObjects, waitReleased } from './helpers/bpf.js';
import { TestDaemon } from './helpers/daemon.js';
import {
  ContainerPool,
  ROOTFS_DIR,
  ensureRootfs,
  podman,
  podmanSkip,
  removeContainer,
  runContainer,
  uniqueName,
  waitFor,
} from './fixtures/podman.js';
import { buildFidelity } from '../gadgets/traceloop/testdata/build.js';

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

/** One syscall/signal/exit as both sides are compared. */
interface Call {
  tid: number;
  name: string;
  /** return value; null: did not return (exit, exit_group, killed) */
  ret: number | null;
  /** errno name when the call failed */
  error: string;
  /** quoted string arguments, in order */
  strings: string[];
}

// values that legitimately differ between two runs of the same program
const ANY_RET = new Set(['brk', 'mmap', 'mprotect_addr', 'set_tid_address', 'clone', 'clone3']);
// blocking depends on timing (pthread_join may or may not wait)
const SKIP = new Set(['futex']);

function quotedStrings(params: string): string[] {
  return [...params.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
}

/**
 * strace -f -q -s 256 output -> calls (unfinished/resumed pairs joined). Exit statuses are kept
 * for the process (its leader) only, as traceloop records them per process.
 */
function parseStrace(text: string): Call[] {
  const out: Call[] = [];
  const pending = new Map<number, string>();
  let leader = 0;
  for (const raw of text.split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) continue;
    const tid = Number(m[1]);
    leader ||= tid;
    let line = m[2]!;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(line);
    if (resumed) {
      line = (pending.get(tid) ?? `${resumed[1]}(`) + resumed[2];
      pending.delete(tid);
    } else if (line.endsWith('<unfinished ...>')) {
      pending.set(tid, line.slice(0, -'<unfinished ...>'.length));
      continue;
    }
    const sig = /^--- (SIG\w+) /.exec(line);
    if (sig) {
      out.push({ tid, name: `signal ${sig[1]}`, ret: 0, error: '', strings: [] });
      continue;
    }
    const killed = /^\+\+\+ (killed by (SIG\w+)|exited with (\d+))/.exec(line);
    if (killed && tid !== leader) continue;
    if (killed) {
      out.push({
        tid,
        name: 'exit',
        ret: killed[2] ? 128 + signalNumber(killed[2]) : Number(killed[3]),
        error: '',
        strings: [],
      });
      continue;
    }
    const call = /^(\w+)\((.*)\)\s+= (-?\d+|0x[0-9a-f]+|\?)(?: (E\w+))?/.exec(line);
    if (!call) continue;
    const ret = call[3] === '?' ? null : Number(call[3]);
    out.push({
      tid,
      name: call[1]!,
      ret: call[4] ? -1 : ret,
      error: call[4] ?? '',
      strings: quotedStrings(call[2]!),
    });
  }
  return out;
}

function signalNumber(name: string): number {
  return { SIGSEGV: 11, SIGKILL: 9, SIGABRT: 6, SIGTERM: 15, SIGBUS: 7 }[name] ?? 0;
}

/** traceloop show -o json records -> calls */
function fromTraceloop(events: Ev[]): Call[] {
  return events.map((e) => {
    const kind = e.kind as string;
    const error = (e.error as string) || '';
    let name = e.syscall as string;
    if (kind === 'signal') name = `signal ${name}`;
    if (kind === 'exit') name = 'exit';
    const ret = e.ret === null ? null : (e.ret as number);
    return {
      // a process exit is the process's (strace shows it on the leader)
      tid: kind === 'exit' ? (e.pid as number) : (e.tid as number),
      name,
      ret: error ? -1 : ret,
      error,
      strings: kind === 'syscall' ? quotedStrings(e.params as string) : [],
    };
  });
}

/** Per thread, in order of first appearance; `fromExec`: only what follows the execve. */
function threads(calls: Call[]): Call[][] {
  const by = new Map<number, Call[]>();
  for (const c of calls) {
    if (SKIP.has(c.name)) continue;
    by.set(c.tid, [...(by.get(c.tid) ?? []), c]);
  }
  return [...by.values()];
}

function norm(c: Call): string {
  const anyRet =
    ANY_RET.has(c.name) || (c.name === 'readlink' && c.strings[0] === '/proc/self/exe');
  // random bytes differ; a link's target depends on where the binary is: compare the path only
  const strings =
    c.name === 'getrandom' ? [] : c.name === 'readlink' ? c.strings.slice(0, 1) : c.strings;
  return `${c.name}(${strings.map((s) => JSON.stringify(s)).join(', ')}) = ${anyRet ? '*' : c.ret === null ? '?' : c.ret}${c.error ? ' ' + c.error : ''}`;
}

function assertSameCalls(recorded: Call[], traced: Call[], what: string): void {
  const r = threads(recorded);
  const s = threads(traced);
  assert.equal(r.length, s.length, `${what}: threads recorded ${r.length}, strace ${s.length}`);
  for (let i = 0; i < s.length; i++) {
    const want = s[i]!.map(norm);
    // the recording holds the last N syscalls: compare its tail
    const got = r[i]!.map(norm).slice(-want.length);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      writeFileSync(`/tmp/kgtest-tl-${what}-${i}.recorded`, r[i]!.map(norm).join('\n') + '\n');
      writeFileSync(`/tmp/kgtest-tl-${what}-${i}.strace`, want.join('\n') + '\n');
    }
    assert.deepEqual(got, want, `${what}: thread ${i} differs from strace`);
  }
}

describe('traceloop', { skip, concurrency: 1 }, () => {
  const pool = new ContainerPool();
  let d: TestDaemon | undefined;
  let pinDir: string;
  let dir: string;
  let fidelity: string;
  const progIds = new Set<number>();

  const cli = (args: string[]) => d!.cli(args);
  const ok = (args: string[]) => d!.ok(args);
  const json = (args: string[]): Promise<Ev[]> => d!.ndjson(args);
  const list = (): Promise<Ev[]> => d!.json(['traceloop', 'list']);
  const entryOf = async (name: string): Promise<Ev | undefined> =>
    (await list()).find((e) => (e.container as Ev).name === name);

  /** Runs the fidelity program in a container until it ends; returns its exit code. */
  const runInContainer = async (name: string, workdir: string, mode: string): Promise<number> => {
    const r = await runContainer(name, ['/t/fidelity', workdir, mode], {
      args: ['-v', `${dir}:/t:ro`],
    });
    return r.code;
  };

  before(async () => {
    ensureRootfs();
    fidelity = buildFidelity();
    d = new TestDaemon('traceloop');
    ({ dir, pinDir } = d);
    execFileSync('cp', [fidelity, join(dir, 'fidelity')]);
    await d.start();
  });

  after(async () => {
    await d?.cleanup();
    await pool.cleanup();
    for (const n of names) await removeContainer(n);
    // the programs' work directories inside the shared busybox rootfs
    for (const f of readdirSync(join(ROOTFS_DIR, 'tmp'))) {
      if (f.startsWith(`kgtest-tl`))
        rmSync(join(ROOTFS_DIR, 'tmp', f), { recursive: true, force: true });
    }
  });
  const names: string[] = [];

  test('a bad --syscall-filter names the bad syscall', async () => {
    const r = await cli(['traceloop', 'start', '--syscall-filter', 'openat,opne']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown syscall "opne" in --syscall-filter \(did you mean open/);
  });

  test('start records containers; a second start resumes the session (e2e/traceloop-cli)', async () => {
    const r = await ok(['traceloop', 'start']);
    assert.match(r.stdout, /recording on node .* the last 2048 syscalls of up to \d+ containers/);
    assert.ok(existsSync(join(pinDir, 'tl_slots')), 'maps pinned');
    const again = await ok(['traceloop', 'start']);
    assert.match(again.stdout, /already recording on node .*, resumed with its settings/);
    const held = heldBy(d!.daemon.pid).prog;
    for (const p of liveObjects().progs) {
      if (p.name?.startsWith('tl_') && held.has(p.id)) progIds.add(p.id);
    }
    assert.ok(
      progIds.size >= 4,
      `traceloop programs held by the daemon: ${[...progIds].join(',')}`,
    );
  });

  for (const mode of ['segv', 'exit'] as const) {
    test(`fidelity: a container that ${mode === 'segv' ? 'crashes with SIGSEGV' : 'exits with 7'}, read after it died, matches strace -f`, async () => {
      const name = uniqueName(`tl-${mode}`);
      names.push(name);
      const workdir = `/tmp/kgtest-tlfid-${process.pid}-${mode}`;
      const code = await runInContainer(name, workdir, mode);
      assert.equal(code, mode === 'segv' ? 139 : 7);

      // the container is gone; its recording stays, named and marked exited
      const entry = await waitFor(async () => {
        const e = await entryOf(name);
        return e && (e.container as Ev).state === 'exited' ? e : undefined;
      }, 15_000);
      assert.equal(entry.status, 'container-exited');
      assert.ok((entry.records as number) > 40, `records held: ${String(entry.records)}`);
      assert.equal((entry.container as Ev).exitedAt !== undefined, true);

      const events = await json(['traceloop', 'show', name]);
      for (const e of events) {
        for (const k of [
          'timestamp',
          'cpu',
          'pid',
          'tid',
          'comm',
          'syscall',
          'params',
          'ret',
          'error',
        ]) {
          assert.ok(k in e, `field ${k} in ${JSON.stringify(e)}`);
        }
      }
      // the program's own records: after runc's execve of it
      const execAt = events.findIndex(
        (e) =>
          e.syscall === 'execve' && String(e.params).startsWith('"/t/fidelity"') && e.ret === 0,
      );
      assert.ok(execAt >= 0, 'the execve of the program is recorded');
      // runc init's other (Go) threads die during the execve: only the program's own records
      const prog = events.slice(execAt + 1).filter((e) => e.comm === 'fidelity');

      const out = join(dir, `strace-${mode}`);
      const hostDir = `/tmp/kgtest-tlfid-${process.pid}-${mode}`;
      rmSync(hostDir, { recursive: true, force: true });
      try {
        execFileSync(
          'strace',
          ['-f', '-q', '-s', '256', '-o', out, join(dir, 'fidelity'), hostDir, mode],
          {
            stdio: 'ignore',
          },
        );
      } catch {
        /* the program crashes or exits 7 on purpose */
      }
      rmSync(hostDir, { recursive: true, force: true });
      const traced = parseStrace(readFileSync(out, 'utf8')).slice(1); // after its execve
      assertSameCalls(fromTraceloop(prog), traced, mode);

      // what the user looks for first: the end
      const last = prog.slice(-3);
      if (mode === 'segv') {
        assert.equal(last[0]!.syscall, 'write');
        assert.equal(last[1]!.kind, 'signal');
        assert.equal(last[1]!.syscall, 'SIGSEGV');
        assert.match(String(last[1]!.params), /si_code=SEGV_MAPERR, si_addr=NULL.*fatal/);
        assert.equal(last[2]!.kind, 'exit');
        assert.match(String(last[2]!.params), /killed by SIGSEGV/);
      } else {
        assert.equal(last[1]!.syscall, 'exit_group');
        assert.equal(last[1]!.ret, null);
        assert.equal(last[2]!.kind, 'exit');
        assert.equal(last[2]!.params, 'exited with 7');
      }
      // a path, an error and its errno name, as the columns show them
      const table = (await ok(['traceloop', 'show', name, '--last', '60'])).stdout;
      assert.match(table.split('\n')[0]!, /^TIME\s+CPU\s+PID\s+COMM\s+SYSCALL\s+PARAMS\s+RET$/);
      assert.match(
        table,
        /openat\s+AT_FDCWD, "\/tmp\/kgtest-tlfid-[^"]+\/does-not-exist", O_RDONLY\s+ENOENT/,
      );
    });
  }

  test('show: an unknown container gives "no recording for X" and the close matches', async () => {
    const segv = names.find((n) => n.includes('tl-segv'))!;
    const typo = segv.slice(0, -1) + 'x';
    const r = await cli(['traceloop', 'show', typo]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`no recording for ${typo}; close matches: .*${segv}`));
  });

  test('a restart of the daemon keeps the recordings, and recording goes on', async () => {
    const segv = names.find((n) => n.includes('tl-segv'))!;
    const before = await json(['traceloop', 'show', segv]);
    await d!.stop('SIGTERM');
    assert.ok(existsSync(join(pinDir, 'tl_slots')), 'pins survive the daemon');
    await d!.start();
    const afterRestart = await json(['traceloop', 'show', segv]);
    // the same records; wall-clock times may move by the clock offset the new daemon measures
    const strip = (evs: Ev[]): Ev[] => evs.map(({ timestamp: _t, ...rest }) => rest);
    assert.deepEqual(strip(afterRestart), strip(before));
    afterRestart.forEach((e, i) => {
      const d = Date.parse(String(e.timestamp)) - Date.parse(String(before[i]!.timestamp));
      assert.ok(Math.abs(d) <= 5, `timestamp moved by ${d} ms`);
    });
    const e = await entryOf(segv);
    assert.equal((e!.container as Ev).state, 'exited');

    // a container started after the restart is recorded from its first syscall
    const name = uniqueName('tl-after');
    names.push(name);
    assert.equal(await runInContainer(name, `/tmp/kgtest-tlfid-${process.pid}-after`, 'exit'), 7);
    const events = await waitFor(async () => {
      const ev = await json(['traceloop', 'show', name]).catch(() => undefined);
      return ev && ev.length > 0 ? ev : undefined;
    }, 15_000);
    assert.match(String(events[0]!.comm), /runc|exe/, `first record: ${JSON.stringify(events[0])}`);
    assert.equal(events.at(-1)!.params, 'exited with 7');
  });

  test('a restarted container: the newest instance is shown, the others are listed', async () => {
    const name = uniqueName('tl-restart');
    names.push(name);
    await runContainer(name, ['/t/fidelity', '/tmp/kgtest-tl-r1', 'exit'], {
      args: ['-d', '-v', `${dir}:/t:ro`],
    });
    await podman(['wait', name]);
    await podman(['start', name]);
    await podman(['wait', name]);
    const instances = await waitFor(async () => {
      const l = (await list()).filter((e) => (e.container as Ev).name === name);
      return l.length >= 2 ? l : undefined;
    }, 15_000);
    const newest = Math.max(...instances.map((e) => e.instance as number));
    const oldest = Math.min(...instances.map((e) => e.instance as number));
    const r = await ok(['traceloop', 'show', name, '--last', '3']);
    assert.match(r.stderr, new RegExp(`showing instance ${newest}; other instances: ${oldest} `));
    const picked = await ok([
      'traceloop',
      'show',
      name,
      '--instance',
      String(oldest),
      '--last',
      '1',
    ]);
    assert.match(picked.stdout, /exited with 7/);
  });

  test('stop: no programs, no pins; recordings stay readable until delete', async () => {
    await ok(['traceloop', 'stop']);
    assert.equal(existsSync(pinDir), false, 'pin directory removed');
    // the daemon restart adopted these programs: they ran until stop. The kernel frees a program
    // after its link, once an RCU grace period has passed.
    const stopped = emptyIds();
    for (const id of progIds) stopped.prog.add(id);
    await waitReleased(stopped, 10_000, 'the programs after stop');
    const segv = names.find((n) => n.includes('tl-segv'))!;
    assert.ok((await json(['traceloop', 'show', segv])).length > 0);
    const l = await list();
    assert.ok(l.every((e) => e.status !== 'recording'));
    await ok(['traceloop', 'delete']);
    const gone = await cli(['traceloop', 'list']);
    assert.equal(gone.code, 0);
    assert.equal(gone.stdout.trim().split('\n').length <= 1, true, gone.stdout);
  });

  test('the memory cap evicts the oldest recordings of exited containers first, and says so', async (t) => {
    if (!bpftoolAvailable()) return t.skip('needs bpftool');
    const a = uniqueName('tl-evict-a');
    const b = uniqueName('tl-evict-b');
    const c = uniqueName('tl-evict-c');
    names.push(a, b, c);
    // 1024 syscalls per container in 1 MiB: room for 2 recordings
    const r = await ok([
      'traceloop',
      'start',
      '--syscalls',
      '1024',
      '--max-memory',
      '1',
      '--containername',
      a,
      '--containername',
      b,
      '--containername',
      c,
    ]);
    assert.match(r.stdout, /up to 2 containers/);
    for (const n of [a, b, c]) {
      assert.equal(await runInContainer(n, `/tmp/kgtest-tlfid-${process.pid}-${n}`, 'exit'), 7);
      await sleep(1500); // named by the daemon before the next one
    }
    // a is the oldest exited recording: evicted first, and `show` says so
    const shown = await cli(['traceloop', 'show', a]);
    assert.equal(shown.code, 1);
    assert.match(
      shown.stderr,
      new RegExp(`the recording of ${a} \\(instance \\d+\\) was evicted .*memory cap`),
    );
    const l = await list();
    const status = (n: string): unknown => l.find((e) => (e.container as Ev).name === n)?.status;
    assert.equal(status(a), 'evicted');
    // Containers of other users of this node are claimed too until the daemon tells they are
    // outside the filter (a second or so), and evict like anything else. Whatever was evicted,
    // it was the oldest exited recordings first.
    if (status(c) === 'evicted') assert.equal(status(b), 'evicted');
    if (status(c) !== 'evicted') {
      const shownC = await cli(['traceloop', 'show', c]);
      assert.equal(
        shownC.code,
        0,
        `${shownC.stderr}\n${(await cli(['traceloop', 'list'])).stdout}`,
      );
    }
    await ok(['traceloop', 'delete']);
    assert.equal(existsSync(pinDir), false);
  });
});
