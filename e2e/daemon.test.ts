// The daemon as a real process on a unix socket, and real CLI clients with --remote: socket
// mode, version and list-containers, two concurrent runs with their own filters, a client killed
// with SIGKILL (its run stops and its objects go; the other client keeps streaming), a client
// that stops answering (keepalive), and SIGTERM of the daemon (socket removed, nothing loaded).
//
// The daemon keeps its container tracker loaded between runs: "back to baseline" means the set
// of BPF objects the daemon holds (its /proc/<pid>/fdinfo) is again exactly the set it held
// before any run, and the run's objects are gone from the kernel.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, realpathSync, statSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { descriptor as traceExec } from '../gadgets/trace_exec/gadget.js';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../proto/gen/gadget/v1/gadget.js';
import { Cli, marker, readyExec, readyOpen, runCli, sleep, waitReady } from './helpers/cli.js';
import type { Ev } from './helpers/cli.js';
import {
  count,
  emptyIds,
  fmt,
  heldClosure,
  LeakCheck,
  liveObjects,
  minus,
  union,
  waitReleased,
} from './helpers/bpf.js';
import type { BpfIds } from './helpers/bpf.js';
import {
  assertFields,
  assertKeys,
  assertListsContainers,
  describe as show,
  eventKeys,
} from './helpers/events.js';
import { ALL, assertOpens, noSelf, runOpens } from './helpers/opens.js';
import { abandonAll, startTraced } from './helpers/trace.js';
import { startDaemon, TestDaemon } from './helpers/daemon.js';
import { isBpfError, ObjectSpec, type Collection } from '../daemon/src/bpf/index.js';
import { emptyFilter } from '../gadgets/framework/filter.js';
import { gadgetObjectPath } from '../gadgets/framework/paths.js';
import { ContainerPool, execIn, podmanAvailable } from './fixtures/podman.js';
import type { TestContainer } from './fixtures/podman.js';

const canRun = podmanAvailable();
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The run's links to programs the daemon held before any run: the container tracker's unshare
 * hooks, attached while any run holds them (so they stay while another run goes on).
 */
function trackerHooks(run: BpfIds, baseline: BpfIds): BpfIds {
  const hooks = emptyIds();
  for (const l of liveObjects().links) {
    if (run.link.has(l.id) && l.prog_id !== undefined && baseline.prog.has(l.prog_id)) {
      hooks.link.add(l.id);
    }
  }
  return hooks;
}

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
  assertKeys(e, eventKeys(traceExec));
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
    let td: TestDaemon | undefined;
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
      td = new TestDaemon('daemon');
      ({ dir, sock, addr } = td);
      daemon = await td.start();
      baseline = heldClosure(daemon.pid);
      leaks.track(daemon.pid);
    });

    after(async () => {
      await abandonAll();
      await td?.cleanup({ traceloop: false, signal: 'SIGKILL' });
      await pool.cleanup();
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
      // the package version plus this tree's build id (+commit[.dirty].time), when stamped
      const { version } = await import('../gadgets/framework/version.js');
      const pkg = { version };
      const v = pkg.version.replace(/[.+]/g, '\\$&');
      const r = await runCli(['version', '--remote', addr, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        clientVersion: pkg.version,
        server: { version: pkg.version, node: hostname(), kernel: release(), address: addr },
      });
      const text = await runCli(['version', '--remote', addr]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`^Client version: v${v}$`, 'm'));
      assert.match(text.stdout, new RegExp(`^Server version: v${v} \\(node ${hostname()}`, 'm'));
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
      const hooks = trackerHooks(run1, baseline);
      assert.equal(hooks.link.size, 2, `the tracker's unshare hooks: ${fmt(hooks)}`);
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
        union(union(baseline, run2), hooks),
        15_000,
        'after SIGKILL of client 1',
      );
      await waitReleased(minus(run1, hooks), 5_000, "client 1's run");
      const w2 = await runOpens(realpathSync(mkdtempSync(join(opensDir, 'w-'))));
      await assertOpens(c2, w2, ALL, w2.lines[4]!.path as string, true);
      assert.equal(c2.running, true);

      const x2 = await c2.stop('SIGINT');
      assert.equal(x2.code, 0, c2.describeExit());
      assert.equal(x2.stderr.trim(), '');
      await waitHeld(daemon.pid, baseline, 15_000, 'after client 2 stopped');
      await waitReleased(union(run2, hooks), 5_000, "client 2's run");
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

// ---- hostile and heavy requests (issue 10, items 5, 6, 8, 10, 11, 21) ------------------------

type Status = { code: grpc.status; details: string; ms: number };
const F0: pb.ContainerFilter = emptyFilter();
/** A method of pb.GadgetServiceDefinition. */
type Method = {
  path: string;
  requestSerialize: (r: never) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
  responseStream: boolean;
};

/**
 * A call's final status, or 'no status' when none came within timeoutMs (a server-streaming call
 * is then cancelled; a unary one has that deadline).
 */
function callStatus(
  client: grpc.Client,
  def: Method,
  req: object,
  timeoutMs: number,
): Promise<Status | 'no status'> {
  const t0 = Date.now();
  const status = (code: grpc.status, details: string): Status => ({
    code,
    details,
    ms: Date.now() - t0,
  });
  const serialize = def.requestSerialize as (r: object) => Buffer;
  return new Promise((resolve) => {
    if (!def.responseStream) {
      client.makeUnaryRequest(
        def.path,
        serialize,
        def.responseDeserialize,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (e) => {
          if (e?.code === grpc.status.DEADLINE_EXCEEDED) resolve('no status');
          else resolve(status(e?.code ?? grpc.status.OK, e?.details ?? ''));
        },
      );
      return;
    }
    const call = client.makeServerStreamRequest(def.path, serialize, def.responseDeserialize, req);
    const timer = setTimeout(() => {
      call.cancel();
      resolve('no status');
    }, timeoutMs);
    call.on('data', () => {});
    call.on('error', () => {}); // the status below says it
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      resolve(status(s.code, s.details));
    });
  });
}

const run = (o: Partial<pb.RunRequest>): pb.RunRequest => ({
  gadget: 'trace_exec',
  params: {},
  filter: null,
  timeoutSeconds: 1,
  kernelFilters: [],
  ...o,
});

describe(
  'daemon: hostile and heavy requests',
  { skip: !isRoot && 'needs root', concurrency: 1 },
  () => {
    let d: TestDaemon;
    // a connection of its own per test: a call that hangs its connection must not fail the next
    let client: grpc.Client;
    const D = pb.GadgetServiceDefinition;
    before(async () => {
      d = await startDaemon('dh-hostile');
    });
    beforeEach(() => {
      client = new grpc.Client(
        d.addr.replace('unix://', 'unix:'),
        grpc.credentials.createInsecure(),
        { 'grpc.use_local_subchannel_pool': 1 },
      );
    });
    afterEach(() => client.close());
    after(() => d?.cleanup({ traceloop: false, timeoutMs: 15_000 }));

    test('100 KB in any echoed field: a short status at once, and the connection keeps answering', async (t) => {
      const big = 'x'.repeat(100_000);
      const echo = `${'x'.repeat(200)}…`;
      const cases: Array<[string, () => Promise<Status | 'no status'>, grpc.status, string]> = [
        [
          'gadget',
          () => callStatus(client, D.runGadget, run({ gadget: big }), 5000),
          grpc.status.NOT_FOUND,
          `unknown gadget "${echo}"`,
        ],
        [
          'param key',
          () => callStatus(client, D.runGadget, run({ params: { [big]: '1' } }), 5000),
          grpc.status.INVALID_ARGUMENT,
          `unknown parameter "${echo}" for trace exec`,
        ],
        [
          'param value (bool)',
          () => callStatus(client, D.runGadget, run({ params: { 'ignore-failed': big } }), 5000),
          grpc.status.INVALID_ARGUMENT,
          `invalid value "${echo}" for --ignore-failed: expected true or false`,
        ],
        [
          'param value (string[])',
          () =>
            callStatus(
              client,
              D.runGadget,
              run({ gadget: 'trace_open', params: { prefix: big } }),
              5000,
            ),
          grpc.status.INVALID_ARGUMENT,
          `invalid value "${echo}" for --prefix: prefix longer than 63 bytes`,
        ],
        [
          'label selector',
          () =>
            callStatus(client, D.runGadget, run({ filter: { ...F0, labelSelector: big } }), 5000),
          grpc.status.INVALID_ARGUMENT,
          `invalid label selector "${echo}"`,
        ],
        [
          'label selector (bad key)',
          () =>
            callStatus(
              client,
              D.runGadget,
              run({ filter: { ...F0, labelSelector: `a=b,${big}` } }),
              5000,
            ),
          grpc.status.INVALID_ARGUMENT,
          `invalid label selector "a=b,${'x'.repeat(196)}…"`,
        ],
        [
          'traceloop session (stop)',
          () => callStatus(client, D.traceloopStop, { sessionId: big }, 5000),
          grpc.status.FAILED_PRECONDITION,
          'traceloop is not running',
        ],
        [
          'traceloop container (show)',
          () =>
            callStatus(
              client,
              D.traceloopShow,
              { sessionId: big, container: big, instance: '0' },
              5000,
            ),
          grpc.status.FAILED_PRECONDITION,
          'traceloop is not running',
        ],
        [
          'traceloop syscall (start)',
          () =>
            callStatus(
              client,
              D.traceloopStart,
              {
                filter: F0,
                bufferKib: 0,
                syscalls: [big],
                maxMemoryMib: 0,
                syscallsPerContainer: 0,
              },
              5000,
            ),
          grpc.status.INVALID_ARGUMENT,
          `unknown syscall "${echo}" in --syscall-filter`,
        ],
      ];
      for (const [name, call, code, text] of cases) {
        const s = await call();
        assert.notEqual(s, 'no status', `${name}: no status within 5 s`);
        if (s === 'no status') continue;
        assert.equal(grpc.status[s.code], grpc.status[code], `${name}: ${s.details.slice(0, 300)}`);
        assert.ok(s.details.includes(text), `${name}: ${s.details.slice(0, 300)}`);
        assert.ok(s.details.length <= 1000, `${name}: ${s.details.length} chars`);
        assert.ok(s.ms < 2000, `${name}: ${s.ms} ms`);
        t.diagnostic(`${name}: ${grpc.status[s.code]} after ${s.ms} ms, ${s.details.length} chars`);
      }
      const info = await callStatus(client, D.getInfo, {}, 3000);
      assert.deepEqual(
        info !== 'no status' && info.code,
        grpc.status.OK,
        'GetInfo on the same connection',
      );
      assert.equal(d.daemon.running, true);
    });

    test('timeout_seconds beyond what a timer can hold: INVALID_ARGUMENT; the largest one runs', async () => {
      for (const timeoutSeconds of [2_147_484, 4_294_967_295]) {
        const s = await callStatus(client, D.runGadget, run({ timeoutSeconds }), 5000);
        assert.deepEqual(s !== 'no status' && [grpc.status[s.code], s.details], [
          'INVALID_ARGUMENT',
          `invalid timeout of ${timeoutSeconds} seconds: at most 2147483 (24 days)`,
        ]);
      }
      // 2147483 s is accepted: the run starts and is still going 1 s later
      const def = D.runGadget;
      const call = client.makeServerStreamRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        run({ timeoutSeconds: 2_147_483 }),
      );
      call.on('error', () => {}); // cancelled below
      const ended = new Promise<grpc.StatusObject>((r) => call.on('status', r));
      await new Promise<void>((r) => call.once('data', () => r()));
      const early = await Promise.race([ended, sleep(1500).then(() => 'running' as const)]);
      call.cancel();
      assert.equal(early, 'running');
      await ended;
    });

    test('TraceloopShow with an instance beyond 2^53: INVALID_ARGUMENT, not INTERNAL', async () => {
      for (const instance of ['18446744073709551615', '9007199254740992']) {
        const s = await callStatus(
          client,
          D.traceloopShow,
          { sessionId: '', container: 'c', instance },
          5000,
        );
        assert.deepEqual(s !== 'no status' && [grpc.status[s.code], s.details], [
          'INVALID_ARGUMENT',
          `invalid instance ${instance}: at most 9007199254740991 (see traceloop list)`,
        ]);
      }
    });

    test('non-scalar JSON in a parameter of each type: the message of any bad value, no internal text', async () => {
      const cases: Array<[string, string, string, string]> = [
        [
          'trace_open',
          'prefix',
          '[1,{},null]',
          'expected a JSON array of strings, e.g. ["/etc","/tmp"]',
        ],
        [
          'trace_open',
          'prefix',
          '["/a",["/b"]]',
          'expected a JSON array of strings, e.g. ["/etc","/tmp"]',
        ],
        ['trace_open', 'prefix', '[', 'expected a JSON array of strings, e.g. ["/etc","/tmp"]'],
        ['trace_open', 'failed', '[1,{},null]', 'expected true or false'],
        ['trace_open', 'failed', '{"a":1}', 'expected true or false'],
        ['advise_network_policy', 'report-interval', '[1,{},null]', 'expected an integer'],
        ['advise_network_policy', 'report-interval', '{}', 'expected an integer'],
      ];
      for (const [gadget, key, value, why] of cases) {
        const s = await callStatus(
          client,
          D.runGadget,
          run({ gadget, params: { [key]: value } }),
          5000,
        );
        assert.deepEqual(s !== 'no status' && [grpc.status[s.code], s.details], [
          'INVALID_ARGUMENT',
          `invalid value "${value}" for --${key}: ${why}`,
        ]);
      }
    });

    test('a tracepoint with its 64 programs taken: a user error saying so, --local and remote; nothing stays loaded', async (t) => {
      const leaks = new LeakCheck();
      const baseline = heldClosure(d.daemon.pid);
      const held: Collection[] = [];
      const line =
        'Error: cannot attach trace_execve_exit to tracepoint syscalls/sys_exit_execve: the kernel allows at most 64 BPF programs per tracepoint, and other runs or eBPF tools on this node use them all\n' +
        'Hint: end other kubectl-gadget runs or eBPF tools on this node (bpftool perf list shows them), then retry\n';
      try {
        // copies of trace exec's sys_exit_execve program until the kernel refuses one (E2BIG);
        // held for a few seconds only: every other tool on this tracepoint fails meanwhile
        for (let i = 0; i <= 64; i++) {
          const spec = ObjectSpec.open(gadgetObjectPath('trace_exec'));
          for (const p of spec.programs()) spec.setAutoload(p.name, p.name === 'trace_execve_exit');
          spec.setMapMaxEntries('events', 4096);
          const c = spec.load();
          try {
            c.attach();
            held.push(c);
          } catch (e) {
            c.close();
            if (isBpfError(e) && e.code === 'E2BIG') break;
            throw e;
          }
        }
        assert.ok(held.length <= 64, `${held.length} programs attached`);
        t.diagnostic(`${held.length} copies filled the tracepoint`);
        const local = await runCli(['trace', 'exec', '--local', '--timeout', '5', '-o', 'json']);
        const remote = await runCli(['trace', 'exec', '--remote', d.addr, '--timeout', '5']);
        for (const r of [local, remote]) {
          assert.equal(r.stderr, line);
          assert.equal(r.stdout, '');
          assert.equal(r.code, 1);
        }
      } finally {
        for (const c of held) c.close();
      }
      await waitHeld(d.daemon.pid, baseline, 5000, 'the daemon after the refused run');
      await leaks.assertNothingNew();
    });
  },
);

describe('daemon stopped mid-stream', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  const started: TestDaemon[] = [];
  after(async () => {
    await abandonAll();
    for (const d of started) await d.cleanup({ traceloop: false, signal: 'SIGKILL' });
  });

  /** A daemon with a CLI streaming trace exec from it (attached, events flowing). */
  async function streaming(tag: string): Promise<{ d: TestDaemon; cli: Cli; leaks: LeakCheck }> {
    const leaks = new LeakCheck();
    const d = await startDaemon(`dh-${tag}`);
    started.push(d);
    const t = await startTraced(
      ['trace', 'exec', '--remote', d.addr, '-o', 'json'],
      (c) => readyExec(c),
      {
        leaks,
        trackPid: d.daemon.pid,
      },
    );
    return { d, cli: t.cli, leaks };
  }

  test('SIGTERM of the daemon: the CLI says the daemon ended the run and exits 1', async () => {
    const { d, cli, leaks } = await streaming('term');
    const x = await d.daemon.stop('SIGTERM', 15_000);
    assert.equal(x.code, 0, d.daemon.describeExit());
    const c = await Promise.race([cli.exited, sleep(10_000).then(() => undefined)]);
    assert.ok(c, 'the CLI still runs 10 s after the daemon stopped');
    assert.equal(c.code, 1, cli.describeExit());
    assert.equal(c.stderr, `Error: the daemon at ${d.addr} ended the run: it is shutting down\n`);
    assert.ok(cli.events.length > 0, 'events before the stop were shown');
    await leaks.assertClean();
  });

  test('kill -9 of the daemon: the CLI says the connection was lost and exits 1, never hangs', async () => {
    const { d, cli, leaks } = await streaming('kill');
    await d.daemon.kill9();
    const c = await Promise.race([cli.exited, sleep(15_000).then(() => undefined)]);
    assert.ok(c, 'the CLI still runs 15 s after the daemon died');
    assert.equal(c.code, 1, cli.describeExit());
    assert.match(
      c.stderr,
      new RegExp(`^Error: lost connection to daemon at ${esc(d.addr)}: [^\\n]+\\n$`),
    );
    await leaks.assertClean();
  });
});
