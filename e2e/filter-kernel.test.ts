// -F in the kernel (issue 16): a real daemon, trace exec and trace open on the real kernel. Runs
// over gRPC in this process (RemoteRuntime) read what the daemon read from the ring buffer for
// them (their records and stats), so a record the kernel dropped is one they never get: with a
// kernel filter of comm, pid or uid, what other processes on the machine do never reaches them.
// Two CLI runs with different -F share one loaded trace_exec: the kernel passes the union, each
// prints exactly its own events.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RemoteRuntime } from '../plugin/src/runtimes/remote-runtime.js';
import { makeDecoder } from '../gadgets/framework/decode.js';
import { descriptor as traceOpen } from '../gadgets/trace_open/gadget.js';
import { emptyFilter } from '../gadgets/framework/filter.js';
import type { RawRecord } from '../gadgets/framework/types.js';
import { RecordCursor } from '../proto/ts/records.js';
import { marker, sleep, waitReady } from './helpers/cli.js';
import type { Cli, Ev } from './helpers/cli.js';
import { abandonAll, startTraced } from './helpers/trace.js';
import { heldBy } from './helpers/bpf.js';
import { startDaemon } from './helpers/daemon.js';
import { execPid } from './helpers/workload.js';
import type { TestDaemon } from './helpers/daemon.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const exec = execPid;

/** One gRPC run with kernel filters: the raw records the daemon sent it, and its last stats. */
class Run {
  readonly records: RawRecord[] = [];
  stats = { events: 0, lost: 0 };
  header = false;
  error: unknown;
  private readonly ac = new AbortController();
  readonly ended: Promise<void>;

  constructor(rt: RemoteRuntime, gadget: string, kernelFilters: string[]) {
    this.ended = (async () => {
      let decode: ReturnType<typeof makeDecoder> | undefined;
      try {
        const req = { gadget, params: {}, filter: emptyFilter(), timeoutSeconds: 0, kernelFilters };
        for await (const m of rt.run(req, this.ac.signal)) {
          if (m.kind === 'header') {
            decode = makeDecoder(m.header.layout);
            this.header = true;
          } else if (m.kind === 'batch' && decode) {
            const c = new RecordCursor(m.records);
            while (c.next()) this.records.push(decode(c.batch, c.offset, c.length));
          } else if (m.kind === 'stats') {
            this.stats = m.stats;
          }
        }
      } catch (e) {
        if (!this.ac.signal.aborted) this.error = e;
      }
    })();
  }

  async until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (!ok()) {
      if (this.error) throw this.error as Error;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  /** Waits for a stats message that counts every record received (they come each second). */
  async settled(): Promise<void> {
    await sleep(1200);
    await this.until('stats = records', () => this.stats.events === this.records.length, 5_000);
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.ended;
  }
}

describe('-F in the kernel', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  let dir: string;
  let daemon: TestDaemon;
  let rt: RemoteRuntime;
  const bin = (n: string): string => join(dir, n);

  before(async () => {
    dir = realpathSync(mkdtempSync('/tmp/kgtest-kfilter-'));
    for (const n of ['kgka', 'kgkb', 'kgkc', 'kgkr']) copyFileSync('/bin/true', bin(n));
    for (const n of ['kgko', 'kgkp']) copyFileSync('/bin/cat', bin(n));
    daemon = await startDaemon('kfilter');
    rt = new RemoteRuntime(daemon.addr, { callTimeoutMs: 30_000 });
  });
  after(async () => {
    await abandonAll();
    await rt?.close();
    await daemon?.cleanup({ traceloop: false });
    rmSync(dir, { recursive: true, force: true });
  });

  /** A run of `gadget` that has seen one of its own readiness events: the program is attached. */
  async function ready(gadget: string, filters: string[], trigger: () => Promise<unknown>) {
    const r = new Run(rt, gadget, filters);
    await r.until('the header', () => r.header);
    const end = Date.now() + 30_000;
    while (r.records.length === 0) {
      if (Date.now() > end) throw new Error(`${gadget} ${filters.join(' ')}: no readiness event`);
      await trigger();
      await sleep(100);
    }
    return r;
  }

  test('trace exec, -F pid:N: the one exec of that pid leaves the kernel, nothing else', async () => {
    // the readiness run loads the shared trace_exec; the pid run then joins it attached
    const r = await ready('trace_exec', ['comm:kgkr'], () => exec([bin('kgkr')]));
    // a shell that execs kgkb when told: its pid is known before the exec
    const sh = spawn('/bin/sh', ['-c', `read x; exec ${bin('kgkb')} pid-run`], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const pid = sh.pid!;
    // its own exec of /bin/sh must be over before the run starts
    const shEnd = Date.now() + 10_000;
    while (readFileSync(`/proc/${pid}/comm`, 'utf8') !== 'sh\n' && Date.now() < shEnd)
      await sleep(10);
    const p = new Run(rt, 'trace_exec', [`pid:${pid}`]);
    await p.until('the header', () => p.header);
    for (let i = 0; i < 3; i++) await exec([bin('kgka'), 'noise']);
    const exited = new Promise((res) => sh.on('close', res));
    sh.stdin.end('go\n');
    await exited;
    await p.until('the exec of pid', () => p.records.length > 0);
    await p.settled();
    const seen = p.records.map((e) => ({ pid: e.pid, comm: e.comm, ret: e.ret }));
    assert.deepEqual(seen, [{ pid, comm: 'kgkb', ret: 0 }]);
    assert.deepEqual(p.stats, { events: 1, lost: 0 });
    await p.stop();
    await r.stop();
    assert.equal(p.error, undefined);
  });

  test('trace open, -F comm:X: only X opens leave the kernel; the same open by another comm does not', async () => {
    const m = join(dir, marker('open'));
    writeFileSync(m, 'x');
    const ro = join(dir, 'ready');
    writeFileSync(ro, 'r');
    const pathOf = (e: RawRecord): unknown => traceOpen.transform(e, {})?.path;
    const o = await ready('trace_open', ['comm:kgko'], () => exec([bin('kgko'), ro]));
    await exec([bin('kgkp'), m]);
    await exec(['/bin/cat', m]);
    await exec([bin('kgko'), m]);
    await o.until('the open of the marker', () => o.records.some((e) => pathOf(e) === m));
    await o.settled();
    // everything it got is kgko's (cat's libraries included), and the marker once
    assert.deepEqual([...new Set(o.records.map((e) => e.comm))], ['kgko']);
    assert.equal(o.records.filter((e) => pathOf(e) === m).length, 1);
    assert.equal(o.stats.lost, 0);
    await o.stop();
    assert.equal(o.error, undefined);
  });

  test('two CLI runs, -F comm:X and -F uid:1000: each prints exactly its own; the kernel passes only their union', async () => {
    const m = marker('kunion');
    const asUser = ['/usr/bin/setpriv', '--reuid', '1000', '--regid', '1000', '--clear-groups'];
    const readyFor = (trigger: (r: string) => Promise<number>) => (cli: Cli) =>
      waitReady(cli, trigger, (e: Ev, r: string) => Array.isArray(e.args) && e.args[2] === r);
    const opts = { env: daemon.env };
    const base = ['trace', 'exec', '--remote', daemon.addr, '-o', 'json'];
    const byComm = await startTraced(
      [...base, '-F', 'comm:kgkb'],
      readyFor((r) => exec([bin('kgkb'), m, r])),
      opts,
    );
    const byUid = await startTraced(
      [...base, '-F', 'uid:1000'],
      readyFor((r) => exec([...asUser, bin('kgka'), m, r])),
      opts,
    );
    // what the kernel passes now: a run of its own with the same filter as byComm (no new slot)
    const probe = new Run(rt, 'trace_exec', ['comm:kgkb']);
    await probe.until('the header', () => probe.header);
    try {
      const pids: Record<string, number> = {};
      pids.a = await exec([bin('kgka'), m, 'a']); // neither
      pids.b = await exec([bin('kgkb'), m, 'b']); // comm
      pids.c = await exec([bin('kgkc'), m, 'c']); // neither
      pids.ua = await exec([...asUser, bin('kgka'), m, 'ua']); // uid (setpriv's own exec: neither)
      pids.ub = await exec([...asUser, bin('kgkb'), m, 'ub']); // both
      const ours = (cli: Cli) =>
        cli.events
          .filter((e) => Array.isArray(e.args) && e.args[1] === m && e.args.length === 3)
          .map((e) => ({
            pid: e.pid,
            comm: e.comm,
            uid: e.uid,
            tag: String((e.args as string[])[2]),
          }));
      const wantComm = [
        { pid: pids.b, comm: 'kgkb', uid: 0, tag: 'b' },
        { pid: pids.ub, comm: 'kgkb', uid: 1000, tag: 'ub' },
      ];
      const wantUid = [
        { pid: pids.ua, comm: 'kgka', uid: 1000, tag: 'ua' },
        { pid: pids.ub, comm: 'kgkb', uid: 1000, tag: 'ub' },
      ];
      const last = (cli: Cli) => () => cli.events.some((e) => e.pid === pids.ub);
      await byComm.cli.waitUntil(last(byComm.cli), 10_000, 'ub in the comm run');
      await byUid.cli.waitUntil(last(byUid.cli), 10_000, 'ub in the uid run');
      await probe.until('ub in the probe', () => probe.records.some((e) => e.pid === pids.ub));
      await probe.settled();
      // readiness execs aside (their tag is a marker of its own)
      assert.deepEqual(
        ours(byComm.cli).filter((e) => ['b', 'ub'].includes(e.tag)),
        wantComm,
      );
      assert.deepEqual(
        ours(byUid.cli).filter((e) => ['ua', 'ub'].includes(e.tag)),
        wantUid,
      );
      for (const e of byComm.cli.events) assert.equal(e.comm, 'kgkb', JSON.stringify(e));
      for (const e of byUid.cli.events) assert.equal(e.uid, 1000, JSON.stringify(e));
      // the kernel passed the union and nothing else: not a, c or setpriv, nor any other process
      for (const e of probe.records)
        assert.ok(e.comm === 'kgkb' || e.uid === 1000, `left the kernel: ${e.comm} uid ${e.uid}`);
      const probeOurs = probe.records
        .filter((e) => Object.values(pids).includes(e.pid as number))
        .map((e) => `${e.comm}/${e.uid}`);
      assert.deepEqual(probeOurs, ['kgkb/0', 'kgka/1000', 'kgkb/1000']);
      assert.equal(probe.stats.events, probe.records.length);
    } finally {
      await probe.stop();
    }
    for (const t of [byComm, byUid]) {
      const x = await t.cli.stop('SIGINT');
      assert.equal(x.code, 0, t.cli.describeExit());
      assert.equal(x.stderr.trim(), '');
    }
  });
  test('--local: the CLI loads its own trace_exec with the table in its .bss; regexes stay in user space', async () => {
    const m = marker('klocal');
    const t = await startTraced(
      [
        'trace',
        'exec',
        '--local',
        '-o',
        'json',
        '-F',
        'comm:kgkb',
        '-F',
        'pid:>=2',
        '-F',
        `args:~${m}`,
      ],
      (cli) =>
        waitReady(
          cli,
          (r) => exec([bin('kgkb'), m, r]),
          (e, r) => Array.isArray(e.args) && e.args[2] === r,
        ),
    );
    // the CLI's own .bss, as bpftool formats it from BTF
    const bss = [...heldBy(t.cli.pid).map]
      .map(
        (id) =>
          JSON.parse(
            execFileSync('bpftool', ['-j', 'map', 'show', 'id', String(id)], { encoding: 'utf8' }),
          ) as { id: number; name: string },
      )
      .filter((x) => x.name === 'trace_ex.bss');
    assert.equal(bss.length, 1, 'one trace_exec .bss held by the CLI');
    const dump = JSON.parse(
      execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(bss[0]!.id)], {
        encoding: 'utf8',
      }),
    ) as Array<{ formatted: { value: { '.bss': Array<Record<string, unknown>> } } }>;
    const vars = Object.assign({}, ...dump[0]!.formatted.value['.bss']) as {
      gadget_ff_count: number;
      gadget_ff: Array<{ lo: number[]; hi: number[]; comm_op: number; comm: number[] }>;
    };
    assert.equal(vars.gadget_ff_count, 1);
    const slot = vars.gadget_ff[0]!;
    assert.deepEqual(slot.lo, [2, 0, 0, 0]);
    assert.deepEqual(slot.hi, [4294967295, 4294967295, 4294967295, 4294967295]);
    assert.equal(slot.comm_op, 1);
    assert.equal(
      Buffer.from(BigUint64Array.from(slot.comm.map(BigInt)).buffer)
        .toString('latin1')
        .replace(/\0+$/, ''),
      'kgkb',
    );
    const a = await exec([bin('kgka'), m, 'a']);
    const b = await exec([bin('kgkb'), m, 'b']);
    await t.cli.waitUntil(() => t.cli.events.some((e) => e.pid === b), 10_000, 'the kgkb exec');
    await sleep(300);
    const x = await t.cli.stop('SIGINT');
    assert.equal(x.code, 0, t.cli.describeExit());
    assert.ok(!t.cli.events.some((e) => e.pid === a));
    for (const e of t.cli.events) assert.equal(e.comm, 'kgkb', JSON.stringify(e));
  });
});
