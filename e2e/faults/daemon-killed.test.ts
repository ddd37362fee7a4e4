// Fault: the daemon is killed (kill -9) while a --remote CLI waits on it. The CLI prints one
// line naming the daemon's address, exits 1, and never hangs:
//  - trace open while events stream: "lost connection to daemon at ADDR: the daemon went away
//    (...)" (trace exec's case is in e2e/daemon.test.ts, 'kill -9 of the daemon');
//  - traceloop list and show while their call waits on a stopped daemon (SIGSTOP, then kill -9):
//    the kernel accepted the connection but the daemon never answered the HTTP/2 handshake;
//    the reset of that connection says "the daemon went away (ECONNRESET)", or, when grpc-js
//    had already retried, "cannot reach daemon at ADDR: connect ECONNREFUSED (is
//    `kubectl-gadget daemon` running?)". (A unary call is answered in milliseconds: there is no
//    window to kill the daemon in while it works on one.)

import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { Cli, readyOpen, sleep } from '../helpers/cli.js';
import { LeakCheck } from '../helpers/bpf.js';
import { abandonAll, startTraced } from '../helpers/trace.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

const isRoot = process.getuid?.() === 0;
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** how long the CLI may take to notice: the socket closes at once, keepalive is 5 + 5 s */
const BOUND_MS = 12_000;

/** The one line a CLI prints when the daemon at `addr` died under it. */
export function wentAway(addr: string): RegExp {
  return new RegExp(
    `^Error: lost connection to daemon at ${esc(addr)}: the daemon went away \\([^\\n]+\\)\\n$`,
  );
}

async function exitWithin(cli: Cli, ms: number): Promise<Awaited<Cli['exited']>> {
  const t0 = Date.now();
  const x = await Promise.race([cli.exited, sleep(ms).then(() => undefined)]);
  assert.ok(x, `${cli.args.join(' ')} still runs ${ms} ms after the daemon died`);
  assert.ok(Date.now() - t0 < ms);
  return x;
}

describe('fault: daemon killed', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  const daemons: TestDaemon[] = [];
  const dir = realpathSync(mkdtempSync('/tmp/kgfault-kill-'));
  after(async () => {
    await abandonAll();
    for (const d of daemons) await d.cleanup({ signal: 'SIGKILL' });
    rmSync(dir, { recursive: true, force: true });
  });

  test('trace open --remote mid-stream: one line with the address, exit 1, nothing left loaded', async () => {
    const d = await startDaemon('fk-open');
    daemons.push(d);
    const leaks = new LeakCheck();
    const { cli } = await startTraced(
      ['trace', 'open', '--remote', d.addr, '-o', 'json', '--prefix', `${dir}/`],
      (c) => readyOpen(c, dir),
      { leaks, trackPid: d.daemon.pid },
    );
    const shown = cli.events.length;
    await d.daemon.kill9();
    const x = await exitWithin(cli, BOUND_MS);
    assert.equal(x.code, 1, cli.describeExit());
    assert.match(x.stderr, wentAway(d.addr));
    assert.ok(shown > 0, 'events before the kill were shown');
    assert.deepEqual(cli.badLines, []);
    await leaks.assertClean();
  });

  for (const verb of ['list', 'show'] as const) {
    test(`traceloop ${verb} --remote waiting on a stopped daemon that is killed: one line with the address, exit 1`, async () => {
      const d = await startDaemon(`fk-tl${verb}`);
      daemons.push(d);
      await d.ok(['traceloop', 'start']);
      // a stopped daemon still has its socket: the kernel accepts, the call is sent and waits
      process.kill(d.daemon.pid, 'SIGSTOP');
      const args = verb === 'list' ? ['traceloop', 'list'] : ['traceloop', 'show', 'nosuchpod/app'];
      const cli = new Cli([...args, '--remote', d.addr], { env: d.env });
      try {
        await sleep(1500);
        assert.ok(cli.running, `${verb} ended while the daemon was stopped: ${cli.describeExit()}`);
        await d.daemon.kill9();
        const x = await exitWithin(cli, BOUND_MS);
        assert.equal(x.code, 1, cli.describeExit());
        // grpc-js fails the waiting call with the reset of the connection the kernel had
        // accepted, or, when it already retried (200 ms backoff), with the refusal of the retry
        const refused = `Error: cannot reach daemon at ${d.addr}: connect ECONNREFUSED (is \`kubectl-gadget daemon\` running?)\n`;
        const reset = `Error: lost connection to daemon at ${d.addr}: the daemon went away (ECONNRESET)\n`;
        assert.ok(x.stderr === refused || x.stderr === reset, x.stderr);
        assert.equal(x.stdout, '');
      } finally {
        if (cli.running) await cli.stop('SIGKILL');
      }
      // its recording outlives the daemon (pinned): the next daemon on the pins deletes it
      await d.start();
      await d.ok(['traceloop', 'delete']);
    });
  }
});
