// Containers, with real podman containers from the busybox rootfs: list-containers, the -c,
// --container-id and --host filters (in the kernel), enrichment with the container's name, id
// and runtime, the entrypoint exec of a container started after tracing began, and a process
// that unshares its own mount namespace inside a container.

import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { descriptor as traceExec } from '../gadgets/trace_exec/gadget.js';
import { Cli, marker, runCli, sleep, waitReady } from './helpers/cli.js';
import type { Ev } from './helpers/cli.js';
import {
  assertFields,
  assertListsContainers,
  assertKeys,
  assertTimestamp,
  describe as show,
  eventKeys,
} from './helpers/events.js';
import { abandonAll, finishTraced, startTraced } from './helpers/trace.js';
import type { Traced } from './helpers/trace.js';
import { hostMntns, NODE_NAME, runWorkload } from './helpers/workload.js';
import {
  ContainerPool,
  execIn,
  podmanAvailable,
  removeContainer,
  startContainer,
  uniqueName,
} from './fixtures/podman.js';
import type { TestContainer } from './fixtures/podman.js';

const canRun = podmanAvailable();

/** Readiness through the container: `podman exec C /bin/true <marker>`. */
function readyIn(c: TestContainer): (cli: Cli) => Promise<Ev> {
  return (cli) =>
    waitReady(
      cli,
      (m) => execIn(c, ['/bin/true', m]),
      (e, m) => Array.isArray(e.args) && e.args[1] === m,
      60_000,
    );
}

function placedIn(c: TestContainer): Record<string, unknown> {
  return {
    node: NODE_NAME,
    namespace: '',
    pod: '',
    container: c.name,
    container_id: c.id,
    runtime: 'podman',
    mntns_id: c.mntns,
  };
}

/** The exec of busybox `argv[0]` (a /bin symlink to /bin/busybox) by root in the container's / . */
function busyboxExec(c: TestContainer, argv: string[], comm: string): Record<string, unknown> {
  return {
    ...placedIn(c),
    uid: 0,
    gid: 0,
    comm,
    ret: 0,
    error: '',
    args: argv,
    args_truncated: false,
    cwd: '/',
    exepath: '/bin/busybox',
  };
}

const withArgs = (cli: Cli, args: string[]): Ev[] =>
  cli.events.filter((e) => JSON.stringify(e.args) === JSON.stringify(args));

/** The one event with these args (waited for), checked for its keys, pid == tid. */
async function theExec(cli: Cli, args: string[], from: number): Promise<Ev> {
  await cli.waitForEvent(
    (e) => JSON.stringify(e.args) === JSON.stringify(args),
    15_000,
    `exec ${args.join(' ')}`,
  );
  await sleep(300);
  const evs = withArgs(cli, args);
  assert.equal(evs.length, 1, show(evs));
  const e = evs[0]!;
  assertKeys(e, eventKeys(traceExec));
  assertTimestamp(e, from, Date.now());
  assert.equal(e.tid, e.pid);
  assert.ok((e.ppid as number) > 0 && typeof e.pcomm === 'string' && e.pcomm !== '', 'parent');
  return e;
}

/** Proves `pid` is a host pid of a process of container c running `argv`. */
function assertHostPidIn(pid: number, c: TestContainer, argv: string[]): void {
  assert.equal(readlinkSync(`/proc/${pid}/ns/mnt`), `mnt:[${c.mntns}]`);
  assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), argv.join('\0') + '\0');
  const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  const ids = nspid.split(/\s+/).map(Number);
  assert.equal(ids[0], pid, `NSpid ${nspid}: the event's pid is the host's`);
  assert.equal(ids.length, 2, `NSpid ${nspid}: the process is in the container's pid namespace`);
}

describe(
  'containers (podman)',
  { skip: !canRun && 'needs root and podman', concurrency: 1 },
  () => {
    const pool = new ContainerPool();
    let a: TestContainer; // may unshare (CAP_SYS_ADMIN)
    let b: TestContainer;
    let t: Traced | undefined;
    const extra: string[] = [];

    before(async () => {
      [a, b] = await Promise.all([
        pool.start('a', ['sleep', '1000'], { args: ['--cap-add', 'SYS_ADMIN'] }),
        pool.start('b', ['sleep', '1000']),
      ]);
    });
    after(async () => {
      await abandonAll();
      await pool.cleanup();
      for (const n of extra) await removeContainer(n);
    });

    test('list-containers --local -o json: name, id, pid, mount namespace, runtime, state', async () => {
      const r = await runCli(['list-containers', '--local', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assertListsContainers(r.stdout, [a, b]);
      const one = await runCli(['list-containers', '--local', '-o', 'json', '-c', b.name]);
      assert.equal(one.code, 0, one.stderr);
      assert.deepEqual(
        (JSON.parse(one.stdout) as Array<Record<string, unknown>>).map((x) => x.name),
        [b.name],
      );
    });

    for (const [flag, value] of [
      ['-c', (c: TestContainer) => c.name],
      ['--container-id', (c: TestContainer) => c.id.slice(0, 12)],
    ] as const) {
      test(`trace exec ${flag}: only that container's execs, enriched, with host pids`, async () => {
        t = await startTraced(
          ['trace', 'exec', '--local', '-o', 'json', flag, value(a)],
          readyIn(a),
        );
        const from = Date.now();
        const [ma, mb, mh] = [marker('a'), marker('b'), marker('host')];
        const sleeper = ['/bin/sleep', `3.${Math.floor(Math.random() * 1000)}`];
        const sleeping = execIn(a, sleeper);
        await execIn(a, ['/bin/echo', ma]);
        await execIn(b, ['/bin/echo', mb]);
        const host = await runWorkload([mh], { program: '/bin/echo' });
        const e = await theExec(t.cli, ['/bin/echo', ma], from);
        assertFields(e, busyboxExec(a, ['/bin/echo', ma], 'echo'));
        const s = await theExec(t.cli, sleeper, from);
        assertFields(s, busyboxExec(a, sleeper, 'sleep'));
        assertHostPidIn(s.pid as number, a, sleeper);
        assert.equal(withArgs(t.cli, ['/bin/echo', mb]).length, 0, 'exec in the other container');
        assert.equal(t.cli.events.filter((x) => x.pid === host.pid).length, 0, 'host exec');
        const stray = t.cli.events.filter((x) => x.container !== a.name || x.container_id !== a.id);
        assert.deepEqual(stray, [], show(stray));
        await sleeping;
        await finishTraced(t);
      });
    }

    test('trace exec --host: only processes outside containers', async () => {
      t = await startTraced(['trace', 'exec', '--local', '-o', 'json', '--host'], (cli) =>
        waitReady(
          cli,
          (m) => runWorkload([m], { program: '/bin/true' }),
          (e, m) => Array.isArray(e.args) && e.args[1] === m,
        ),
      );
      const [ma, mu, mh] = [marker('a'), marker('unshared'), marker('host')];
      await execIn(a, ['/bin/echo', ma]);
      await execIn(a, ['unshare', '-m', '/bin/echo', mu]);
      const host = await runWorkload([mh], { program: '/bin/echo' });
      const [e] = await (async () => {
        await t!.cli.waitForEvent((x) => x.pid === host.pid, 10_000, 'the host exec');
        await sleep(500);
        return t!.cli.events.filter((x) => x.pid === host.pid);
      })();
      assertKeys(e!, eventKeys(traceExec));
      assertTimestamp(e!, host.startMs, host.endMs);
      assertFields(e!, {
        node: NODE_NAME,
        namespace: '',
        pod: '',
        container: '',
        container_id: '',
        runtime: '',
        mntns_id: hostMntns(),
        pid: host.pid,
        tid: host.pid,
        uid: 0,
        gid: 0,
        comm: 'echo',
        ppid: process.pid,
        ret: 0,
        error: '',
        args: ['/bin/echo', mh],
        args_truncated: false,
      });
      // podman's own command lines hold the markers too: match the container's execs exactly
      for (const args of [
        ['/bin/echo', ma],
        ['unshare', '-m', '/bin/echo', mu],
        ['/bin/echo', mu],
      ]) {
        const inC = withArgs(t.cli, args);
        assert.deepEqual(inC, [], `container exec in --host output: ${show(inC)}`);
      }
      const stray = t.cli.events.filter((x) => x.container !== '' || x.runtime !== '');
      assert.deepEqual(stray, [], show(stray));
      await finishTraced(t);
    });

    test('a container started after tracing began: its entrypoint exec, enriched', async () => {
      const lateName = uniqueName('late');
      extra.push(lateName);
      t = await startTraced(
        ['trace', 'exec', '--local', '-o', 'json', '-c', b.name, '-c', lateName],
        readyIn(b),
      );
      const from = Date.now();
      const m = marker('entry');
      const script = `/bin/echo ${m}; exec /bin/sleep 1000`;
      const late = await startContainer(lateName, ['/bin/sh', '-c', script]);
      const entry = await theExec(t.cli, ['/bin/sh', '-c', script], from);
      assertFields(entry, { ...busyboxExec(late, ['/bin/sh', '-c', script], 'sh'), pid: late.pid });
      const first = t.cli.events.find((x) => x.container === lateName);
      assert.deepEqual(first, entry, 'the entrypoint is the first event of the container');
      const echo = await theExec(t.cli, ['/bin/echo', m], from);
      assertFields(echo, busyboxExec(late, ['/bin/echo', m], 'echo'));
      const sl = await theExec(t.cli, ['/bin/sleep', '1000'], from);
      assertFields(sl, { ...busyboxExec(late, ['/bin/sleep', '1000'], 'sleep'), pid: late.pid });
      const stray = t.cli.events.filter((x) => x.container !== b.name && x.container !== lateName);
      assert.deepEqual(stray, [], show(stray));
      await finishTraced(t);
    });

    test('a process that unshares its mount namespace in a container still belongs to it', async () => {
      t = await startTraced(['trace', 'exec', '--local', '-o', 'json', '-c', a.name], readyIn(a));
      const from = Date.now();
      const m = marker('unshared');
      const r = await execIn(a, [
        'unshare',
        '-m',
        '/bin/sh',
        '-c',
        `readlink /proc/self/ns/mnt; exec /bin/echo ${m}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const ns = /mnt:\[(\d+)\]/.exec(r.stdout);
      assert.ok(ns && Number(ns[1]) !== a.mntns, `a new mount namespace: ${r.stdout}`);
      const e = await theExec(t.cli, ['/bin/echo', m], from);
      // reported with the container's own mount namespace (the alias is resolved in the kernel)
      assertFields(e, busyboxExec(a, ['/bin/echo', m], 'echo'));
      const sh = withArgs(t.cli, [
        '/bin/sh',
        '-c',
        `readlink /proc/self/ns/mnt; exec /bin/echo ${m}`,
      ]);
      assert.equal(sh.length, 1, 'the shell unshare started');
      assertFields(sh[0]!, { ...placedIn(a), pid: e.pid });
      await finishTraced(t);
    });
  },
);
