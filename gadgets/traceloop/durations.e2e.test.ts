// traceloop start --durations on the real kernel: busybox `sleep 0.3` in a podman container sleeps
// in one (clock_)nanosleep; `show` prints its duration after the return value as strace -T does,
// and -o json carries it in ns. A session without --durations prints none.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../../e2e/helpers/daemon.js';
import * as pm from '../../e2e/fixtures/podman.js';

const SLEEP_NS = 300_000_000;

describe('traceloop start --durations', { skip: pm.podmanSkip(), concurrency: 1 }, () => {
  let d: TestDaemon | undefined;
  const names: string[] = [];

  before(async () => {
    pm.ensureRootfs();
    d = new TestDaemon('traceloop-durations');
    await d.start();
  });
  after(async () => {
    for (const n of names) await pm.removeContainer(n);
    await d?.cleanup();
  });

  /** The recording of `sleep 0.3` in a new container: its sleep record, and the whole table. */
  async function sleepRecorded(): Promise<{ sleep: Record<string, unknown>; table: string }> {
    const name = pm.uniqueName('tl-dur');
    names.push(name);
    await d!.cli(['traceloop', 'delete']); // the session before, if any
    await d!.ok(['traceloop', 'start', '--containername', name, ...startArgs]);
    const r = await pm.runContainer(name, ['/bin/sleep', '0.3']);
    assert.equal(r.code, 0, r.stderr);
    const events = await pm.waitFor(async () => {
      const evs = await d!.ndjson(['traceloop', 'show', name]);
      return evs.some((e) => e.kind === 'exit') ? evs : undefined;
    }, 15_000);
    const sleeps = events.filter(
      (e) => e.comm === 'sleep' && /^(clock_)?nanosleep$/.test(String(e.syscall)),
    );
    assert.equal(sleeps.length, 1, `one sleep in ${JSON.stringify(events.slice(-10))}`);
    const table = (await d!.ok(['traceloop', 'show', name])).stdout;
    return { sleep: sleeps[0]!, table };
  }
  let startArgs: string[] = [];

  test('a 0.3 s sleep lasts at least 0.3 s, and less than 1.3 s', async () => {
    startArgs = ['--durations'];
    const { sleep, table } = await sleepRecorded();
    const ns = sleep.duration_ns as number;
    process.stderr.write(`durations: sleep 0.3 recorded as ${ns} ns\n`);
    assert.equal(typeof ns, 'number');
    assert.ok(ns >= SLEEP_NS && ns < SLEEP_NS + 1e9, `duration ${ns} ns`);
    const line = table.split('\n').find((l) => / sleep .*tv_nsec=300000000\b/.test(l));
    const us = Math.floor(ns / 1000);
    const want = ` 0 <${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}>`;
    assert.ok(line?.trimEnd().endsWith(want), `"${line}" ends with "${want}"`);
  });

  test('without --durations no duration is recorded', async () => {
    startArgs = [];
    const { sleep, table } = await sleepRecorded();
    assert.equal(sleep.ret, 0);
    assert.ok(!('duration_ns' in sleep), JSON.stringify(sleep));
    assert.doesNotMatch(table, /<\d+\.\d{6}>/);
  });
});
