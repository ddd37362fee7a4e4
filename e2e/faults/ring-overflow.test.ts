// Fault: the ring buffer overflows. `trace open --local` is stopped (SIGSTOP: its reader thread
// stops with it) while a workload opens one file far more times than the 16 MiB ring can hold;
// after SIGCONT the CLI shows the lost counter on stderr and the run goes on. The path prefix is
// filtered in the kernel before the record is reserved, so every record of the run is the
// workload's: the events shown plus the losses reported add up to the opens done, exactly.

import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Cli, readyOpen, sleep } from '../helpers/cli.js';
import { LeakCheck } from '../helpers/bpf.js';
import { abandonAll } from '../helpers/trace.js';
import { runWorkload, truth, workloadBuilt } from '../helpers/workload.js';

const isRoot = process.getuid?.() === 0;
/** ~120 bytes a record in the ring: 500k opens are ~60 MB, over three times the ring */
const OPENS = 500_000;

/** Sum of the CLI's "N events lost in the kernel" warnings. */
export function lostShown(stderr: string): number {
  let n = 0;
  for (const m of stderr.matchAll(
    /^warning: (\d+) events lost in the kernel \(ring buffer full\)$/gm,
  ))
    n += Number(m[1]);
  return n;
}

describe(
  'fault: ring buffer overflow',
  { skip: (!isRoot || !workloadBuilt()) && 'needs root and the workload' },
  () => {
    const dir = realpathSync(mkdtempSync('/tmp/kgfault-ring-'));
    after(async () => {
      await abandonAll();
      rmSync(dir, { recursive: true, force: true });
    });

    test('a paused reader: the lost counter is shown, shown + lost = opens, and later events arrive', async (t) => {
      const file = join(dir, 'loop');
      writeFileSync(file, '');
      const leaks = new LeakCheck();
      const cli = new Cli(['trace', 'open', '--local', '-o', 'json', '--prefix', `${dir}/`]);
      try {
        await readyOpen(cli, dir);
        leaks.track(cli.pid);
        process.kill(cli.pid, 'SIGSTOP');
        let run;
        try {
          run = await runWorkload(['open-loop', String(OPENS), file], { timeoutMs: 60_000 });
        } finally {
          process.kill(cli.pid, 'SIGCONT');
        }
        assert.equal(run.code, 0, run.stderr);
        const pid = truth(run, 'open-loop').pid;
        const shown = (): number =>
          cli.events.filter((e) => e.pid === pid && e.path === file).length;
        // stats come every second: wait until every open is accounted for
        await cli
          .waitUntil(
            () => shown() + lostShown(cli.stderr) >= OPENS,
            30_000,
            'all opens accounted for',
          )
          .catch((e: Error) => {
            throw new Error(
              `${e.message}; shown ${shown()}, lost ${lostShown(cli.stderr)} of ${OPENS}`,
            );
          });
        const lost = lostShown(cli.stderr);
        t.diagnostic(`${OPENS} opens: ${shown()} shown, ${lost} reported lost`);
        assert.ok(lost > 0, `no loss reported: ${cli.stderr}`);
        assert.ok(shown() > 0, 'no event of the loop shown');
        assert.equal(shown() + lost, OPENS, 'events shown + lost reported = opens done');
        // the run goes on: an open after the overflow is shown
        const after = await runWorkload(['open-loop', '1', join(dir, 'after')]);
        const afterPid = truth(after, 'open-loop').pid;
        await cli.waitForEvent(
          (e) => e.pid === afterPid && e.path === join(dir, 'after'),
          10_000,
          'the open after the overflow',
        );
        await sleep(1200); // one more stats round: nothing more is lost
        const x = await cli.stop('SIGINT');
        assert.equal(x.code, 0, cli.describeExit());
        assert.equal(lostShown(x.stderr), lost, 'no loss after the overflow');
        // stderr holds only the loss warnings (user-space drops are counted in the same total)
        for (const l of x.stderr.split('\n').filter(Boolean))
          assert.match(
            l,
            /^warning: \d+ events (lost in the kernel \(ring buffer full\)|dropped in user space: output too slow)$/,
          );
        assert.deepEqual(cli.badLines, []);
        await leaks.assertClean();
      } finally {
        if (cli.running) await cli.stop('SIGKILL');
      }
    });
  },
);
