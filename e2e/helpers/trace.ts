// One traced run as the tests use it: start the CLI, wait until it is attached (marker events),
// record the BPF objects it holds, and at the end stop it with SIGINT and prove it exited
// cleanly and left nothing loaded.

import assert from 'node:assert/strict';
import { Cli, sleep } from './cli.js';
import type { CliExit, Ev, SpawnOptions } from './cli.js';
import { LeakCheck } from './bpf.js';

export interface Traced {
  cli: Cli;
  leaks: LeakCheck;
}

/** Every CLI started here and not finished: a failed test must not leave one running. */
const live = new Set<Cli>();

/** Starts `args`, waits for ready(cli), records what the CLI holds (a --local run). */
export async function startTraced(
  args: string[],
  ready: (cli: Cli) => Promise<Ev>,
  opts: SpawnOptions & { leaks?: LeakCheck; trackPid?: number } = {},
): Promise<Traced> {
  const leaks = opts.leaks ?? new LeakCheck();
  const cli = new Cli(args, opts);
  live.add(cli);
  void cli.exited.then(() => live.delete(cli));
  try {
    await ready(cli);
  } catch (e) {
    await cli.stop('SIGKILL');
    throw e;
  }
  leaks.track(opts.trackPid ?? cli.pid);
  return { cli, leaks };
}

/** Lets late events arrive, then SIGINT: exit 0, nothing on stderr, every object released. */
export async function finishTraced(t: Traced, settleMs = 300): Promise<CliExit> {
  await sleep(settleMs);
  const x = await t.cli.stop('SIGINT');
  assert.equal(x.code, 0, `exit after SIGINT: ${t.cli.describeExit()}`);
  assert.equal(x.stderr.trim(), '', 'stderr of a clean run');
  assert.deepEqual(t.cli.badLines, [], 'stdout lines that are not JSON objects');
  await t.leaks.assertClean();
  return x;
}

/** Stops a run that a failing test leaves behind (no assertions). */
export async function abandon(t: Traced | undefined): Promise<void> {
  if (t?.cli.running) await t.cli.stop('SIGKILL');
}

/** Kills every CLI startTraced() started that is still running (for `after` hooks). */
export async function abandonAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop('SIGKILL')));
}
