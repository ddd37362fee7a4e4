// trace exec --local on the real kernel: the workload (e2e/workloads/kg-workload.c) execs known
// programs and prints ground truth; each test asserts the exact events of the workload's pid,
// every field, and that no other event of that pid appeared.

import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { descriptor as traceExec } from './gadget.js';
import { CLI, Cli, marker, notInCi, readyExec, runQuiet, sleep } from '../../e2e/helpers/cli.js';
import type { Ev } from '../../e2e/helpers/cli.js';
import {
  assertFields,
  assertKeys,
  assertOrdered,
  assertTimestamp,
  byPid,
  describe as show,
  escaped,
  eventKeys,
} from '../../e2e/helpers/events.js';
import {
  execIn,
  podmanAvailable,
  removeContainer,
  startContainer,
  uniqueName,
} from '../../e2e/fixtures/podman.js';
import { abandonAll, finishTraced, startTraced } from '../../e2e/helpers/trace.js';
import type { Traced } from '../../e2e/helpers/trace.js';
import {
  hexBytes,
  hostMntns,
  NODE_NAME,
  runWorkload,
  selfComm,
  truth,
  WORKLOAD,
  workloadBuilt,
} from '../../e2e/helpers/workload.js';
import type { WorkloadRun } from '../../e2e/helpers/workload.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const SETPRIV = '/usr/bin/setpriv';

/** Waits for `n` events of `pid`, lets late ones arrive, and asserts there are exactly `n`. */
async function eventsOf(cli: Cli, pid: number, n: number, timeoutMs = 10_000): Promise<Ev[]> {
  await cli.waitUntil(
    () => byPid(cli.events, pid).length >= n,
    timeoutMs,
    `${n} event(s) of pid ${pid}`,
  );
  await sleep(300);
  const evs = byPid(cli.events, pid);
  assert.equal(evs.length, n, `events of pid ${pid}:\n${show(evs)}`);
  return evs;
}

/** Fields every host event has (no container, this node, the host's mount namespace). */
function onHost(): Record<string, unknown> {
  return {
    node: NODE_NAME,
    namespace: '',
    pod: '',
    container: '',
    container_id: '',
    runtime: '',
    mntns_id: hostMntns(),
  };
}

/** The exec by which this test process (node) started `run`: argv as spawned. */
function spawnExec(run: WorkloadRun, argv: string[], cwd: string, exepath: string, comm: string) {
  return {
    ...onHost(),
    pid: run.pid,
    tid: run.pid,
    uid: 0,
    gid: 0,
    comm,
    ppid: process.pid,
    pcomm: selfComm(),
    ret: 0,
    error: '',
    args: argv,
    args_truncated: false,
    cwd,
    exepath,
  };
}

/** Fields of an exec that the exec'd workload's `whoami` line vouches for. */
function fromWhoami(who: Record<string, unknown>) {
  return {
    pid: who.pid,
    uid: who.uid,
    gid: who.gid,
    comm: escaped(hexBytes(who.comm)),
    ppid: who.ppid,
    pcomm: escaped(hexBytes(who.pcomm)),
    cwd: escaped(hexBytes(who.cwd)),
    exepath: escaped(hexBytes(who.exe)),
  };
}

function checkAll(evs: Ev[], run: WorkloadRun): void {
  for (const e of evs) {
    assertKeys(e, eventKeys(traceExec));
    assertTimestamp(e, run.startMs, run.endMs);
  }
  assertOrdered(evs);
}

describe('trace exec --local', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  let dir: string;
  let wl: string;
  let t: Traced | undefined;

  before(async () => {
    assert.ok(workloadBuilt(), `${WORKLOAD} missing: run npm run build`);
    wl = realpathSync(WORKLOAD);
    dir = realpathSync(mkdtempSync('/tmp/kgtest-exec-'));
    t = await startTraced(['trace', 'exec', '--local', '-o', 'json'], (cli) => readyExec(cli));
  });

  after(async () => {
    await abandonAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a successful exec: argv[0], empty and spaced args, comm, ppid, pcomm, cwd, exepath', async () => {
    const argv = ['kg-argv0', 'whoami', 'one', '', 'two words'];
    const run = await runWorkload(['exec', wl, ...argv], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const who = truth(run, 'whoami');
    assert.equal(who.pid, run.pid);
    const evs = await eventsOf(t!.cli, run.pid, 2);
    checkAll(evs, run);
    assertFields(
      evs[0]!,
      spawnExec(run, [wl, 'exec', wl, ...argv], dir, wl, 'kg-workload'),
      'the spawn',
    );
    assertFields(
      evs[1]!,
      {
        ...onHost(),
        ...fromWhoami(who),
        tid: run.pid,
        ret: 0,
        error: '',
        args: argv,
        args_truncated: false,
      },
      'the exec',
    );
    // the ground truth itself, so the comparison above is not vacuous
    assert.equal(evs[1]!.comm, 'kg-workload');
    assert.equal(evs[1]!.ppid, process.pid);
    assert.equal(evs[1]!.cwd, dir);
    assert.equal(evs[1]!.exepath, wl);
  });

  test('failed execs (ENOENT, EACCES) are reported with the caller as comm', async () => {
    const missing = `/nonexistent-${marker('dir')}/prog`;
    const noexec = join(dir, 'not-executable.sh');
    writeFileSync(noexec, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    for (const [path, ret, error] of [
      [missing, -2, 'ENOENT'],
      [noexec, -13, 'EACCES'],
    ] as const) {
      const run = await runWorkload(['exec-fail', path], { cwd: dir });
      assert.equal(truth(run, 'exec-fail').ret, ret, 'the workload saw the exec fail');
      const evs = await eventsOf(t!.cli, run.pid, 2);
      checkAll(evs, run);
      assertFields(evs[0]!, spawnExec(run, [wl, 'exec-fail', path], dir, wl, 'kg-workload'));
      assertFields(
        evs[1]!,
        {
          ...onHost(),
          pid: run.pid,
          tid: run.pid,
          uid: 0,
          gid: 0,
          comm: 'kg-workload',
          ppid: process.pid,
          pcomm: selfComm(),
          ret,
          error,
          args: [path, 'arg1'],
          args_truncated: false,
          cwd: dir,
          exepath: path,
        },
        `failed exec ${error}`,
      );
    }
  });

  test('a failed exec keeps 100 arguments', async () => {
    const missing = `/nonexistent-${marker('dir')}/prog`;
    const argv = Array.from({ length: 100 }, (_, i) => `arg-${i}`);
    const run = await runWorkload(['exec', missing, ...argv], { cwd: dir });
    assert.equal(truth(run, 'exec-error').ret, -2);
    const evs = await eventsOf(t!.cli, run.pid, 2);
    checkAll(evs, run);
    assertFields(evs[1]!, {
      pid: run.pid,
      tid: run.pid,
      comm: 'kg-workload',
      ret: -2,
      error: 'ENOENT',
      args: argv,
      args_truncated: false,
      exepath: missing,
    });
  });

  test('fileless exec: execveat(memfd, "", AT_EMPTY_PATH)', async () => {
    const run = await runWorkload(['memfd-exec', wl, 'kg-memfd-argv0', 'whoami'], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const who = truth(run, 'whoami');
    assert.equal(who.pid, run.pid);
    assert.ok(
      hexBytes(who.exe).toString().startsWith('/memfd:kg-fileless'),
      hexBytes(who.exe).toString(),
    );
    const evs = await eventsOf(t!.cli, run.pid, 2);
    checkAll(evs, run);
    assertFields(
      evs[0]!,
      spawnExec(run, [wl, 'memfd-exec', wl, 'kg-memfd-argv0', 'whoami'], dir, wl, 'kg-workload'),
    );
    const { exepath: _exe, ...who2 } = fromWhoami(who);
    assertFields(evs[1]!, {
      ...onHost(),
      ...who2,
      tid: run.pid,
      ret: 0,
      error: '',
      args: ['kg-memfd-argv0', 'whoami'],
      args_truncated: false,
      // /proc/self/exe says "/memfd:kg-fileless (deleted)": the tracer leaves out the suffix
      exepath: '/memfd:kg-fileless',
    });
  });

  test('exec from a thread that is not the leader: pid stays, tid is the calling thread', async () => {
    const run = await runWorkload(['thread-exec', wl, 'whoami'], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const th = truth(run, 'thread-exec');
    const who = truth(run, 'whoami');
    assert.equal(th.pid, run.pid);
    assert.notEqual(th.tid, run.pid, 'the exec came from another thread');
    assert.equal(who.pid, run.pid);
    assert.equal(who.tid, run.pid, 'after the exec the process has one thread');
    const evs = await eventsOf(t!.cli, run.pid, 2);
    checkAll(evs, run);
    assertFields(
      evs[0]!,
      spawnExec(run, [wl, 'thread-exec', wl, 'whoami'], dir, wl, 'kg-workload'),
    );
    assertFields(evs[1]!, {
      ...onHost(),
      ...fromWhoami(who),
      tid: th.tid,
      ret: 0,
      error: '',
      args: [wl, 'whoami'],
      args_truncated: false,
    });
  });

  test('100 arguments, and 2000 one-byte arguments, are kept whole', async () => {
    for (const argv of [
      ['/bin/true', ...Array.from({ length: 99 }, (_, i) => `a${i}`)],
      ['/bin/true', ...Array.from({ length: 1999 }, () => 'x')],
    ]) {
      const run = await runWorkload(argv.slice(1), { program: '/bin/true', cwd: dir });
      assert.equal(run.code, 0);
      const [e] = await eventsOf(t!.cli, run.pid, 1);
      checkAll([e!], run);
      assertFields(
        e!,
        spawnExec(run, argv, dir, realpathSync('/bin/true'), 'true'),
        `${argv.length} args`,
      );
    }
  });

  test('argv over 16 KiB: args_truncated, and at least 64 arguments / 16 KiB kept', async () => {
    // 120 arguments of 200 bytes (NUL included): 24000 bytes
    const argv = [
      '/bin/true',
      ...Array.from({ length: 119 }, (_, i) => `${String(i).padStart(3, '0')}-${'y'.repeat(195)}`),
    ];
    const run = await runWorkload(argv.slice(1), { program: '/bin/true', cwd: dir });
    const [e] = await eventsOf(t!.cli, run.pid, 1);
    checkAll([e!], run);
    const {
      args: _a,
      args_truncated: _t,
      ...rest
    } = spawnExec(run, argv, dir, realpathSync('/bin/true'), 'true');
    assertFields(e!, rest);
    assert.equal(e!.args_truncated, true);
    const args = e!.args as string[];
    assert.ok(args.length >= 64, `kept ${args.length} arguments`);
    assert.ok(args.length < argv.length, `kept ${args.length} of ${argv.length}`);
    // every kept argument is the one passed; only the last one may be cut short
    args.slice(0, -1).forEach((a, i) => assert.equal(a, argv[i], `argument ${i}`));
    const last = args.length - 1;
    assert.ok(argv[last]!.startsWith(args[last]!), `last kept argument ${last}: ${args[last]}`);
    const bytes = args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
    assert.ok(bytes >= 16 * 1024, `kept ${bytes} bytes of argv (NULs included)`);
  });

  test('bytes that are not UTF-8 in args, comm, cwd and exepath are escaped as \\xNN', async () => {
    const sub = Buffer.concat([Buffer.from(dir + '/cwd-'), Buffer.from([0xff])]);
    mkdirSync(sub);
    const bin = Buffer.concat([sub, Buffer.from('/kg-'), Buffer.from([0xfe]), Buffer.from('-bin')]);
    copyFileSync(wl, bin);
    chmodSync(bin, 0o755);
    const run = await runWorkload(['exec-badutf8', dir], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const who = truth(run, 'whoami');
    const evs = await eventsOf(t!.cli, run.pid, 2);
    checkAll(evs, run);
    assertFields(evs[0]!, spawnExec(run, [wl, 'exec-badutf8', dir], dir, wl, 'kg-workload'));
    assertFields(evs[1]!, {
      ...onHost(),
      ...fromWhoami(who),
      tid: run.pid,
      ret: 0,
      args: ['kg-\\xfe-bin', 'whoami', 'bad-\\xff\\xfe-arg', 'café'],
      args_truncated: false,
    });
    // the oracle agrees with the literal expectation
    assert.equal(evs[1]!.comm, 'kg-\\xfe-bin');
    assert.equal(evs[1]!.cwd, `${dir}/cwd-\\xff`);
    assert.equal(evs[1]!.exepath, `${dir}/cwd-\\xff/kg-\\xfe-bin`);
  });

  test('uid and gid are the real ids (setpriv to 65534; real-only change)', async () => {
    for (const [wrapper, euid] of [
      [[SETPRIV, '--reuid', '65534', '--regid', '65534', '--clear-groups'], 65534],
      [[SETPRIV, '--ruid', '65534', '--rgid', '65534', '--keep-groups'], 0],
    ] as const) {
      const run = await runWorkload(['whoami'], { wrapper: [...wrapper], cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      const who = truth(run, 'whoami');
      assert.equal(who.uid, 65534);
      assert.equal(who.euid, euid);
      const evs = await eventsOf(t!.cli, run.pid, 2);
      checkAll(evs, run);
      assertFields(
        evs[0]!,
        spawnExec(run, [...wrapper, wl, 'whoami'], dir, realpathSync(SETPRIV), 'setpriv'),
        'setpriv',
      );
      assertFields(evs[1]!, {
        ...onHost(),
        ...fromWhoami(who),
        tid: run.pid,
        uid: 65534,
        gid: 65534,
        ret: 0,
        args: [wl, 'whoami'],
      });
    }
  });

  test('stops on SIGINT with exit 0 and leaves nothing loaded', async () => {
    const x = await finishTraced(t!);
    assert.equal(x.code, 0);
  });
});

describe('trace exec --local --ignore-failed', { skip: !isRoot && 'needs root' }, () => {
  let t: Traced | undefined;
  let dir: string;
  before(() => {
    dir = realpathSync(mkdtempSync('/tmp/kgtest-exec-'));
  });
  after(async () => {
    await abandonAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test('drops failed execs, keeps successful ones', async () => {
    const wl = realpathSync(WORKLOAD);
    t = await startTraced(['trace', 'exec', '--local', '-o', 'json', '--ignore-failed'], (cli) =>
      readyExec(cli),
    );
    const noexec = join(dir, 'not-executable.sh');
    writeFileSync(noexec, '#!/bin/sh\n', { mode: 0o644 });
    const missing = `/nonexistent-${marker('dir')}/prog`;
    for (const [path, ret] of [
      [missing, -2],
      [noexec, -13],
    ] as const) {
      const run = await runWorkload(['exec-fail', path], { cwd: dir });
      assert.equal(truth(run, 'exec-fail').ret, ret);
      const evs = await eventsOf(t.cli, run.pid, 1);
      assertFields(evs[0]!, spawnExec(run, [wl, 'exec-fail', path], dir, wl, 'kg-workload'));
    }
    const ok = await runWorkload(['exec', wl, 'kg-ok', 'whoami'], { cwd: dir });
    const evs = await eventsOf(t.cli, ok.pid, 2);
    assert.deepEqual(evs[1]!.args, ['kg-ok', 'whoami']);
    assert.equal(
      t.cli.events.filter((e) => e.ret !== 0).length,
      0,
      `no failed exec at all:\n${show(t.cli.events.filter((e) => e.ret !== 0))}`,
    );
    await finishTraced(t);
  });
});

/** ESC/OSC/CSI and C1 sequences a recorded argv may hold: none may reach a terminal raw. */
const EVIL_ARGV0 = '\u001b]0;kg-pwn\u0007\u001b[2J\u009b1m';
const EVIL_ESCAPED = '\\x1b]0;kg-pwn\\x07\\x1b[2J\\x9b1m';
/** The same, short enough for the ARGS column of an 80-column terminal. */
const TTY_ARGV0 = '\u001b]0;P\u0007\u009b1m';
const TTY_ESCAPED = '\\x1b]0;P\\x07\\x9b1m';

/** Waits until the CLI's text output shows `/bin/true <marker>` (its gadget is attached). */
async function readyText(cli: Cli, timeoutMs = 30_000): Promise<void> {
  const m = marker('ready');
  const deadline = Date.now() + timeoutMs;
  while (!cli.stdout.includes(m)) {
    if (!cli.running) throw new Error(`CLI exited before it was ready: ${cli.describeExit()}`);
    if (Date.now() > deadline) throw new Error(`not ready: stderr ${cli.stderr}`);
    await runQuiet('/bin/true', [m]);
    await sleep(100);
  }
}

describe(
  'trace exec --local, human-readable output',
  { skip: !isRoot && 'needs root', concurrency: 1 },
  () => {
    let dir: string;
    let wl: string;
    before(() => {
      assert.ok(workloadBuilt(), `${WORKLOAD} missing: run npm run build`);
      wl = realpathSync(WORKLOAD);
      dir = realpathSync(mkdtempSync('/tmp/kgtest-ux-'));
    });
    after(async () => {
      await abandonAll();
      rmSync(dir, { recursive: true, force: true });
    });

    test('-o columns=PID,ARGS (header names) on a pipe: an argv with ESC/OSC/C1 is printed escaped', async () => {
      const cli = new Cli(['trace', 'exec', '--local', '-o', 'columns=PID,ARGS']);
      try {
        await readyText(cli);
        const run = await runWorkload(['exec', wl, EVIL_ARGV0, 'whoami'], { cwd: dir });
        assert.equal(run.code, 0, run.stderr);
        const row = `${String(run.pid).padStart(7)}  ${EVIL_ESCAPED} whoami`;
        await cli.waitUntil(() => cli.stdout.includes(row), 10_000, `the row ${row}`);
        const x = await cli.stop('SIGINT');
        assert.equal(x.code, 0, cli.describeExit());
        assert.match(x.stdout, /^ {4}PID {2}ARGS\n/);
        assert.ok(
          !x.stdout.includes('\u001b') && !x.stdout.includes('\u009b'),
          'no raw ESC or CSI',
        );
        assert.equal(x.stderr, '');
      } finally {
        await cli.stop('SIGKILL');
      }
    });

    test('piped columns keep their widths: rows after a wider value line up with the header', async () => {
      const long = join(dir, 'a-directory-name-wider-than-its-column');
      mkdirSync(long);
      const cli = new Cli(['trace', 'exec', '--local', '-o', 'columns=pid,cwd,args']);
      try {
        await readyText(cli);
        const runs = [];
        for (const cwd of ['/', long, '/']) {
          const m = marker('cols');
          const r = await runWorkload([m], { program: '/bin/true', cwd });
          runs.push({ pid: r.pid, m });
          await cli.waitUntil(() => cli.stdout.includes(m), 10_000, `the exec of ${m}`);
        }
        const x = await cli.stop('SIGINT');
        assert.equal(x.code, 0, cli.describeExit());
        const lines = x.stdout.split('\n');
        const header = lines[0]!;
        assert.match(header, /^ {4}PID {2}CWD {15}ARGS$/);
        const rowOf = (m: string): string => lines.find((l) => l.endsWith(`/bin/true ${m}`))!;
        const [before, wide, after] = runs.map((r) => rowOf(r.m));
        assert.equal(
          before,
          `${String(runs[0]!.pid).padStart(7)}  /${' '.repeat(15)}  /bin/true ${runs[0]!.m}`,
        );
        // the wider value is printed whole, and pushes only its own row
        assert.equal(wide, `${String(runs[1]!.pid).padStart(7)}  ${long}  /bin/true ${runs[1]!.m}`);
        assert.equal(
          after,
          `${String(runs[2]!.pid).padStart(7)}  /${' '.repeat(15)}  /bin/true ${runs[2]!.m}`,
        );
        assert.equal(after!.indexOf('/bin/true'), header.indexOf('ARGS'));
      } finally {
        await cli.stop('SIGKILL');
      }
    });

    test('live view on an 80-column terminal: every gadget column fits, argv escaped', async () => {
      // a real pseudo-terminal (script), 80x30
      const cmd = `stty cols 80 rows 30; exec ${notInCi()} ${process.execPath} ${CLI} trace exec --local --timeout 15`;
      const tty = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, TERM: 'xterm' },
      });
      let raw = '';
      tty.stdout.setEncoding('utf8');
      tty.stdout.on('data', (d: string) => (raw += d));
      const exited = new Promise<number | null>((r) => tty.on('close', (c) => r(c)));
      try {
        // attached once the status line is drawn, and the tracer sees execs
        const deadline = Date.now() + 30_000;
        let m = '';
        while (Date.now() < deadline) {
          // short enough for the ARGS column of an 80-column terminal
          m = `/bin/true ${randomBytes(3).toString('hex')}`;
          await runQuiet('/bin/true', [m.slice(10)]);
          await sleep(300);
          if (raw.includes(m)) break;
        }
        assert.ok(raw.includes(m), `the view never showed an exec:\n${raw.slice(-2000)}`);
        const run = await runWorkload(['exec', '/bin/true', TTY_ARGV0], { cwd: dir });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(await exited, 0, raw.slice(-2000));
      } finally {
        tty.kill('SIGKILL');
      }
      assert.ok(!raw.includes('\u001b]0;P'), 'the OSC of the argv reached the terminal');
      assert.ok(!raw.includes('\u009b'), 'a raw C1 CSI reached the terminal');
      assert.ok(raw.includes(TTY_ESCAPED), 'the argv is shown escaped');
      // the frames without the view's own cursor and color sequences
      // eslint-disable-next-line no-control-regex
      const text = raw.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
      const lines = text.split('\n');
      assert.ok(
        lines.some((l) => /^ {4}PID {5}PPID {2}COMM {14}PCOMM {13}RET {2}ARGS$/.test(l)),
        `header with every gadget column:\n${lines
          .filter((l) => /PID/.test(l))
          .slice(-3)
          .join('\n')}`,
      );
      for (const l of lines) assert.ok(l.length <= 80, `a line wider than the terminal: ${l}`);
    });
  },
);

describe(
  'trace exec -c NAME before the container exists (--local, --remote)',
  { skip: !podmanAvailable() && 'needs podman (root)' },
  () => {
    let dir = '';
    let daemon: Cli | undefined;
    before(async () => {
      dir = realpathSync(mkdtempSync('/tmp/kgtest-ux-daemon-'));
      const sock = join(dir, 'gadget.sock');
      daemon = new Cli(['daemon', '--listen', `unix://${sock}`]);
      await daemon.waitUntil(
        () => daemon!.stderr.includes('listening') && existsSync(sock),
        30_000,
        'the daemon listening',
      );
    });
    after(async () => {
      await abandonAll();
      if (daemon?.running) await daemon.stop('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    });

    for (const mode of ['--local', '--remote'] as const) {
      test(`${mode}: one warning naming -c, then the container is traced once it starts`, async () => {
        const name = uniqueName('ux-late');
        const where = mode === '--local' ? [mode] : [mode, `unix://${join(dir, 'gadget.sock')}`];
        const cli = new Cli(['trace', 'exec', ...where, '-c', name, '-o', 'json']);
        try {
          const want = `warning: no container matches -c ${name} (yet); still watching\n`;
          await cli.waitUntil(() => cli.stderr.includes(want), 30_000, want);
          const c = await startContainer(name, ['sleep', '1000']);
          const m = marker('late');
          const deadline = Date.now() + 30_000;
          const mine = (e: Ev): boolean =>
            JSON.stringify(e.args) === JSON.stringify(['/bin/true', m]);
          while (!cli.events.some(mine)) {
            assert.ok(Date.now() < deadline, `no exec in ${name}; stderr: ${cli.stderr}`);
            await execIn(c, ['/bin/true', m]);
            await sleep(200);
          }
          const x = await cli.stop('SIGINT');
          assert.equal(x.code, 0, cli.describeExit());
          assert.equal(x.stderr, want, 'the warning, once');
          for (const e of cli.events) assert.equal(e.container, name);
        } finally {
          await cli.stop('SIGKILL');
          await removeContainer(name);
        }
      });
    }
  },
);
