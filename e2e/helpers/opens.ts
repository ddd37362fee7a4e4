// The opens of `kg-workload opens DIR` (do_opens in e2e/workloads/kg-workload.c) and the exact
// trace open events each must give, shared by the trace open and daemon tests.

import assert from 'node:assert/strict';
import { descriptor as traceOpen } from '../../gadgets/trace_open/gadget.js';
import type { Cli, Ev } from './cli.js';
import { sleep } from './cli.js';
import {
  assertFields,
  assertKeys,
  assertOrdered,
  assertTimestamp,
  byPid,
  describe as show,
  eventKeys,
} from './events.js';
import { hostMntns, NODE_NAME, runWorkload } from './workload.js';
import type { Truth, WorkloadRun } from './workload.js';

/** x86-64 open flag bits, written out here independently of the product's table. */
export const BITS: Record<string, number> = {
  O_RDONLY: 0,
  O_WRONLY: 0o1,
  O_RDWR: 0o2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_TRUNC: 0o1000,
  O_DIRECTORY: 0o200000,
  O_CLOEXEC: 0o2000000,
  O_TMPFILE: 0o20000000, // __O_TMPFILE; the O_TMPFILE macro adds O_DIRECTORY
};

export interface Expected {
  op: string;
  flags: string[];
  mode: string;
  error: string;
  /** full path, given the (real) directory and the ground-truth line */
  full: (dir: string, t: Truth) => string;
}

/** What `kg-workload opens DIR` does, in order (see do_opens in kg-workload.c). */
export const OPENS: Expected[] = [
  {
    op: 'openat',
    flags: ['O_WRONLY', 'O_CREAT', 'O_TRUNC', 'O_CLOEXEC'],
    mode: '0640',
    error: '',
    full: (d) => `${d}/exists.txt`,
  },
  { op: 'open', flags: ['O_RDONLY'], mode: '', error: '', full: (d) => `${d}/exists.txt` },
  {
    op: 'open',
    flags: ['O_RDONLY'],
    mode: '',
    error: 'ENOENT',
    full: (d) => `${d}/missing.txt`,
  },
  {
    op: 'creat',
    flags: ['O_WRONLY', 'O_CREAT', 'O_TRUNC'],
    mode: '0600',
    error: '',
    full: (d) => `${d}/created.txt`,
  },
  { op: 'open', flags: ['O_RDONLY', 'O_DIRECTORY'], mode: '', error: '', full: (d) => d },
  {
    op: 'openat2',
    flags: ['O_RDONLY', 'O_CLOEXEC'],
    mode: '',
    error: '',
    full: (d) => `${d}/exists.txt`,
  },
  {
    op: 'openat2',
    flags: ['O_RDWR', 'O_CREAT', 'O_EXCL'],
    mode: '0644',
    error: 'EEXIST',
    full: (d) => `${d}/exists.txt`,
  },
  {
    op: 'openat',
    flags: ['O_RDWR', 'O_DIRECTORY', 'O_TMPFILE'],
    mode: '0600',
    error: '',
    // an O_TMPFILE file's dentry is "#<inode>"
    full: (d, t) => `${d}/#${String(t.ino)}`,
  },
  {
    op: 'open',
    flags: ['O_RDONLY'],
    mode: '',
    error: 'ENOENT',
    full: (d) => `${d}/bad-\\xff-name`,
  },
];

/** Runs `kg-workload opens DIR` and checks its ground truth against OPENS. */
export async function runOpens(dir: string): Promise<WorkloadRun> {
  const run = await runWorkload(['opens', dir]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.lines.length, OPENS.length, run.stdout);
  run.lines.forEach((t, i) => {
    const x = OPENS[i]!;
    assert.equal(t.op, x.op, `op ${i}`);
    assert.equal(
      x.flags.reduce((n, f) => n | BITS[f]!, 0),
      t.flags,
      `flags of op ${i}`,
    );
    assert.equal(
      (t.ret as number) < 0 ? 'E' : '',
      x.error ? 'E' : '',
      `op ${i} failed: ${String(t.ret)}`,
    );
  });
  return run;
}

/** The exact event the i-th open of `run` must give. */
export function expectedOpen(run: WorkloadRun, i: number, dir: string, fullPath: boolean) {
  const t = run.lines[i]!;
  const x = OPENS[i]!;
  const ret = t.ret as number;
  return {
    node: NODE_NAME,
    namespace: '',
    pod: '',
    container: '',
    container_id: '',
    runtime: '',
    mntns_id: hostMntns(),
    pid: run.pid,
    tid: t.tid,
    uid: 0,
    gid: 0,
    comm: 'kg-workload',
    fd: ret >= 0 ? ret : -1,
    ret,
    error: x.error,
    flags: x.flags,
    mode: x.mode,
    path: t.path,
    full_path: fullPath ? x.full(dir, t) : '',
  };
}

/** Waits for `n` events of pid, lets late ones arrive, asserts there are exactly `n`. */
export async function openEventsOf(cli: Cli, pid: number, n: number): Promise<Ev[]> {
  if (n > 0)
    await cli.waitUntil(() => byPid(cli.events, pid).length >= n, 10_000, `${n} opens of ${pid}`);
  await sleep(n > 0 ? 300 : 1000);
  const evs = byPid(cli.events, pid);
  assert.equal(evs.length, n, `events of pid ${pid}:\n${show(evs)}`);
  return evs;
}

/** The events of `run` are exactly the opens `which` (indexes into OPENS), with every field. */
export async function assertOpens(
  cli: Cli,
  run: WorkloadRun,
  which: number[],
  dir: string,
  fullPath: boolean,
): Promise<void> {
  const evs = await openEventsOf(cli, run.pid, which.length);
  evs.forEach((e, k) => {
    assertKeys(e, eventKeys(traceOpen));
    assertTimestamp(e, run.startMs, run.endMs);
    assertFields(e, expectedOpen(run, which[k]!, dir, fullPath), `open #${which[k]}`);
  });
  assertOrdered(evs);
}

export function noSelf(cli: Cli): void {
  const own = cli.events.filter((e) => e.pid === cli.pid);
  assert.deepEqual(own, [], `the CLI's own opens are in its output:\n${show(own.slice(0, 5))}`);
}

export const ALL = OPENS.map((_, i) => i);
export const FAILED = OPENS.flatMap((x, i) => (x.error ? [i] : []));
export const ABSOLUTE = [1, 4]; // open(DIR/exists.txt), open(DIR, O_DIRECTORY)
