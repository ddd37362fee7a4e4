// trace open --local on the real kernel: `kg-workload opens DIR` does one open of every kind
// (openat, open, creat, openat2 relative to a dirfd, O_TMPFILE, failing ones, a name that is not
// UTF-8) and prints each; the tests assert exactly those events with every field, under the
// default flags, --failed, --prefix (filtered in the kernel) and --full-path.

import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { readyOpen, sleep } from '../../e2e/helpers/cli.js';
import { describe as show, timestampNs } from '../../e2e/helpers/events.js';
import {
  ABSOLUTE,
  ALL,
  assertOpens,
  FAILED,
  noSelf,
  openEventsOf,
  runOpens,
} from '../../e2e/helpers/opens.js';
import { abandon, abandonAll, finishTraced, startTraced } from '../../e2e/helpers/trace.js';
import type { Traced } from '../../e2e/helpers/trace.js';
import { WORKLOAD, workloadBuilt } from '../../e2e/helpers/workload.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('trace open --local', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  let dir: string;
  let other: string;
  let t: Traced | undefined;
  const fresh = (): string => realpathSync(mkdtempSync(`${dir}/w-`));

  before(() => {
    assert.ok(workloadBuilt(), `${WORKLOAD} missing: run npm run build`);
    dir = realpathSync(mkdtempSync('/tmp/kgtest-open-'));
    other = realpathSync(mkdtempSync('/tmp/kgtest-open-'));
  });
  after(async () => {
    await abandonAll();
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  });

  test('every open of the workload, exactly, with ret, fd, error, flags, mode and path', async () => {
    t = await startTraced(['trace', 'open', '--local', '-o', 'json'], (c) => readyOpen(c, dir));
    const d = fresh();
    const run = await runOpens(d);
    await assertOpens(t.cli, run, ALL, d, false);
    noSelf(t.cli);
    await finishTraced(t);
  });

  test('--failed: only the failed opens', async () => {
    t = await startTraced(['trace', 'open', '--local', '-o', 'json', '--failed'], (c) =>
      readyOpen(c, dir),
    );
    const d = fresh();
    const run = await runOpens(d);
    await assertOpens(t.cli, run, FAILED, d, false);
    const ok = t.cli.events.filter((e) => (e.ret as number) >= 0);
    assert.deepEqual(ok, [], `successful opens with --failed:\n${show(ok.slice(0, 5))}`);
    noSelf(t.cli);
    await finishTraced(t);
  });

  test('--prefix: filtered in the kernel on the path as passed', async () => {
    t = await startTraced(['trace', 'open', '--local', '-o', 'json', '--prefix', dir], (c) =>
      readyOpen(c, dir),
    );
    const d = fresh();
    const run = await runOpens(d);
    const outside = await runOpens(other);
    // only the opens whose path as passed starts with the prefix: the two absolute ones
    await assertOpens(t.cli, run, ABSOLUTE, d, false);
    await openEventsOf(t.cli, outside.pid, 0);
    const stray = t.cli.events.filter((e) => !String(e.path).startsWith(dir));
    assert.deepEqual(stray, [], `events outside the prefix:\n${show(stray.slice(0, 5))}`);
    noSelf(t.cli);
    await finishTraced(t);
  });

  test('--prefix twice: either prefix passes', async () => {
    t = await startTraced(
      ['trace', 'open', '--local', '-o', 'json', '--prefix', dir, '--prefix', other],
      (c) => readyOpen(c, dir),
    );
    const d = fresh();
    const a = await runOpens(d);
    const b = await runOpens(realpathSync(mkdtempSync(`${other}/w-`)));
    await assertOpens(t.cli, a, ABSOLUTE, d, false);
    await assertOpens(t.cli, b, ABSOLUTE, b.lines[4]!.path as string, false);
    const stray = t.cli.events.filter(
      (e) => !String(e.path).startsWith(dir) && !String(e.path).startsWith(other),
    );
    assert.deepEqual(stray, [], show(stray.slice(0, 5)));
    await finishTraced(t);
  });

  test('--full-path: relative, dirfd-relative (openat2), O_TMPFILE and failed opens resolved', async () => {
    t = await startTraced(['trace', 'open', '--local', '-o', 'json', '--full-path'], (c) =>
      readyOpen(c, dir),
    );
    const d = fresh();
    const run = await runOpens(d);
    await assertOpens(t.cli, run, ALL, d, true);
    noSelf(t.cli);
    await finishTraced(t);
  });

  test('--full-path --prefix: the prefix also matches the resolved path', async () => {
    t = await startTraced(
      ['trace', 'open', '--local', '-o', 'json', '--full-path', '--prefix', dir],
      (c) => readyOpen(c, dir),
    );
    const d = fresh();
    const run = await runOpens(d);
    const outside = await runOpens(other);
    await assertOpens(t.cli, run, ALL, d, true);
    await openEventsOf(t.cli, outside.pid, 0);
    const stray = t.cli.events.filter(
      (e) => !String(e.path).startsWith(dir) && !String(e.full_path).startsWith(dir),
    );
    assert.deepEqual(stray, [], show(stray.slice(0, 5)));
    await finishTraced(t);
  });

  test('the CLI never sees its own opens, while another tracer does see them', async () => {
    // B runs for a few seconds, in which its container registry reads /proc (opens); A sees
    // those opens, B must not.
    const a = await startTraced(['trace', 'open', '--local', '-o', 'json'], (c) =>
      readyOpen(c, dir),
    );
    t = a;
    const b = await startTraced(['trace', 'open', '--local', '-o', 'json'], (c) =>
      readyOpen(c, dir),
    );
    const readyNs = BigInt(Date.now()) * 1_000_000n;
    try {
      // B reads /proc (its container registry) about once a second
      await a.cli.waitForEvent(
        (e) => e.pid === b.cli.pid && timestampNs(e.timestamp) > readyNs,
        10_000,
        `opens of B (pid ${b.cli.pid}) after it was attached, in A's output`,
      );
      await sleep(1500);
      noSelf(b.cli);
      noSelf(a.cli);
      await finishTraced(b);
    } finally {
      await abandon(b);
    }
    await finishTraced(a);
  });
});
