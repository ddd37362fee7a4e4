// Nothing lost across the daemon's life (issue 12): a daemon started while containers already run
// knows them all, and a container that started while the daemon was down is named once the
// daemon is back (it still runs). Real podman (runc, cgroupfs) containers, a real
// `kubectl-gadget daemon` process on a unix socket, the CLI against it with --remote. Run under
// `flock -s /tmp/kg-bench.lock`.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Cli, marker, sleep, type Ev } from './helpers/cli.js';
import { TestDaemon } from './helpers/daemon.js';
import { assertListsContainers } from './helpers/events.js';
import {
  ContainerPool,
  ensureRootfs,
  execIn,
  podmanSkip,
  type TestContainer,
} from './fixtures/podman.js';

const skip = podmanSkip();
const N = 5;
const SLEEPER = ['/bin/busybox', 'sleep', '1000'];

const argsOf = (e: Ev): string[] => (Array.isArray(e.args) ? (e.args as string[]) : []);
const isExec =
  (...argv: string[]) =>
  (e: Ev): boolean => {
    const a = argsOf(e);
    return a.length === argv.length && a.every((x, i) => x === argv[i]);
  };

describe('container identity across daemon restarts', { skip, concurrency: 1 }, () => {
  const pool = new ContainerPool();
  let d: TestDaemon | undefined;
  const clis = new Set<Cli>();

  before(() => {
    ensureRootfs();
    d = new TestDaemon('idrestart');
  });

  after(async () => {
    for (const c of clis) await c.stop('SIGKILL').catch(() => undefined);
    await d?.cleanup({ traceloop: false });
    await pool.cleanup();
  });

  /** `trace exec --remote` against the daemon, attached once an exec in `c` shows up. */
  async function traceIn(c: TestContainer): Promise<Cli> {
    const cli = new Cli(['trace', 'exec', '--remote', d!.addr, '-o', 'json'], { env: d!.env });
    clis.add(cli);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = marker('ready');
      await execIn(c, ['/bin/busybox', 'true', m]);
      if (await cli.waitForEvent(isExec('/bin/busybox', 'true', m), 500).catch(() => undefined))
        return cli;
      if (!cli.running) throw new Error(`trace exec exited: ${cli.describeExit()}`);
      if (Date.now() > deadline) throw new Error(`trace exec not attached: ${cli.stderr}`);
    }
  }

  /** An exec in each container, each named with its own name and id in the trace. */
  async function assertExecsNamed(cli: Cli, cs: TestContainer[]): Promise<void> {
    for (const c of cs) {
      const m = marker('named');
      const x = await execIn(c, ['/bin/busybox', 'true', m]);
      assert.equal(x.code, 0, `podman exec in ${c.name}: ${x.stderr}`);
      const e = await cli
        .waitForEvent(isExec('/bin/busybox', 'true', m), 10_000, `exec in ${c.name}`)
        .catch((err: Error) => {
          const near = cli.events.filter((x) => argsOf(x).join(' ').includes(m));
          throw new Error(
            `${err.message.split(';')[0]}; events naming ${m}: ${JSON.stringify(near)}`,
          );
        });
      assert.equal(e.container, c.name, JSON.stringify(e));
      assert.equal(e.container_id, c.id, JSON.stringify(e));
      assert.equal(e.runtime, 'podman', JSON.stringify(e));
    }
  }

  test(`a daemon started while ${N} containers run lists them all, named`, async () => {
    const cs = await Promise.all(
      Array.from({ length: N }, (_, i) => pool.start(`idr-before${i}`, SLEEPER)),
    );
    await d!.start();
    // at once: no event of theirs was needed for the daemon to know them
    const r = await d!.ok(['list-containers', '-o', 'json']);
    assertListsContainers(r.stdout, cs);
    const cli = await traceIn(cs[0]!);
    await assertExecsNamed(cli, cs);
    await cli.stop();
  });

  test('a container started while the daemon was down is named once it is back', async () => {
    assert.ok(d!.running, 'the daemon of the previous test runs');
    const x = await d!.stop('SIGTERM', 15_000);
    assert.equal(x?.code, 0, `daemon exit: ${d!.daemon.describeExit()}`);
    const c = await pool.start('idr-down', SLEEPER);
    await sleep(200);
    await d!.start();
    const r = await d!.ok(['list-containers', '-o', 'json']);
    assertListsContainers(r.stdout, [c]);
    const cli = await traceIn(c);
    await assertExecsNamed(cli, [c]);
    await cli.stop();
  });
});
