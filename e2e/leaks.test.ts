// Leaks: every way a --local run can end leaves no BPF program, map, link or BTF object behind
// and no pin under /sys/fs/bpf. The objects a CLI holds are read from its /proc/<pid>/fdinfo
// while it runs; afterwards each of those ids must be gone from `bpftool -j prog/map/link/btf
// show`. kill -9 included: the kernel frees everything when the process dies, and this proves it.

import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cli, readyExec, readyOpen, runCli, sleep } from './helpers/cli.js';
import { count, fmt, heldClosure, LeakCheck, waitReleased } from './helpers/bpf.js';
import { abandonAll, startTraced } from './helpers/trace.js';
import { runWorkload } from './helpers/workload.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('leaks (--local)', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  let dir: string;
  before(() => {
    dir = realpathSync(mkdtempSync('/tmp/kgtest-leaks-'));
  });
  after(async () => {
    await abandonAll();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const gadget of ['exec', 'open'] as const) {
    test(`kill -9 of trace ${gadget} --local mid-stream frees everything`, async (t) => {
      const traced = await startTraced(['trace', gadget, '--local', '-o', 'json'], (c) =>
        gadget === 'exec' ? readyExec(c) : readyOpen(c, dir),
      );
      const held = heldClosure(traced.cli.pid);
      assert.ok(
        held.prog.size >= 2 && held.map.size > 0 && held.link.size >= 2 && held.btf.size > 0,
        `a run holds the gadget and the tracker: ${fmt(held)}`,
      );
      // mid-stream: events are being produced and read when it dies
      const load =
        gadget === 'exec'
          ? (async () => {
              for (let i = 0; i < 30; i++) await runWorkload(['kg-leak'], { program: '/bin/true' });
            })()
          : runWorkload(['open-loop', '300000', join(dir, 'loop')]);
      await traced.cli.waitUntil(() => traced.cli.events.length > 50, 10_000, 'a stream of events');
      const t0 = Date.now();
      const x = await traced.cli.kill9();
      assert.equal(x.signal, 'SIGKILL');
      await traced.leaks.assertClean(10_000);
      t.diagnostic(`released ${count(held)} objects ${Date.now() - t0} ms after kill -9`);
      await load;
    });
  }

  test('SIGTERM of a --local run: exit 0, everything freed', async () => {
    const traced = await startTraced(['trace', 'exec', '--local', '-o', 'json'], (c) =>
      readyExec(c),
    );
    const x = await traced.cli.stop('SIGTERM');
    assert.equal(x.code, 0, traced.cli.describeExit());
    await traced.leaks.assertClean();
  });

  test('--timeout ends the run by itself: exit 0, everything freed', async () => {
    const t0 = Date.now();
    const traced = await startTraced(
      ['trace', 'open', '--local', '-o', 'json', '--timeout', '3'],
      (c) => readyOpen(c, dir),
    );
    const x = await traced.cli.exited;
    const took = Date.now() - t0;
    assert.equal(x.code, 0, traced.cli.describeExit());
    assert.equal(x.stderr.trim(), '');
    assert.ok(took >= 3000 && took < 10_000, `exited after ${took} ms`);
    await traced.leaks.assertClean();
  });

  test('stdout closed by the reader (| head -1): the run stops, everything freed', async () => {
    const traced = await startTraced(['trace', 'exec', '--local', '-o', 'json'], (c) =>
      readyExec(c),
    );
    traced.cli.proc.stdout!.destroy();
    // the next events hit the closed pipe
    const more = (async () => {
      for (let i = 0; i < 20 && traced.cli.running; i++) {
        await runWorkload(['kg-epipe'], { program: '/bin/true' });
        await sleep(50);
      }
    })();
    const x = await Promise.race([traced.cli.exited, sleep(15_000).then(() => undefined)]);
    await more;
    assert.ok(x, 'the CLI exits when its output is closed');
    assert.equal(x.code, 0, traced.cli.describeExit());
    await traced.leaks.assertClean();
  });

  test('list-containers --local and failed starts leave nothing behind', async () => {
    const leaks = new LeakCheck();
    const r = await runCli(['list-containers', '--local', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const bad = await runCli(['trace', 'open', '--local', '--prefix', '/' + 'y'.repeat(80)]);
    assert.equal(bad.code, 1);
    await leaks.assertNothingNew();
  });

  test('five runs in a row: each one releases what it held', async () => {
    const all = new LeakCheck();
    for (let i = 0; i < 5; i++) {
      const c = new Cli(['trace', i % 2 ? 'open' : 'exec', '--local', '-o', 'json']);
      await (i % 2 ? readyOpen(c, dir) : readyExec(c));
      all.track(c.pid);
      const x = await c.stop('SIGINT');
      assert.equal(x.code, 0, c.describeExit());
    }
    await waitReleased(all.tracked, 10_000, 'five runs');
    await all.assertClean();
  });
});
