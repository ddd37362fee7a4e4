// -F/--filter, -o jsonpretty and --sort with the real tool: trace exec --local and --remote on the
// real kernel, each filtering a marker workload of execs under known names, uids and args, and a
// second run with only the marker filter proving that every exec the filters dropped did happen.
// list-containers --sort with real podman containers. Bad expressions: one-line errors.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cli, marker, runCli, sleep, waitReady } from './helpers/cli.js';
import type { Ev } from './helpers/cli.js';
import { abandonAll, finishTraced, startTraced } from './helpers/trace.js';
import type { Traced } from './helpers/trace.js';
import { startDaemon } from './helpers/daemon.js';
import { execPid } from './helpers/workload.js';
import type { TestDaemon } from './helpers/daemon.js';
import {
  ensureRootfs,
  podmanSkip,
  removeContainer,
  runContainer,
  startContainer,
  uniqueName,
  waitFor,
} from './fixtures/podman.js';
import type { TestContainer } from './fixtures/podman.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const exec = execPid;

describe('-F/--filter on trace exec', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  let dir: string;
  let daemon: TestDaemon | undefined;
  // /bin/true under three names: the exec's comm is the file's name
  const bin = (n: string): string => join(dir, n);

  before(() => {
    dir = realpathSync(mkdtempSync('/tmp/kgtest-filter-'));
    for (const n of ['kgfa', 'kgfb', 'kgfc']) copyFileSync('/bin/true', bin(n));
  });
  after(async () => {
    await abandonAll();
    await daemon?.cleanup({ traceloop: false });
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The workload: six execs carrying marker `m` (or not), with known comm, uid and args, run
   * one after the other. Returns the pid of each by label.
   */
  async function workload(m: string): Promise<Record<string, number>> {
    const pids: Record<string, number> = {};
    pids.a1 = await exec([bin('kgfa'), m, 'one']); // kept
    pids.b = await exec([bin('kgfb'), m, 'two']); // comm:!kgfb
    pids.c = await exec([bin('kgfc'), 'no-marker']); // args:~m
    pids.t = await exec(['/bin/true', m, 'three']); // comm:~^kgf
    // setpriv execs kgfa as uid 1000: that event's pid is setpriv's
    pids.u = await exec(['/usr/bin/setpriv', '--reuid', '1000', bin('kgfa'), m, 'four']); // uid:<1000
    pids.a2 = await exec([bin('kgfa'), m, 'five']); // kept
    return pids;
  }

  const FILTERS = (m: string) => [
    '-F',
    'comm:~^kgf',
    '-F',
    `args:~${m}`,
    '-F',
    'COMM:!kgfb',
    '-F',
    'uid:<1000',
  ];

  /** Both runs ready: a kgfa exec with the marker and a fresh ready marker shows in each. */
  function readyFor(m: string) {
    return (cli: Cli): Promise<Ev> =>
      waitReady(
        cli,
        (r) => exec([bin('kgfa'), m, r]),
        (e, r) => Array.isArray(e.args) && e.args[2] === r,
      );
  }

  /** Lets late events arrive, then SIGINT: exit 0, nothing on stderr. */
  async function finish(t: Traced): Promise<void> {
    if (!daemon) {
      await finishTraced(t);
      return;
    }
    // the daemon holds the programs (shared by both runs): its leaks are checked in daemon.test
    await sleep(300);
    const x = await t.cli.stop('SIGINT');
    assert.equal(x.code, 0, t.cli.describeExit());
    assert.equal(x.stderr.trim(), '');
    assert.deepEqual(t.cli.badLines, []);
  }

  async function check(mode: string[], label: string): Promise<void> {
    const m = marker(label);
    const opts = daemon ? { env: daemon.env } : {};
    const filtered = await startTraced(
      ['trace', 'exec', ...mode, '-o', 'json', ...FILTERS(m)],
      readyFor(m),
      opts,
    );
    const all = await startTraced(
      ['trace', 'exec', ...mode, '-o', 'json', '-F', `args:~${m}`],
      readyFor(m),
      opts,
    );
    const pids = await workload(m);
    await all.cli.waitUntil(
      () => all.cli.events.some((e) => e.pid === pids.a2),
      10_000,
      'the last exec in the unfiltered run',
    );
    await filtered.cli.waitUntil(
      () => filtered.cli.events.some((e) => e.pid === pids.a2),
      10_000,
      'the last exec in the filtered run',
    );
    await sleep(300);
    const ours = new Set(Object.values(pids));
    const seen = (cli: Cli) =>
      cli.events
        .filter((e) => ours.has(e.pid as number))
        .map((e) => ({
          pid: e.pid,
          comm: e.comm,
          uid: e.uid,
          args: (e.args as string[]).slice(1),
        }));
    // without the other filters every exec with the marker shows (so the filters did the dropping)
    assert.deepEqual(seen(all.cli), [
      { pid: pids.a1, comm: 'kgfa', uid: 0, args: [m, 'one'] },
      { pid: pids.b, comm: 'kgfb', uid: 0, args: [m, 'two'] },
      { pid: pids.t, comm: 'true', uid: 0, args: [m, 'three'] },
      { pid: pids.u, comm: 'setpriv', uid: 0, args: ['--reuid', '1000', bin('kgfa'), m, 'four'] },
      { pid: pids.u, comm: 'kgfa', uid: 1000, args: [m, 'four'] },
      { pid: pids.a2, comm: 'kgfa', uid: 0, args: [m, 'five'] },
    ]);
    assert.deepEqual(seen(filtered.cli), [
      { pid: pids.a1, comm: 'kgfa', uid: 0, args: [m, 'one'] },
      { pid: pids.a2, comm: 'kgfa', uid: 0, args: [m, 'five'] },
    ]);
    // and nothing else at all passed: only the readiness execs besides
    for (const e of filtered.cli.events) {
      assert.equal(e.comm, 'kgfa', JSON.stringify(e));
      assert.equal((e.args as string[])[1], m, JSON.stringify(e));
      assert.equal(e.uid, 0);
    }
    await finish(filtered);
    await finish(all);
  }

  test('--local: exactly the execs all filters pass', async () => {
    await check(['--local'], 'flocal');
  });

  test('--remote: the same through a daemon', async () => {
    daemon = await startDaemon('filter');
    await check(['--remote', daemon.addr], 'fremote');
  });

  test('-o jsonpretty: each event indented, same fields as -o json', async () => {
    const m = marker('fpretty');
    const cli = new Cli(['trace', 'exec', '--local', '-o', 'jsonpretty', '-F', `args:~${m}`]);
    try {
      // jsonpretty is not NDJSON: wait for the marker in the text
      const deadline = Date.now() + 30_000;
      let pid = 0;
      while (!cli.stdout.includes(`"${m}"`) && Date.now() < deadline) {
        pid = await exec([bin('kgfa'), m]);
        await sleep(200);
      }
      await sleep(300);
      const x = await cli.stop('SIGINT');
      assert.equal(x.code, 0, cli.describeExit());
      // objects separated by newlines, each spanning several lines, two-space indent
      const docs = x.stdout.trimEnd().split(/\n(?=\{)/);
      const evs = docs.map((d) => JSON.parse(d) as Ev);
      assert.ok(evs.length >= 1);
      for (const d of docs) assert.match(d, /^\{\n {2}"timestamp": "/);
      const last = evs.find((e) => e.pid === pid);
      assert.ok(last, `event of pid ${pid} in ${x.stdout}`);
      assert.equal(last.comm, 'kgfa');
      assert.deepEqual(last.args, [bin('kgfa'), m]);
    } finally {
      if (cli.running) await cli.stop('SIGKILL');
    }
  });

  test('a number column compared with text fails on the first event, one line', async () => {
    const cli = new Cli(['trace', 'exec', '--local', '-o', 'json', '-F', 'pid:>abc']);
    const deadline = Date.now() + 30_000;
    while (cli.running && Date.now() < deadline) {
      await exec([bin('kgfc')]);
      await sleep(200);
    }
    const x = await cli.exited;
    assert.equal(x.code, 1, x.stderr);
    assert.equal(x.stdout, '');
    assert.match(x.stderr, /-F pid:>abc: pid is a number, "abc" is not \(e\.g\. -F pid:>=1000\)/);
    assert.equal(x.stderr.trim().split('\n').length, 1, x.stderr);
  });
});

describe('bad -F / --sort / -o values: one line listing the valid columns', () => {
  const cases: [string[], RegExp][] = [
    [
      ['trace', 'exec', '--local', '-F', 'nope:1'],
      /^Error: unknown column "nope" in --filter: valid columns are node, namespace, pod, container, pid, ppid, comm, /,
    ],
    [
      ['trace', 'open', '--local', '-F', 'path:~('],
      /^Error: invalid --filter "path:~\(": bad regular expression/,
    ],
    [
      ['trace', 'exec', '--local', '-F', 'pid'],
      /^Error: invalid --filter "pid": expected COLUMN:VALUE/,
    ],
    [['trace', 'exec', '--local', '-F', 'pid:<'], /nothing to compare after "<"/],
    [
      ['list-containers', '--local', '--sort', 'nme'],
      /^Error: unknown column "nme" in --sort: valid columns are runtime, id, name, pid, /,
    ],
    [
      ['traceloop', 'list', '--local', '--sort', '-x'],
      /^Error: unknown column "x" in --sort: valid columns are node, /,
    ],
  ];
  for (const [args, re] of cases) {
    test(args.join(' '), async () => {
      const r = await runCli(args, { timeoutMs: 30_000 });
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.match(lines[0]!, re);
      assert.equal(r.stdout, '');
    });
  }
});

describe('list-containers --sort', { skip: podmanSkip(), concurrency: 1 }, () => {
  const cs: TestContainer[] = [];
  before(async () => {
    for (const b of ['sortb', 'sortc', 'sorta'])
      cs.push(await startContainer(uniqueName(b), ['sleep', '1000']));
  });
  after(async () => {
    for (const c of cs) await removeContainer(c);
  });

  const ours = (out: string): Ev[] => {
    const names = new Set(cs.map((c) => c.name));
    return (JSON.parse(out) as Ev[]).filter((c) => names.has(c.name as string));
  };

  test('by name, by -pid, and by two keys; -o jsonpretty is the same list', async () => {
    const byName = [...cs].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => c.name);
    const r1 = await runCli(['list-containers', '--local', '-o', 'json', '--sort', 'name']);
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(
      ours(r1.stdout).map((c) => c.name),
      byName,
    );
    const r2 = await runCli(['list-containers', '--local', '-o', 'json', '--sort', '-name']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(
      ours(r2.stdout).map((c) => c.name),
      [...byName].reverse(),
    );
    // numbers by value, descending
    const byPid = [...cs].sort((a, b) => b.pid - a.pid).map((c) => c.name);
    const r3 = await runCli([
      'list-containers',
      '--local',
      '-o',
      'jsonpretty',
      '--sort',
      'runtime,-PID',
    ]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(
      ours(r3.stdout).map((c) => c.name),
      byPid,
    );
    // columns: the table's rows in the same order
    const r4 = await runCli([
      'list-containers',
      '--local',
      '--sort',
      '-name',
      '-o',
      'columns=name',
    ]);
    const rows = r4.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => cs.some((c) => c.name === l));
    assert.deepEqual(rows, [...byName].reverse());
  });
});

describe('traceloop show -F', { skip: podmanSkip(), concurrency: 1 }, () => {
  let d: TestDaemon | undefined;
  const name = uniqueName('tl-filter');
  before(async () => {
    ensureRootfs();
    d = await startDaemon('tl-filter');
  });
  after(async () => {
    await d?.cleanup();
    await removeContainer(name);
  });

  test('only the records every filter passes, -F before --last', async () => {
    await d!.ok(['traceloop', 'start', '-c', name]);
    // three failed opens of names no other syscall carries, then a successful one
    const script = 'cat /kgf-none-1 /kgf-none-2 /kgf-none-3 /etc/passwd >/dev/null; exit 0';
    const r = await runContainer(name, ['sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stderr.match(/No such file/g) ?? []).length, 3, r.stderr);
    const all = await waitFor(async () => {
      const evs = await d!.ndjson(['traceloop', 'show', name]);
      return evs.some((e) => e.syscall === 'exit') ? evs : undefined;
    }, 15_000);
    const failedOpens = all.filter(
      (e) => String(e.syscall).startsWith('open') && typeof e.ret === 'number' && e.ret < 0,
    );
    const kgf = failedOpens.filter((e) => String(e.params).includes('/kgf-none-'));
    assert.equal(kgf.length, 3, JSON.stringify(failedOpens));
    assert.ok(failedOpens.length < all.length);
    const shown = await d!.ndjson([
      'traceloop',
      'show',
      name,
      '-F',
      'syscall:~^open',
      '-F',
      'ret:<0',
      '-F',
      'error:ENOENT',
    ]);
    assert.deepEqual(
      shown,
      failedOpens.filter((e) => e.error === 'ENOENT'),
    );
    const last = await d!.ndjson([
      'traceloop',
      'show',
      name,
      '-F',
      'params:~kgf-none',
      '--last',
      '2',
    ]);
    // the failed opens, cat's messages about them, its execve: the last 2 of those, not of all records
    const named = all.filter((e) => String(e.params).includes('kgf-none'));
    assert.ok(named.length >= 6, JSON.stringify(named));
    assert.notDeepEqual(named.slice(-2), all.slice(-2));
    assert.deepEqual(last, named.slice(-2));
  });
});
