// The container tracker's unshare syscall tracepoints are attached only while a run or a
// traceloop recording uses them (daemon/src/runtime/shared.ts): an idle daemon must not put
// every syscall on the node on the kernel's traced entry path (docs/benchmarks.md (f)).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { readyExec, sleep, startCli } from './helpers/cli.js';
import { startDaemon } from './helpers/daemon.js';

/** The tracepoints the process's BPF programs are attached to through perf events, sorted. */
function tracepointsOf(pid: number): string[] {
  const all = JSON.parse(execFileSync('bpftool', ['perf', '-j'], { encoding: 'utf8' })) as Array<{
    pid?: number;
    tracepoint?: string;
  }>;
  return all
    .filter((e) => e.pid === pid && e.tracepoint)
    .map((e) => e.tracepoint!)
    .sort();
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const IDLE = ['sched_process_exec', 'sched_process_fork'];

test('the tracker attaches its unshare hooks only while a run holds them', async () => {
  const d = await startDaemon('nshooks');
  try {
    const pid = d.daemon.pid;
    // the tracker starts with the first call that needs it
    await d.cli(['list-containers', '-o', 'json']);
    assert.deepEqual(tracepointsOf(pid), IDLE, 'idle: no syscall tracepoint');

    const runs = [0, 1].map(() =>
      startCli(['trace', 'exec', '--remote', d.addr, '-o', 'json'], { env: d.env }),
    );
    for (const r of runs) await readyExec(r);
    const during = tracepointsOf(pid);
    for (const tp of ['sys_enter_unshare', 'sys_exit_unshare'])
      assert.equal(during.filter((t) => t === tp).length, 1, `${tp} once for two runs`);

    runs[0]!.proc.kill('SIGINT');
    await runs[0]!.exited;
    await sleep(500);
    assert.ok(tracepointsOf(pid).includes('sys_enter_unshare'), 'still held by the other run');

    runs[1]!.proc.kill('SIGINT');
    await runs[1]!.exited;
    await until('the hooks detached', () => tracepointsOf(pid).join() === IDLE.join());
  } finally {
    await d.cleanup({ traceloop: false });
  }
});
