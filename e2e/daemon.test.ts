// The daemon as a real process on a unix socket, and real CLI clients with --remote: socket
// mode, version and list-containers, two concurrent runs with their own filters, a client killed
// with SIGKILL (its run stops and its objects go; the other client keeps streaming), a client
// that stops answering (keepalive), and SIGTERM of the daemon (socket removed, nothing loaded).
//
// The daemon keeps its container tracker loaded between runs: "back to baseline" means the set
// of BPF objects the daemon holds (its /proc/<pid>/fdinfo) is again exactly the set it held
// before any run, and the run's objects are gone from the kernel.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cli, marker, readyOpen, ROOT, runCli, sleep, waitReady } from './helpers/cli.js';
import type { Ev } from './helpers/cli.js';
import { count, fmt, heldClosure, LeakCheck, minus, union, waitReleased } from './helpers/bpf.js';
import type { BpfIds } from './helpers/bpf.js';
import {
  assertFields,
  assertKeys,
  assertListsContainers,
  describe as show,
  EXEC_KEYS,
} from './helpers/events.js';
import { ALL, assertOpens, noSelf, runOpens } from './helpers/opens.js';
import { abandonAll } from './helpers/trace.js';
import { ContainerPool, execIn, podmanAvailable } from './fixtures/podman.js';
import type { TestContainer } from './fixtures/podman.js';

const canRun = podmanAvailable();

function sameIds(a: BpfIds, b: BpfIds): boolean {
  return count(minus(a, b)) === 0 && count(minus(b, a)) === 0;
}

/** Waits until the daemon holds exactly `want`; returns the ms it took. */
async function waitHeld(pid: number, want: BpfIds, timeoutMs: number, what: string) {
  const t0 = Date.now();
  for (;;) {
    const h = heldClosure(pid);
    if (sameIds(h, want)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(
        `${what}: after ${timeoutMs} ms the daemon holds +[${fmt(minus(h, want))}] -[${fmt(minus(want, h))}]`,
      );
    }
    await sleep(200);
  }
}

function readyExecIn(c: TestContainer): (cli: Cli) => Promise<Ev> {
  return (cli) =>
    waitReady(
      cli,
      (m) => execIn(c, ['/bin/true', m]),
      (e, m) => Array.isArray(e.args) && e.args[1] === m,
      60_000,
    );
}

/** The exec `/bin/echo <m>` in container c, as the client must show it. */
async function assertEchoIn(cli: Cli, c: TestContainer, m: string): Promise<void> {
  const e = await cli.waitForEvent(
    (x) => JSON.stringify(x.args) === JSON.stringify(['/bin/echo', m]),
    15_000,
    `echo ${m}`,
  );
  assertKeys(e, EXEC_KEYS);
  assertFields(e, {
    namespace: '',
    pod: '',
    container: c.name,
    container_id: c.id,
    runtime: 'podman',
    mntns_id: c.mntns,
    uid: 0,
    gid: 0,
    comm: 'echo',
    ret: 0,
    error: '',
    args: ['/bin/echo', m],
    cwd: '/',
    exepath: '/bin/busybox',
  });
  assert.equal(e.tid, e.pid);
}

describe(
  'daemon on a unix socket',
  { skip: !canRun && 'needs root and podman', concurrency: 1 },
  () => {
    const pool = new ContainerPool();
    let a: TestContainer;
    let b: TestContainer;
    let dir: string;
    let sock: string;
    let addr: string;
    let daemon: Cli;
    let baseline: BpfIds;
    let leaks: LeakCheck;

    before(async () => {
      leaks = new LeakCheck();
      [a, b] = await Promise.all([
        pool.start('da', ['sleep', '1000']),
        pool.start('db', ['sleep', '1000']),
      ]);
      dir = realpathSync(mkdtempSync('/tmp/kgtest-daemon-'));
      sock = join(dir, 'gadget.sock');
      addr = `unix://${sock}`;
      daemon = new Cli(['daemon', '--listen', addr]);
      await daemon.waitUntil(
        () => daemon.stderr.includes('listening') && existsSync(sock),
        30_000,
        'the daemon listening',
      );
      baseline = heldClosure(daemon.pid);
      leaks.track(daemon.pid);
    });

    after(async () => {
      await abandonAll();
      if (daemon?.running) await daemon.stop('SIGKILL');
      await pool.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    test('listens on the socket with mode 0600; holds its container tracker before any run', () => {
      const st = statSync(sock);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.uid, 0);
      assert.match(
        daemon.stderr,
        new RegExp(`listening on ${addr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      );
      assert.ok(baseline.prog.size > 0, 'the tracker is loaded before any run');
      assert.equal(daemon.running, true);
    });

    test('version --remote: client and daemon versions, node, kernel', async () => {
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        version: string;
      };
      const r = await runCli(['version', '--remote', addr, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        clientVersion: pkg.version,
        server: { version: pkg.version, node: hostname(), kernel: release(), address: addr },
      });
      const text = await runCli(['version', '--remote', addr]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`^Client version: v${pkg.version}$`, 'm'));
      assert.match(
        text.stdout,
        new RegExp(`^Server version: v${pkg.version} \\(node ${hostname()}`, 'm'),
      );
    });

    test('list-containers --remote: the running containers', async () => {
      const r = await runCli(['list-containers', '--remote', addr, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assertListsContainers(r.stdout, [a, b]);
    });

    test('two concurrent clients, each with its own events; SIGKILL of one stops only its run', async (t) => {
      const opensDir = realpathSync(mkdtempSync(join(dir, 'opens-')));
      const c1 = new Cli(['trace', 'exec', '--remote', addr, '-c', a.name, '-o', 'json']);
      await readyExecIn(a)(c1);
      const run1 = minus(heldClosure(daemon.pid), baseline);
      assert.ok(run1.prog.size > 0 && run1.link.size > 0, `run 1 loaded: ${fmt(run1)}`);
      leaks.track(daemon.pid);

      const c2 = new Cli([
        'trace',
        'open',
        '--remote',
        addr,
        '--full-path',
        '--prefix',
        opensDir,
        '-o',
        'json',
      ]);
      await readyOpen(c2, opensDir);
      const run2 = minus(heldClosure(daemon.pid), union(baseline, run1));
      assert.ok(run2.prog.size > 0 && run2.link.size > 0, `run 2 loaded: ${fmt(run2)}`);
      leaks.track(daemon.pid);

      // each client gets its own events, and only those
      const [ma, mb] = [marker('a'), marker('b')];
      await execIn(a, ['/bin/echo', ma]);
      await execIn(b, ['/bin/echo', mb]);
      const w1 = await runOpens(realpathSync(mkdtempSync(join(opensDir, 'w-'))));
      await assertEchoIn(c1, a, ma);
      await assertOpens(c2, w1, ALL, w1.lines[4]!.path as string, true);
      await sleep(300);
      const notA = c1.events.filter((e) => e.container !== a.name);
      assert.deepEqual(notA, [], `client 1 (-c ${a.name}):\n${show(notA)}`);
      const outside = c2.events.filter(
        (e) => !String(e.path).startsWith(opensDir) && !String(e.full_path).startsWith(opensDir),
      );
      assert.deepEqual(outside, [], `client 2 (--prefix):\n${show(outside.slice(0, 5))}`);
      noSelf(c2);
      const ofDaemon = c2.events.filter((e) => e.pid === daemon.pid);
      assert.deepEqual(ofDaemon, [], "the daemon's own opens");

      // kill -9 client 1 mid-stream: its run stops, the other goes on
      await c1.kill9();
      const took = await waitHeld(
        daemon.pid,
        union(baseline, run2),
        15_000,
        'after SIGKILL of client 1',
      );
      await waitReleased(run1, 5_000, "client 1's run");
      const w2 = await runOpens(realpathSync(mkdtempSync(join(opensDir, 'w-'))));
      await assertOpens(c2, w2, ALL, w2.lines[4]!.path as string, true);
      assert.equal(c2.running, true);

      const x2 = await c2.stop('SIGINT');
      assert.equal(x2.code, 0, c2.describeExit());
      assert.equal(x2.stderr.trim(), '');
      await waitHeld(daemon.pid, baseline, 15_000, 'after client 2 stopped');
      await waitReleased(run2, 5_000, "client 2's run");
      assert.equal(daemon.running, true, daemon.describeExit());
      assert.ok(took <= 15_000, `run 1 stopped ${took} ms after the client died`);
      t.diagnostic(`the daemon released run 1 ${took} ms after SIGKILL of its client`);
    });

    test('a client that stops answering (SIGSTOP): keepalive ends its run within 15 s', async (t) => {
      const c3 = new Cli(['trace', 'exec', '--remote', addr, '-c', a.name, '-o', 'json']);
      try {
        await readyExecIn(a)(c3);
        const run3 = minus(heldClosure(daemon.pid), baseline);
        assert.ok(run3.prog.size > 0, fmt(run3));
        leaks.track(daemon.pid);
        process.kill(c3.pid, 'SIGSTOP');
        const t0 = Date.now();
        // events keep coming for it meanwhile
        const busy = (async () => {
          while (Date.now() - t0 < 16_000 && count(minus(heldClosure(daemon.pid), baseline)) > 0) {
            await execIn(a, ['/bin/true', 'kg-busy']);
            await sleep(200);
          }
        })();
        const took = await waitHeld(daemon.pid, baseline, 15_000, 'after SIGSTOP of the client');
        await busy;
        await waitReleased(run3, 5_000, "the stopped client's run");
        assert.ok(took <= 15_000, `${took} ms`);
        t.diagnostic(`the daemon released the stopped client's run after ${took} ms`);
      } finally {
        await c3.kill9();
      }
      assert.equal(daemon.running, true, daemon.describeExit());
    });

    test('SIGTERM: the daemon exits 0, removes its socket and leaves nothing loaded', async () => {
      const x = await daemon.stop('SIGTERM', 15_000);
      assert.equal(x.code, 0, daemon.describeExit());
      assert.equal(existsSync(sock), false, 'socket removed');
      await leaks.assertClean();
      const errors = x.stderr.split('\n').filter((l) => /^error/i.test(l));
      assert.deepEqual(errors, [], x.stderr);
    });
  },
);
