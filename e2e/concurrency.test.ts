// 100 concurrent runs of trace exec and 100 of trace open against one real daemon (issue 13 #1):
// each gadget is loaded and attached once for all of its runs (one link per program), GetInfo
// keeps answering within 100 ms (asked by a separate process, so this process's own load does not
// count), each extra run costs at most 2 MB of daemon RSS, every run gets exactly the workload
// events its filter and params select (runs of different filters and params side by side), and
// once the runs end nothing of the gadgets stays loaded. Then 1,000 rapid resets (HEADERS, DATA
// and RST_STREAM of RunGadget calls written together through node:http2): the daemon's load
// counter (GetInfo's stats.loads) stays put, GetInfo keeps answering within 100 ms, and the
// daemon holds only what it held before them (BPF objects and file descriptors).
//
// Clients: real gRPC streams (the CLI's RemoteRuntime) in this process; records are decoded with
// the layout the daemon sends and the gadget's own transform, as the CLI does.
//
// Timing: the daemon and the GetInfo probe run under SCHED_FIFO (chrt -f 10). This 2-vCPU machine
// is shared with other test suites (load average 10-15 at times); at nice -10 GetInfo still
// took up to ~0.8 s at moments. The real-time class takes the other suites' CPU use out of the
// measure, so what is judged is the daemon's own work: a GetInfo waiting behind the fan-out of
// 200 runs, their starts, or resets (the kernel's RT throttling, 95%, keeps the rest running).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RemoteRuntime } from '../plugin/src/runtimes/remote-runtime.js';
import * as pb from '../proto/gen/gadget/v1/gadget.js';
import { fixedSize, makeDecoder } from '../gadgets/framework/decode.js';
import { emptyFilter } from '../gadgets/framework/filter.js';
import type { RunRequest } from '../gadgets/framework/runtime.js';
import type { GadgetDescriptor, RecordLayout } from '../gadgets/framework/types.js';
import { descriptor as traceExec } from '../gadgets/trace_exec/gadget.js';
import { descriptor as traceOpen } from '../gadgets/trace_open/gadget.js';
import { RecordCursor } from '../proto/ts/records.js';
import { ROOT, sleep } from './helpers/cli.js';
import { count, fmt, heldBy, heldClosure, minus, waitReleased } from './helpers/bpf.js';
import type { BpfIds } from './helpers/bpf.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { ALL, expectedOpen, FAILED, ABSOLUTE, runOpens } from './helpers/opens.js';
import {
  hostMntns,
  runWorkload,
  WORKLOAD,
  type Truth,
  type WorkloadRun,
} from './helpers/workload.js';
import { ContainerPool, ensureRootfs, podmanSkip, type TestContainer } from './fixtures/podman.js';

const N = 100;
const RESETS = 1000;
/** the stated bound of issue 13 for GetInfo under load */
const GETINFO_MS = 100;
const RT = ['chrt', '-f', '10'];
const traceOpenLayout = JSON.parse(
  readFileSync(join(ROOT, 'build', 'gadgets', 'trace_open.layout.json'), 'utf8'),
) as RecordLayout;
const MB = 1 << 20;

type Ev = Record<string, unknown> & { mntns: number; pid: number; len: number };

interface RunKind {
  name: string;
  gadget: GadgetDescriptor;
  params: Record<string, string>;
  filter?: Partial<RunRequest['filter']>;
  /** keep every record (filtered runs: all they get must be expected), else only ours */
  all: boolean;
}

/** One gRPC run: its decoded events (those the collector keeps), its end. */
class Run {
  readonly events: Ev[] = [];
  headerAt = 0;
  /** the daemon's last stats message: records it read for this run, and lost */
  stats = { events: 0, lost: 0 };
  done: string | undefined;
  error: unknown;
  private readonly ac = new AbortController();
  readonly ended: Promise<void>;

  constructor(
    rt: RemoteRuntime,
    readonly kind: RunKind,
    keepFor: (layout: RecordLayout) => (rec: Buffer, off: number, len: number) => boolean,
  ) {
    const req: RunRequest = {
      gadget: kind.gadget.name,
      params: kind.params,
      filter: { ...emptyFilter(), ...kind.filter },
      timeoutSeconds: 0,
    };
    this.ended = (async () => {
      let layout: RecordLayout | undefined;
      let decode: ReturnType<typeof makeDecoder> | undefined;
      let keep: ((rec: Buffer, off: number, len: number) => boolean) | undefined;
      try {
        for await (const m of rt.run(req, this.ac.signal)) {
          if (m.kind === 'header') {
            layout = m.header.layout;
            decode = makeDecoder(layout);
            keep = keepFor(layout);
            this.headerAt = Date.now();
          } else if (m.kind === 'batch' && decode && keep) {
            const c = new RecordCursor(m.records);
            while (c.next()) {
              if (!kind.all && !keep(c.batch, c.offset, c.length)) continue;
              const raw = decode(c.batch, c.offset, c.length);
              const ev = kind.gadget.transform(raw, kind.params) ?? {};
              this.events.push({
                ...ev,
                raw,
                pid: raw.pid as number,
                tid: raw.tid as number,
                comm: raw.comm as string,
                mntns: Number(raw.mntns_id),
                len: c.length,
              });
            }
          } else if (m.kind === 'stats') {
            this.stats = m.stats;
          } else if (m.kind === 'done') {
            this.done = m.reason;
          }
        }
      } catch (e) {
        if (!this.ac.signal.aborted) this.error = e;
      }
    })();
  }

  stop(): void {
    this.ac.abort();
  }
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

interface LinkInfo {
  id: number;
  prog_id: number;
}
interface ProgInfo {
  id: number;
  name: string;
}

/** The gadget programs (not the tracker's) the process has attached: program name -> links. */
function gadgetLinks(pid: number): Map<string, number> {
  const held = heldBy(pid);
  const links = JSON.parse(
    execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }),
  ) as LinkInfo[];
  const progs = JSON.parse(
    execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }),
  ) as ProgInfo[];
  const names = new Map(progs.map((p) => [p.id, p.name]));
  const out = new Map<string, number>();
  for (const l of links) {
    if (!held.link.has(l.id)) continue;
    const n = names.get(l.prog_id) ?? `prog ${l.prog_id}`;
    if (!n.startsWith('trace_')) continue;
    out.set(n, (out.get(n) ?? 0) + 1);
  }
  return out;
}

/** The tracepoints the process attached through perf events (bpftool perf), with counts. */
function perfTracepoints(pid: number): Map<string, number> {
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'perf'], { encoding: 'utf8' })) as Array<{
    pid?: number;
    tracepoint?: string;
  }>;
  const out = new Map<string, number>();
  for (const e of all)
    if (e.pid === pid && e.tracepoint) out.set(e.tracepoint, (out.get(e.tracepoint) ?? 0) + 1);
  return out;
}

/** GetInfo every 20 ms from another process: each answer's latency, stamped with the time. */
function startProbe(addr: string): { stop(): Promise<Array<{ at: number; ms: number }>> } {
  const mod = join(ROOT, 'dist', 'plugin', 'src', 'runtimes', 'remote-runtime.js');
  const src = `
    const { RemoteRuntime } = await import(${JSON.stringify(mod)});
    const rt = new RemoteRuntime(${JSON.stringify(addr)}, { callTimeoutMs: 20000 });
    await rt.info(); // connected
    let stop = false;
    process.on('SIGTERM', () => (stop = true));
    while (!stop) {
      const t0 = performance.now();
      await rt.info();
      process.stdout.write(JSON.stringify({ at: Date.now(), ms: performance.now() - t0 }) + '\\n');
      await new Promise((r) => setTimeout(r, 20));
    }
    process.exit(0);
  `;
  const p = spawn(RT[0]!, [...RT.slice(1), process.execPath, '--input-type=module', '-e', src], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d: string) => (out += d));
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  return {
    async stop() {
      p.kill('SIGTERM');
      await exited;
      return out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { at: number; ms: number });
    },
  };
}

/** GetInfo's run counters, through a gRPC client of its own (RemoteRuntime.info drops them). */
async function daemonStats(sock: string): Promise<pb.DaemonStats> {
  const c = new grpc.Client(`unix:${sock}`, grpc.credentials.createInsecure());
  const m = pb.GadgetServiceDefinition.getInfo;
  try {
    const r = await new Promise<pb.GetInfoResponse>((resolve, reject) =>
      c.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, (e, res) =>
        e || !res ? reject(e ?? new Error('no GetInfo answer')) : resolve(res),
      ),
    );
    assert.ok(r.stats, 'GetInfo carries the daemon stats');
    return r.stats;
  } finally {
    c.close();
  }
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Worst GetInfo latency; fails the test when it reaches the issue's bound. */
function judgeLatency(
  t: { diagnostic(m: string): void },
  what: string,
  lat: Array<{ ms: number }>,
): void {
  assert.ok(lat.length > 20, `${what}: ${lat.length} GetInfo answers`);
  const sorted = lat.map((x) => x.ms).sort((x, y) => x - y);
  const worst = sorted[sorted.length - 1]!;
  t.diagnostic(
    `${what}: GetInfo ${lat.length} answers, p50 ${sorted[sorted.length >> 1]!.toFixed(1)} ms, ` +
      `max ${worst.toFixed(1)} ms; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  assert.ok(
    worst < GETINFO_MS,
    `${what}: GetInfo took ${worst.toFixed(1)} ms (bound ${GETINFO_MS})`,
  );
}

const skip = podmanSkip();

describe('concurrent runs share one loaded gadget', { skip, concurrency: 1 }, () => {
  let d: TestDaemon;
  let pool: ContainerPool;
  let a: TestContainer;
  let b: TestContainer;
  let tmp: string;

  before(async () => {
    ensureRootfs();
    tmp = realpathSync(mkdtempSync('/tmp/kgtest-conc-'));
    for (const x of ['d1', 'd2', 'w']) execFileSync('mkdir', ['-p', join(tmp, x)]);
    pool = new ContainerPool();
    const mounts = ['-v', `${dirname(WORKLOAD)}:/t:ro`, '-v', `${join(tmp, 'w')}:/w`];
    a = await pool.start('conc-a', ['sleep', '1000'], { args: mounts });
    b = await pool.start('conc-b', ['sleep', '1000'], { args: mounts });
    // KG_CONC_DAEMON_NODE_FLAGS (diagnostics): node flags for the daemon alone, e.g.
    // --import=FILE, a preload starting node:inspector's Profiler after the loads (--cpu-prof's
    // SIGPROF makes the verifier fail with EAGAIN); exec keeps the pid the test watches
    const flags = process.env.KG_CONC_DAEMON_NODE_FLAGS;
    d = await startDaemon('conc', {
      args: ['--max-runs', '512', '--max-runs-per-caller', '512'],
      wrapper: flags ? [...RT, 'sh', '-c', `exec "$0" ${flags} "$@"`] : RT,
    });
  });

  after(async (t) => {
    // what the daemon said, for a failed run
    if (d?.daemon.stderr && 'diagnostic' in t)
      t.diagnostic(`daemon stderr (tail): ${d.daemon.stderr.slice(-3000)}`);
    await d?.cleanup({ traceloop: false });
    await pool?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test(`${N} trace exec and ${N} trace open runs: one attachment per hook, each run its own events`, async (t) => {
    const pid = d.daemon.pid;
    const rt = new RemoteRuntime(d.addr, { callTimeoutMs: 30_000 });
    await rt.listContainers(); // the container tracker is loaded by the first call needing it
    // a connection per kind of run, as separate CLI runs have: the runs that take every open on
    // the node must not hold the others' records behind theirs in one HTTP/2 window
    const conns = new Map<string, RemoteRuntime>();
    const rtFor = (k: RunKind): RemoteRuntime => {
      let c = conns.get(k.name);
      if (!c) conns.set(k.name, (c = new RemoteRuntime(d.addr, { callTimeoutMs: 30_000 })));
      return c;
    };
    const idle = heldClosure(pid);
    const loads0 = Number((await daemonStats(d.sock)).loads);
    const mark = `kgconc${process.pid}x`;
    const markBuf = Buffer.from(mark);
    const D1 = join(tmp, 'd1');
    const D2 = join(tmp, 'd2');

    const kinds: RunKind[] = [
      { name: 'exec all', gadget: traceExec, params: {}, all: false },
      {
        name: 'exec all --ignore-failed',
        gadget: traceExec,
        params: { 'ignore-failed': 'true' },
        all: false,
      },
      {
        name: 'exec -c A',
        gadget: traceExec,
        params: {},
        filter: { containerNames: [a.name] },
        all: true,
      },
      {
        name: 'exec -c A --ignore-failed',
        gadget: traceExec,
        params: { 'ignore-failed': 'true' },
        filter: { containerNames: [a.name] },
        all: true,
      },
      {
        name: 'exec -c B',
        gadget: traceExec,
        params: {},
        filter: { containerNames: [b.name] },
        all: true,
      },
      { name: 'exec --host', gadget: traceExec, params: {}, filter: { host: true }, all: false },
      { name: 'open --prefix D1', gadget: traceOpen, params: { prefix: D1 }, all: true },
      {
        name: 'open --prefix D1 --full-path',
        gadget: traceOpen,
        params: { prefix: D1, 'full-path': 'true' },
        all: true,
      },
      {
        name: 'open --prefix D1 --failed --full-path',
        gadget: traceOpen,
        params: { prefix: D1, failed: 'true', 'full-path': 'true' },
        all: true,
      },
      { name: 'open --prefix D2', gadget: traceOpen, params: { prefix: D2 }, all: true },
      {
        name: 'open --prefix D2 --failed',
        gadget: traceOpen,
        params: { prefix: D2, failed: 'true' },
        all: true,
      },
      {
        name: 'open -c A --prefix /w --full-path',
        gadget: traceOpen,
        params: { prefix: '/w', 'full-path': 'true' },
        filter: { containerNames: [a.name] },
        all: true,
      },
      {
        name: 'open -c A',
        gadget: traceOpen,
        params: {},
        filter: { containerNames: [a.name] },
        all: false,
      },
      { name: 'open all', gadget: traceOpen, params: {}, all: false },
    ].map((k) => ({
      ...k,
      params: Object.fromEntries(
        Object.entries(k.params).map(([p, v]) => [p, p === 'prefix' ? JSON.stringify([v]) : v]),
      ),
    }));
    const execKinds = kinds.filter((k) => k.gadget === traceExec);
    // one run takes every open on the node (the first); the other 99 are filtered: on this
    // shared machine every open of the other suites would reach each unfiltered run, and the
    // test's own client (not the daemon) falls behind by minutes
    const openAll = kinds.find((k) => k.name === 'open all')!;
    const openKinds = kinds.filter((k) => k.gadget === traceOpen && k !== openAll);

    // the collector of runs that see everything keeps only records of our workloads: exec
    // records holding the marker, open records of kg-workload (decided below by pid or mntns)
    const keep = (layout: RecordLayout) => {
      if (layout.fields.some((f) => f.name === 'args'))
        return (rec: Buffer, off: number, len: number): boolean =>
          rec.subarray(off, off + len).includes(markBuf);
      const comm = layout.fields.find((f) => f.name === 'comm')!.offset;
      const name = Buffer.from('kg-workload\0');
      return (rec: Buffer, off: number): boolean =>
        rec.compare(name, 0, name.length, off + comm, off + comm + name.length) === 0;
    };

    let withRuns: BpfIds | undefined;
    let lat: Array<{ at: number; ms: number }> = [];
    /** when each phase began, to say where GetInfo was slow */
    const phases: Array<[string, number, number]> = [];
    const cpuMs = (): number => {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) * 10;
    };
    const probe = startProbe(d.addr);
    // the daemon idle first: how fast GetInfo answers on this machine without runs
    await sleep(500);
    phases.push(['idle', Date.now(), cpuMs()]);
    await sleep(3000);
    const runs: Run[] = [];
    const all: Run[] = [];
    try {
      phases.push(['first runs (load)', Date.now(), cpuMs()]);
      // one run of each gadget: the daemon's RSS with each gadget loaded once
      for (const k of [execKinds[0]!, openAll]) {
        const r = new Run(rtFor(k), k, keep);
        runs.push(r);
      }
      await waitHeaders(runs);
      await sleep(1000);
      const rss1 = rssBytes(pid);

      const t0 = Date.now();
      phases.push(['the other runs start', t0, cpuMs()]);
      for (let i = 1; i < N; i++) {
        const ek = execKinds[i % execKinds.length]!;
        const ok = openKinds[i % openKinds.length]!;
        runs.push(new Run(rtFor(ek), ek, keep));
        runs.push(new Run(rtFor(ok), ok, keep));
      }
      await waitHeaders(runs);
      const startMs = Date.now() - t0;
      all.push(...runs);
      await sleep(1000);
      const rssN = rssBytes(pid);
      const perRun = (rssN - rss1) / (runs.length - 2);
      t.diagnostic(
        `${runs.length} runs started in ${startMs} ms; daemon RSS ${(rss1 / MB).toFixed(1)} MB with 2 runs, ` +
          `${(rssN / MB).toFixed(1)} MB with ${runs.length}: ${(perRun / 1024).toFixed(0)} KiB per extra run`,
      );
      assert.ok(
        perRun <= 2 * MB,
        `each extra run costs ${(perRun / MB).toFixed(2)} MB of RSS (at most 2)`,
      );
      // two loads for 200 runs: the first run of each gadget
      assert.equal(Number((await daemonStats(d.sock)).loads) - loads0, 2, 'BPF loads for the runs');

      // one attachment per gadget program (hook), whatever the number of runs: trace_exec's
      // three (tp_btf/sched_process_exec, sys_exit_execve, sys_exit_execveat), trace_open's one
      const links = gadgetLinks(pid);
      const linkList = JSON.stringify([...links]);
      assert.equal(links.size, 4, `the daemon's gadget programs: ${linkList}`);
      assert.ok(
        [...links.values()].every((n) => n === 1),
        `one link each: ${linkList}`,
      );
      withRuns = minus(heldClosure(pid), idle);
      const perf = perfTracepoints(pid);
      assert.equal(perf.get('sys_exit_execve'), 1, `bpftool perf: ${JSON.stringify([...perf])}`);
      assert.equal(perf.get('sys_exit_execveat'), 1);

      // the workloads: execs that succeed and fail on the host and in A and B; opens in D1, D2
      // (host) and /w in A
      const ex = async (where: 'host' | TestContainer, tag: string): Promise<void> => {
        const ok = `${mark}-${tag}-ok`;
        const fail = `/nonexistent/${mark}-${tag}-fail`;
        if (where === 'host') {
          assert.equal((await runWorkload(['whoami', ok])).code, 0);
          assert.equal((await runWorkload(['exec-fail', fail])).code, 0);
        } else {
          assert.equal((await pool.exec(where, ['/t/kg-workload', 'whoami', ok])).code, 0);
          assert.equal((await pool.exec(where, ['/t/kg-workload', 'exec-fail', fail])).code, 0);
        }
      };
      phases.push(['workloads', Date.now(), cpuMs()]);
      await ex('host', 'host');
      await ex(a, 'A');
      await ex(b, 'B');
      const o1 = await runOpens(D1);
      const o2 = await runOpens(D2);
      const ow = await pool.exec(a, ['/t/kg-workload', 'opens', '/w']);
      assert.equal(ow.code, 0, ow.stderr);
      const wRun: WorkloadRun = {
        pid: 0,
        code: 0,
        signal: null,
        lines: ow.stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Truth),
        stdout: ow.stdout,
        stderr: '',
        startMs: 0,
        endMs: 0,
      };

      // what each kind must get: exec events as marker:ok|fail, opens as dir:index
      // exec events of the workloads as `marker:ok|fail@where` (where: the namespace the exec
      // ran in). Only the workload's own execs count: the podman and kg-workload command lines
      // that start them carry the marker too (podman's PATH search even fails a few times).
      const execSources = (k: RunKind): string[] => {
        const c = k.filter?.containerNames?.[0];
        const srcs =
          c === a.name
            ? ['A']
            : c === b.name
              ? ['B']
              : k.filter?.host
                ? ['host']
                : ['host', 'A', 'B'];
        const out: string[] = [];
        for (const s of srcs) {
          out.push(`${mark}-${s}-ok:ok@${s}`, `${mark}-${s}-fail:ok@${s}`);
          if (k.params['ignore-failed'] !== 'true') out.push(`${mark}-${s}-fail:fail@${s}`);
        }
        return out.sort();
      };
      const where = (e: Ev): string =>
        e.mntns === a.mntns
          ? 'A'
          : e.mntns === b.mntns
            ? 'B'
            : e.mntns === hostMntns()
              ? 'host'
              : String(e.mntns);
      const execKey = (e: Ev): string | undefined => {
        const args = (e.args as string[] | undefined) ?? [];
        const arg0 = args[0] ?? '';
        if (arg0 !== WORKLOAD && arg0 !== '/t/kg-workload' && !arg0.startsWith('/nonexistent/'))
          return undefined;
        const m = new RegExp(`${mark}-(host|A|B)-(ok|fail)`).exec(args.join(' '));
        return m ? `${m[0]}:${(e.ret as number) < 0 ? 'fail' : 'ok'}@${where(e)}` : undefined;
      };
      const openWant = (k: RunKind): Array<[string, number]> => {
        const p = k.params;
        const full = p['full-path'] === 'true';
        const failed = p.failed === 'true';
        const sel = (idx: number[]): number[] =>
          failed ? idx.filter((i) => FAILED.includes(i)) : idx;
        if (k.filter?.containerNames?.[0] === a.name)
          return sel(p.prefix && !full ? ABSOLUTE : ALL).map((i) => ['w', i]);
        if (p.prefix === JSON.stringify([D1]))
          return sel(full ? ALL : ABSOLUTE).map((i) => ['d1', i]);
        if (p.prefix === JSON.stringify([D2]))
          return sel(full ? ALL : ABSOLUTE).map((i) => ['d2', i]);
        return [
          ...ALL.map((i) => ['d1', i] as [string, number]),
          ...ALL.map((i) => ['d2', i] as [string, number]),
          ...ALL.map((i) => ['w', i] as [string, number]),
        ];
      };
      const dirOf = (e: Ev): string | undefined =>
        e.pid === o1.pid
          ? 'd1'
          : e.pid === o2.pid
            ? 'd2'
            : e.mntns === a.mntns &&
                e.comm === 'kg-workload' &&
                !String(e.path).startsWith('/proc/')
              ? 'w' // the opens workload in A (not whoami's reads of /proc)
              : undefined;
      // runs that keep every record must have nothing else; the others are judged on ours
      const ours = (r: Run): Ev[] =>
        r.kind.gadget === traceExec || r.kind.all ? r.events : r.events.filter((e) => dirOf(e));
      const complete = (r: Run): boolean =>
        r.kind.gadget === traceExec
          ? r.events.filter((e) => execKey(e)).length >= execSources(r.kind).length
          : ours(r).length >= openWant(r.kind).length;
      const deadline = Date.now() + 30_000;
      while (!runs.every(complete) && Date.now() < deadline) await sleep(100);
      await sleep(500); // late extras would show

      for (const r of runs) {
        const k = r.kind;
        assert.equal(r.error, undefined, `${k.name}: ${String(r.error)}`);
        // a loss would explain a missing event: say so first
        assert.equal(r.stats.lost, 0, `${k.name}: ${r.stats.lost} records lost`);
        if (k.gadget === traceExec) {
          // a container's runs get that container's execs only (also the unmarked exec of the
          // opens workload in A); every run gets exactly the marked execs it selects
          const c = k.filter?.containerNames?.[0];
          const ns = c === a.name ? a.mntns : c === b.name ? b.mntns : undefined;
          if (ns !== undefined) {
            const other = r.events.filter((e) => e.mntns !== ns);
            const shown = other.map((e) => `${String(e.exepath)} ${String(e.args)} in ${where(e)}`);
            assert.deepEqual(shown, [], `${k.name}: execs of other namespaces`);
          }
          const marked = r.events.map(execKey).filter((x) => x !== undefined);
          assert.deepEqual(marked.sort(), execSources(k), k.name);
          continue;
        }
        const full = k.params['full-path'] === 'true';
        const want = openWant(k);
        const got = ours(r);
        assert.equal(
          got.length,
          want.length,
          `${k.name}: ${got.map((e) => `${String(e.path)} ${String(e.ret)}`).join(', ')}`,
        );
        got.forEach((e, j) => {
          const [dir, i] = want[j]!;
          const run = dir === 'd1' ? o1 : dir === 'd2' ? o2 : wRun;
          const x = expectedOpen(run, i, dir === 'w' ? '/w' : join(tmp, dir), full);
          const fields = ['fd', 'ret', 'error', 'flags', 'mode', 'path', 'full_path', 'comm'];
          if (dir !== 'w') fields.push('pid', 'tid');
          const pick = (o: Record<string, unknown>): Record<string, unknown> =>
            Object.fromEntries(fields.map((f) => [f, o[f]]));
          assert.deepEqual(pick(e), pick(x), `${k.name}: open ${dir} #${i}`);
          assert.equal(dirOf(e), dir, `${k.name}: open ${dir} #${i} by its process`);
          // without --full-path the bytes are those of trace_open loaded for this run alone
          const raw = e.raw as Record<string, number>;
          if (!full) {
            assert.equal(raw.full_path_len, 0);
            assert.equal(
              e.len,
              fixedSize(traceOpenLayout) + raw.path_size!,
              `${k.name}: record length`,
            );
          }
        });
      }
      t.diagnostic(`${runs.length} runs: every one got exactly its events`);
    } finally {
      phases.push(['runs end (unload)', Date.now(), cpuMs()]);
      for (const r of all.length ? all : runs) r.stop();
      await Promise.all(runs.map((r) => r.ended));
      // GetInfo is asked until the daemon has ended every run
      for (let i = 0; i < 50 && count(minus(heldClosure(pid), idle)) > 0; i++) await sleep(100);
      lat = await probe.stop();
      phases.push(['after', Date.now(), cpuMs()]);
    }
    // nothing of the gadgets stays loaded: the daemon holds what it held idle, and every
    // program, map, link and BTF object the runs used is gone from the kernel
    const left = minus(heldClosure(pid), idle);
    assert.equal(count(left), 0, `still held by the daemon: ${fmt(left)}`);
    assert.ok(withRuns && count(withRuns) > 0, 'the runs held gadget objects');
    await waitReleased(withRuns, 5000, 'the gadgets of the runs');
    for (const [i, [name, from, cpu]] of phases.slice(0, -1).entries()) {
      const [, to, cpuTo] = phases[i + 1]!;
      const xs = lat.filter((x) => x.at - x.ms >= from && x.at - x.ms < to);
      const max = xs.reduce((m, x) => Math.max(m, x.ms), 0);
      t.diagnostic(
        `${name}: ${to - from} ms, daemon CPU ${cpuTo - cpu} ms; GetInfo ${xs.length} answers, max ${max.toFixed(1)} ms`,
      );
    }
    judgeLatency(t, `${2 * N} runs`, lat);
    await rt.close();
    for (const c of conns.values()) await c.close();
  });

  test(`${RESETS} rapid resets load nothing and leave nothing`, async (t) => {
    const pid = d.daemon.pid;
    const probe = startProbe(d.addr);
    await sleep(1000); // the probe connected
    const before = await daemonStats(d.sock);
    await sleep(500); // the stats call's connection closed
    const held0 = heldClosure(pid);
    const fds0 = fdCount(pid);
    const rss0 = rssBytes(pid);
    // RunGadget calls of both stream gadgets, with and without filters
    const requests: pb.RunRequest[] = [
      { gadget: 'trace_exec', params: {}, filter: null, timeoutSeconds: 0, kernelFilters: [] },
      {
        gadget: 'trace_open',
        params: { prefix: '["/tmp"]' },
        filter: null,
        timeoutSeconds: 0,
        kernelFilters: [],
      },
      {
        gadget: 'trace_exec',
        params: { 'ignore-failed': 'true' },
        filter: { ...emptyFilter(), host: true },
        timeoutSeconds: 0,
        kernelFilters: [],
      },
      {
        gadget: 'trace_open',
        params: { failed: 'true' },
        filter: null,
        timeoutSeconds: 0,
        kernelFilters: [],
      },
    ];
    const frames = requests.map((r) => {
      const msg = Buffer.from(pb.RunRequest.encode(r));
      const f = Buffer.alloc(5 + msg.length);
      f.writeUInt32BE(msg.length, 1);
      msg.copy(f, 5);
      return f;
    });
    const path = pb.GadgetServiceDefinition.runGadget.path;
    let sent = 0;
    let sessions = 0;
    const t0 = Date.now();
    while (sent < RESETS) {
      // 100 streams a connection, the connection closed after them
      const s = http2.connect('http://localhost', { createConnection: () => netConnect(d.sock) });
      sessions++;
      s.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        s.once('connect', () => resolve());
        s.once('error', reject);
      });
      const closed: Array<Promise<void>> = [];
      for (let i = 0; i < 100 && sent < RESETS && !s.closed && !s.destroyed; i++) {
        const r = s.request({
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        r.on('error', () => {});
        closed.push(new Promise((resolve) => r.once('close', () => resolve())));
        r.end(frames[sent % frames.length]);
        r.close(http2.constants.NGHTTP2_CANCEL);
        sent++;
      }
      await Promise.all(closed);
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    const resetMs = Date.now() - t0;
    // the daemon has seen the last of them when its fds are back to what they were
    for (let i = 0; i < 100 && fdCount(pid) !== fds0; i++) await sleep(100);
    const fds1 = fdCount(pid);
    const held1 = heldClosure(pid);
    const rss1 = rssBytes(pid);
    const after = await daemonStats(d.sock);
    const lat = await probe.stop();
    t.diagnostic(
      `${sent} resets on ${sessions} connections in ${resetMs} ms; cancelled before start ` +
        `${Number(after.runsCancelledBeforeStart) - Number(before.runsCancelledBeforeStart)} ` +
        `(the others grpc-js dropped before the handler); RSS ${(rss0 / MB).toFixed(1)} -> ${(rss1 / MB).toFixed(1)} MB`,
    );
    assert.equal(sent, RESETS);
    assert.equal(after.loads, before.loads, 'BPF loads');
    assert.equal(after.runsStarted, before.runsStarted, 'runs started');
    assert.equal(after.runsActive, '0', 'runs active');
    assert.equal(fds1, fds0, "the daemon's open file descriptors");
    assert.equal(fmt(minus(held1, held0)), '', 'BPF objects the daemon gained');
    assert.equal(fmt(minus(held0, held1)), '', 'BPF objects the daemon lost');
    judgeLatency(t, `${RESETS} resets`, lat);
  });
});

async function waitHeaders(runs: Run[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (runs.some((r) => !r.headerAt && !r.error && r.done === undefined)) {
    if (Date.now() > deadline) throw new Error('runs did not start within 30 s');
    await sleep(50);
  }
  const bad = runs.find((r) => r.error !== undefined);
  if (bad) throw new Error(`${bad.kind.name}: ${String(bad.error)}`);
}
