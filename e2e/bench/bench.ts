// npm run bench: the figures of docs/benchmarks.md, measured for real on this machine in one run.
//   (a) sustained events/s of `trace open` kernel -> CLI `-o json` -> file, with zero lost
//   (b) slowdown of a tight open+close loop: untraced, floor, trace open, bpftrace
//   (c) slowdown when trace open is filtered to another container
//   (d) time from the command's start to its first event
//   (e) the daemon's RSS, idle and under load
//   (f) what container identity costs: podman run and the open loop with and without a daemon
//       (identity.ts; only with --only f)
// Prints one table, writes build/bench/results.json and build/bench/results.md.
// Needs root, a built tree (npm run build), podman (c) and bpftrace (b; installed when missing).
// Environment: BENCH_ROUNDS (5), BENCH_SECONDS per rate step (4), BENCH_ITERS (calibrated),
// BENCH_RATES (the (a) steps, comma-separated); `--only a|d|e|f` (or BENCH_ONLY) runs one section
// and prints it as JSON (`--rate`/BENCH_RATE: (e)'s load, (a)'s per-process rate x2). --help.

import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ObjectSpec, type Collection } from '../../daemon/src/bpf/index.js';
import { gadgetObjectPath } from '../../gadgets/framework/paths.js';
import {
  podmanAvailable,
  removeContainer,
  startContainer,
  execIn,
  type TestContainer,
} from '../fixtures/podman.js';
import {
  awaitMarker,
  countInFile,
  cpuSeconds,
  fileSize,
  idlestCpu,
  killAll,
  lastJson,
  median,
  parseLoss,
  rssMiB,
  run,
  sleep,
  start,
  stop,
  touchOpen,
  type Child,
  type LossReport,
} from './proc.js';
import { pipelineFigures } from './pipeline.js';
import {
  renderMarkdown,
  renderPartA,
  renderText,
  type Results,
  type RateStep,
  type LoopConfig,
} from './report.js';
import {
  BPFTRACE_SCRIPT,
  FLOOR_OBJ,
  OUT,
  RUN_JS,
  TMP,
  WORKLOAD,
  bpfPrograms,
  holders,
  buildBenchArtifacts,
  ensureBpftrace,
  machine,
} from './setup.js';

const NCPU = cpus().length;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const STEP_SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const RATES = (process.env.BENCH_RATES ?? '50000,100000,200000,400000,600000,800000')
  .split(',')
  .map(Number);
const OTHER_CONTAINER = 'kgtest-other';
/** the comm a -F comm: filtered tracer passes: a copy of cat that opens its readiness markers */
const POKE_COMM = 'kgb-poke';

const log = (m: string): void => void process.stderr.write(`bench: ${m}\n`);
const k = (n: number): string => `${Math.round(n / 1000)}k`;

interface OpenRateOut {
  opens: number;
  elapsed_ns: number;
  achieved_rate: number;
  ns_per_iter: number;
}
interface OpenLoopOut {
  ns_per_iter: number;
  cpu_ns_per_iter: number;
}

// ---------------------------------------------------------------- tracers

interface Tracer {
  child: Child;
  file: string;
}

/** `node bin/run.js trace open ARGS -o json > file`, returned once it reports events. */
async function startTraceOpen(
  tag: string,
  args: string[],
  container?: TestContainer,
  poke?: (k: number) => void | Promise<void>,
): Promise<Tracer> {
  const file = join(TMP, `${tag}.json`);
  const child = start(tag, process.execPath, [RUN_JS, 'trace', 'open', ...args, '-o', 'json'], {
    stdoutFile: file,
  });
  const needle = `kgb-ready-${tag}-`;
  await awaitMarker({
    file,
    needle,
    tracer: child,
    timeoutMs: 60_000,
    everyMs: container ? 200 : 50,
    // a filtered run sees only the container's opens: poke from inside it
    poke: poke
      ? (k) => poke(k)
      : container
        ? async (k) => void (await execIn(container, ['cat', `/${needle}${k}`]))
        : (k) => touchOpen(join(TMP, `${needle}${k}`)),
  });
  return { child, file };
}

/** Waits until everything opened so far reached the file (an end marker follows it), then stops. */
async function drainAndStop(
  t: Tracer,
  tag: string,
  from: number,
): Promise<{ drainMs: number; loss: LossReport }> {
  const needle = `kgb-end-${tag}-`;
  const drainMs = await awaitMarker({
    file: t.file,
    needle,
    from,
    tracer: t.child,
    everyMs: 100,
    timeoutMs: 120_000,
    poke: (k) => touchOpen(join(TMP, `${needle}${k}`)),
  });
  await stop(t.child);
  return { drainMs, loss: parseLoss(t.child.stderr) };
}

async function startBpftrace(tag: string): Promise<Tracer> {
  const script = join(TMP, 'trace-open.bt');
  writeFileSync(script, BPFTRACE_SCRIPT);
  const file = join(TMP, `${tag}.txt`);
  const child = start(tag, 'bpftrace', [script], { stdoutFile: file });
  const needle = `kgb-ready-${tag}-`;
  await awaitMarker({
    file,
    needle,
    tracer: child,
    timeoutMs: 60_000,
    poke: (k) => touchOpen(join(TMP, `${needle}${k}`)),
  });
  return { child, file };
}

function loadFloor(programs: string[]): Collection {
  const spec = ObjectSpec.open(FLOOR_OBJ);
  for (const p of spec.programs()) spec.setAutoload(p.name, programs.includes(p.name));
  const coll = spec.load();
  try {
    coll.attach();
  } catch (e) {
    coll.close();
    throw e;
  }
  return coll;
}

// ---------------------------------------------------------------- (b), (c)

interface LoopOut {
  ns: number;
  cpuNs: number;
}

async function openLoop(iters: number): Promise<LoopOut> {
  const target = join(TMP, 'loop-target');
  const out = await run('open-loop', WORKLOAD, ['open-loop', String(iters), target], {
    cpus: String(await idlestCpu()),
  });
  const r = lastJson<OpenLoopOut>(out);
  return { ns: r.ns_per_iter, cpuNs: r.cpu_ns_per_iter };
}

interface LoopRun extends LoopOut {
  /** loop opens missing from the tracer's output */
  missing?: number;
  kernelLost?: number;
  /** CPU the tracer process used while the loop ran, in cores */
  tracerCpu?: number;
  /** BPF programs of others appeared around this measurement */
  foreign: string[];
}

/**
 * Notices BPF programs of other users (other sessions' tests) around a loop measurement: they
 * slow every syscall down. Programs that appear between begin() and ready() are the tracer's.
 */
class ForeignWatch {
  private ours = new Set<number>();
  private seen = new Map<number, string>();

  constructor(private readonly baseline: Set<number>) {}

  private extra(): Array<{ id: number; name: string }> {
    return bpfPrograms().filter((p) => !this.baseline.has(p.id));
  }

  /** Waits (up to 3 s) for programs of the previous measurement to be freed. */
  async begin(): Promise<void> {
    this.ours.clear();
    this.seen.clear();
    const deadline = Date.now() + 3000;
    let extra = this.extra();
    while (extra.length && Date.now() < deadline) {
      await sleep(100);
      extra = this.extra();
    }
    for (const p of extra) this.seen.set(p.id, p.name);
  }

  ready(): void {
    for (const p of this.extra()) if (!this.seen.has(p.id)) this.ours.add(p.id);
  }

  done(): void {
    for (const p of this.extra()) if (!this.ours.has(p.id)) this.seen.set(p.id, p.name);
  }

  foreign(): string[] {
    return [...new Set(this.seen.values())];
  }
}

/** Runs the loop while `pid` (the tracer) runs; measures that process's CPU meanwhile. */
async function tracedLoop(
  n: number,
  pid: number,
  w: ForeignWatch,
): Promise<LoopOut & { tracerCpu: number }> {
  w.ready();
  const c0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  const r = await openLoop(n);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const tracerCpu = (cpuSeconds(pid) - c0) / wall;
  w.done();
  return { ...r, tracerCpu };
}

/** The loop with nothing of ours attached, or with in-process programs already attached. */
async function plainLoop(n: number, w: ForeignWatch): Promise<LoopOut> {
  w.ready();
  const r = await openLoop(n);
  w.done();
  return r;
}

/** trace_open.bpf.o loaded by the daemon's loader, read by its native reader, records discarded. */
async function kernelOnly(n: number, w: ForeignWatch): Promise<LoopOut & { kernelLost: number }> {
  const spec = ObjectSpec.open(gadgetObjectPath('trace_open'));
  spec.setGlobal('gadget_filter_mode', 0);
  spec.setGlobal('gadget_self_tgid', process.pid);
  spec.setMapMaxEntries('events', 16 << 20);
  const coll = spec.load();
  try {
    let records = 0;
    const reader = coll.reader('events', (_b, count) => void (records += count));
    coll.attach();
    const r = await plainLoop(n, w);
    await reader.stop();
    if (records === 0) throw new Error('kernel-only trace_open delivered no records');
    return { ...r, kernelLost: coll.map('gadget_lost').perCpuSum(0) };
  } finally {
    coll.close();
  }
}

interface ConfigDef {
  key: string;
  label: string;
  iters: number;
  skip?: string;
  run: (tag: string, n: number, w: ForeignWatch) => Promise<Omit<LoopRun, 'foreign'>>;
}

async function loopConfigs(
  iters: number,
  container: TestContainer | undefined,
  bpftrace: string | undefined,
  baseline: Set<number>,
): Promise<LoopConfig[]> {
  const target = join(TMP, 'loop-target');
  writeFileSync(target, 'x');
  const withFloor = async (progs: string[], n: number, w: ForeignWatch): Promise<LoopOut> => {
    const c = loadFloor(progs);
    try {
      return await plainLoop(n, w);
    } finally {
      c.close();
    }
  };
  const configs: ConfigDef[] = [
    { key: 'untraced', label: 'untraced', iters, run: (_t, n, w) => plainLoop(n, w) },
    {
      key: 'floor',
      label: "floor: empty tp_btf/sys_exit program (trace_open's only hook)",
      iters,
      run: (_t, n, w) => withFloor(['floor_sys_exit'], n, w),
    },
    {
      key: 'floor_all',
      label:
        'floor: empty programs on the 4 hooks trace open --local attaches (+ container tracker)',
      iters,
      run: (_t, n, w) =>
        withFloor(
          ['floor_sys_exit', 'floor_fork', 'floor_unshare_enter', 'floor_unshare_exit'],
          n,
          w,
        ),
    },
    {
      key: 'kernel_only',
      label: 'diagnostic: trace_open.bpf.o + native reader, records discarded (no tracker, no CLI)',
      iters,
      run: (_t, n, w) => kernelOnly(n, w),
    },
    {
      key: 'trace_open',
      label: 'trace open --local -o json > file',
      iters,
      run: async (tag, n, w) => {
        const t = await startTraceOpen(tag, ['--local']);
        try {
          const r = await tracedLoop(n, t.child.pid, w);
          const { loss } = await drainAndStop(t, tag, fileSize(t.file));
          const [found] = countInFile(t.file, [`"path":"${target}"`]);
          return { ...r, missing: n - found!, kernelLost: loss.kernelLost };
        } finally {
          await stop(t.child);
          rmSync(t.file, { force: true });
        }
      },
    },
    {
      key: 'filtered',
      label: `trace open --local -c ${OTHER_CONTAINER} (another container) -o json > file`,
      iters,
      skip: container ? undefined : 'podman not available',
      run: async (tag, n, w) => {
        const t = await startTraceOpen(tag, ['--local', '-c', OTHER_CONTAINER], container);
        try {
          return await tracedLoop(n, t.child.pid, w);
        } finally {
          await stop(t.child);
          rmSync(t.file, { force: true });
        }
      },
    },
    {
      // -F in the kernel: the loop's opens (comm kg-workload) never leave it
      key: 'filtered_comm',
      label: `trace open --local -F comm:${POKE_COMM} (the loop's opens dropped in the kernel) -o json > file`,
      iters,
      run: async (tag, n, w) => {
        const poker = join(TMP, POKE_COMM);
        copyFileSync('/bin/cat', poker);
        const t = await startTraceOpen(
          tag,
          ['--local', '-F', `comm:${POKE_COMM}`],
          undefined,
          (k) =>
            run('poke', poker, [join(TMP, `kgb-ready-${tag}-${k}`)]).then(
              () => undefined,
              () => undefined, // cat of a missing file: still an open event
            ),
        );
        try {
          return await tracedLoop(n, t.child.pid, w);
        } finally {
          await stop(t.child);
          rmSync(t.file, { force: true });
        }
      },
    },
    {
      key: 'bpftrace',
      label: 'bpftrace printf of the same fields > file',
      iters: Math.max(10_000, Math.round(iters / 10)),
      skip: bpftrace ? undefined : 'bpftrace not available',
      run: async (tag, n, w) => {
        const t = await startBpftrace(tag);
        try {
          const r = await tracedLoop(n, t.child.pid, w);
          await stop(t.child);
          const [found] = countInFile(t.file, [` ${target}\n`]);
          return { ...r, missing: n - found! };
        } finally {
          await stop(t.child);
          rmSync(t.file, { force: true });
        }
      },
    },
  ];

  const results = new Map<string, LoopRun[]>(configs.map((c) => [c.key, []]));
  const watch = new ForeignWatch(baseline);
  // interleaved rounds: slow drifts of the machine hit every configuration alike
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of configs) {
      if (c.skip) continue;
      await watch.begin();
      const res = await c.run(`b-${c.key}-${r}`, c.iters, watch);
      const foreign = watch.foreign();
      results.get(c.key)!.push({ ...res, foreign });
      log(
        `(b) round ${r + 1}/${ROUNDS} ${c.key}: ${res.ns.toFixed(0)} ns/iter (cpu ${res.cpuNs.toFixed(0)})` +
          (res.missing !== undefined ? `, missing ${res.missing}` : '') +
          (res.tracerCpu !== undefined ? `, tracer cpu ${(res.tracerCpu * 100).toFixed(0)}%` : '') +
          (foreign.length ? `, others' BPF programs loaded: ${foreign.join(' ')}` : ''),
      );
    }
  }
  // best (fastest) round per configuration: other load on the machine, others' BPF programs
  // included, only ever adds time
  const pick = (k: string): LoopRun | undefined => {
    const all = results.get(k)!;
    return all.length ? all.reduce((a, b) => (b.ns < a.ns ? b : a)) : undefined;
  };
  const untraced = pick('untraced')?.ns ?? NaN;
  const floor = pick('floor')?.ns ?? NaN;
  const floorAll = pick('floor_all')?.ns ?? NaN;
  return configs.map((c) => {
    const runs = results.get(c.key)!;
    const best = pick(c.key);
    if (!best) return { key: c.key, label: c.label, iters: c.iters, skipped: c.skip ?? 'not run' };
    return {
      key: c.key,
      label: c.label,
      iters: c.iters,
      nsPerIter: best.ns,
      cpuShare: best.cpuNs / best.ns,
      nsPerIterAll: runs.map((x) => Math.round(x.ns)),
      cpuNsPerIterAll: runs.map((x) => Math.round(x.cpuNs)),
      ratio: best.ns / untraced,
      ratioToFloor: best.ns / floor,
      ratioToFloorAll: best.ns / floorAll,
      missing: runs.some((x) => x.missing !== undefined)
        ? runs.map((x) => x.missing ?? 0)
        : undefined,
      kernelLost: runs.some((x) => x.kernelLost !== undefined)
        ? runs.map((x) => x.kernelLost ?? 0)
        : undefined,
      tracerCpu: best.tracerCpu,
      roundsWithForeignPrograms: runs.filter((x) => x.foreign.length).length,
      bestRoundHadForeignPrograms: best.foreign.length > 0,
    };
  });
}

// ---------------------------------------------------------------- (a), (e)

interface RateOptions {
  rate: number;
  workers: number;
  seconds: number;
  /** --remote ADDR instead of --local */
  remote?: string;
  /** also sample this pid's RSS (the daemon) */
  samplePid?: number;
  tag: string;
}

async function rateStep(o: RateOptions): Promise<RateStep> {
  const paths = Array.from({ length: o.workers }, (_, i) => join(TMP, `kgb-${o.tag}-w${i}`));
  for (const p of paths) writeFileSync(p, 'x');
  const t = await startTraceOpen(o.tag, o.remote ? ['--remote', o.remote] : ['--local']);
  let cliPeak = 0;
  let samplePeak = 0;
  const sample = (): void => {
    try {
      // a process that is exiting has no VmRSS (NaN): skip it
      cliPeak = Math.max(cliPeak, rssMiB(t.child.pid).rss || 0);
      if (o.samplePid) samplePeak = Math.max(samplePeak, rssMiB(o.samplePid).rss || 0);
    } catch {
      /* exited */
    }
  };
  const timer = setInterval(sample, 250);
  try {
    const cpu0 = cpuSeconds(t.child.pid);
    const t0 = process.hrtime.bigint();
    const outs = await Promise.all(
      paths.map((p, i) =>
        run(`w${i}`, WORKLOAD, [
          'open-rate',
          String(o.rate / o.workers),
          String(o.seconds),
          p,
        ]).then((s) => lastJson<OpenRateOut>(s)),
      ),
    );
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(t.child.pid) - cpu0;
    sample();
    const from = fileSize(t.file);
    const { drainMs, loss } = await drainAndStop(t, o.tag, from);
    clearInterval(timer);
    const found = countInFile(
      t.file,
      paths.map((p) => `"path":"${p}"`),
    );
    const opens = outs.reduce((s, x) => s + x.opens, 0);
    const delivered = found.reduce((s, x) => s + x, 0);
    const elapsed = Math.max(...outs.map((x) => x.elapsed_ns)) / 1e9;
    const fileBytes = fileSize(t.file);
    return {
      offered: o.rate,
      workers: o.workers,
      seconds: o.seconds,
      opens,
      achieved: opens / elapsed,
      delivered,
      deliveredRate: delivered / elapsed,
      missing: opens - delivered,
      kernelLost: loss.kernelLost,
      userDropped: loss.userDropped,
      messagesDropped: loss.messagesDropped,
      recordsDropped: loss.recordsDropped,
      zeroLost:
        opens === delivered && loss.kernelLost + loss.userDropped + loss.messagesDropped === 0,
      loadLimited: o.rate > 0 && opens / elapsed < 0.9 * o.rate,
      cliCpu: cpu / wall,
      cliPeakRssMiB: cliPeak,
      samplePeakRssMiB: o.samplePid ? samplePeak : undefined,
      drainMs,
      bytesPerEvent: delivered ? fileBytes / delivered : undefined,
    };
  } finally {
    clearInterval(timer);
    await stop(t.child);
    rmSync(t.file, { force: true });
    for (const p of paths) rmSync(p, { force: true });
  }
}

function describeStep(s: RateStep): string {
  return (
    `offered ${s.offered || 'max'} x${s.workers}: achieved ${Math.round(s.achieved)}/s, delivered ${s.delivered}/${s.opens}, ` +
    `missing ${s.missing}, kernel lost ${s.kernelLost}, dropped ${s.userDropped}, CLI cpu ${(s.cliCpu * 100).toFixed(0)}%`
  );
}

async function sustainedRate(perWorkerMax: number): Promise<Results['a']> {
  const steps: RateStep[] = [];
  const workersFor = (rate: number): number =>
    Math.min(NCPU, Math.max(1, Math.ceil(rate / perWorkerMax)));
  let good: RateStep | undefined;
  let bad: RateStep | undefined;
  const step = async (rate: number): Promise<RateStep> => {
    let s: RateStep | undefined;
    // a clean step whose workload could not reach the rate did not test it: once more, with a
    // workload process per CPU (a burst of other load on the machine is the usual cause)
    for (const workers of [workersFor(rate), NCPU]) {
      s = await rateStep({ rate, workers, seconds: STEP_SECONDS, tag: `a-${rate}-${workers}` });
      log(`(a) ${describeStep(s)}`);
      if (!s.zeroLost || !s.loadLimited) break;
    }
    steps.push(s!);
    if (!s!.zeroLost) bad = s;
    else if (!good || s!.deliveredRate > good.deliveredRate) good = s;
    return s!;
  };
  for (const rate of RATES) {
    const s = await step(rate);
    // stop at the first loss, or when the workload cannot open any faster (then no rate is lossy)
    if (!s.zeroLost || s.loadLimited) break;
  }
  // two bisection steps between the last clean rate and the first lossy one
  for (let i = 0; i < 2 && bad && bad.offered / (good?.offered ?? 0) > 1.2; i++) {
    const lo = good?.offered ?? bad.offered / 4;
    await step(Math.round(Math.sqrt(lo * bad.offered) / 1000) * 1000);
  }
  const unpaced = await rateStep({ rate: 0, workers: NCPU, seconds: STEP_SECONDS, tag: 'a-max' });
  log(`(a) unpaced ${describeStep(unpaced)}`);
  const firstLossy = steps
    .filter((s) => !s.zeroLost && (!good || s.offered > good.offered))
    .sort((x, y) => x.offered - y.offered)[0];
  return {
    steps: steps.sort((x, y) => x.offered - y.offered),
    sustained: good ? good.deliveredRate : 0,
    sustainedStep: good,
    loadLimited: good?.loadLimited ?? false,
    firstLossy,
    unpaced,
  };
}

async function daemonRss(loadRate: number): Promise<Results['e']> {
  const sock = `/tmp/kg-bench-${process.pid}.sock`;
  const d = start('daemon', process.execPath, [RUN_JS, 'daemon', '--listen', `unix://${sock}`]);
  try {
    const t0 = Date.now();
    while (!d.stderr.includes('listening')) {
      if (d.exit) throw new Error(`daemon exited: ${d.stderr}`);
      if (Date.now() - t0 > 60_000) throw new Error('daemon did not start');
      await sleep(50);
    }
    const startMs = Date.now() - t0;
    await sleep(3000);
    const idle = rssMiB(d.pid).rss;
    const workers = Math.min(NCPU, Math.max(1, Math.ceil(loadRate / 150_000)));
    const load = await rateStep({
      rate: loadRate,
      workers,
      seconds: STEP_SECONDS,
      remote: `unix://${sock}`,
      samplePid: d.pid,
      tag: 'e-remote',
    });
    log(`(e) remote ${describeStep(load)}; daemon peak ${load.samplePeakRssMiB?.toFixed(0)} MiB`);
    await sleep(2000);
    const after = rssMiB(d.pid);
    return {
      idleMiB: idle,
      loadPeakMiB: load.samplePeakRssMiB ?? NaN,
      afterMiB: after.rss,
      hwmMiB: after.hwm,
      startMs,
      load,
    };
  } finally {
    await stop(d);
    rmSync(sock, { force: true });
  }
}

// ---------------------------------------------------------------- (d)

async function firstEvent(): Promise<Results['d']> {
  const execs = start('exec-loop', WORKLOAD, ['exec-loop', '1000', '0', '/bin/true']);
  try {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(300);
      const t0 = process.hrtime.bigint();
      let t1: bigint | undefined;
      const c = start(
        'trace-exec',
        process.execPath,
        [RUN_JS, 'trace', 'exec', '--local', '-o', 'json'],
        {
          onStdout: (d) => {
            if (t1 === undefined && d.includes('\n')) t1 = process.hrtime.bigint();
          },
        },
      );
      const deadline = Date.now() + 30_000;
      while (t1 === undefined && !c.exit && Date.now() < deadline) await sleep(1);
      await stop(c);
      if (t1 === undefined) throw new Error(`trace exec printed no event: ${c.stderr}`);
      times.push(Number(t1 - t0) / 1e6);
    }
    // what node + oclif cost before any gadget work
    const versions: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      await run('version', process.execPath, [RUN_JS, 'version']);
      versions.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return { medianMs: median(times), allMs: times, versionMs: median(versions) };
  } finally {
    await stop(execs, 'SIGKILL');
  }
}

// ---------------------------------------------------------------- main

const USAGE = `usage: node dist/e2e/bench/bench.js [--only a|d|e|f] [--rate N]

Without --only: every figure of docs/benchmarks.md (about 6 minutes), printed as a table and
written to build/bench/results.{json,md}.
  --only a   (a) alone: the rate steps of \`trace open --local -o json > file\` and the unpaced
             step, then the CLI's -o json path alone on replayed records; printed as JSON
  --only b   (b) and (c) alone: the open loop untraced, under the floors, traced, filtered to
             another container and filtered with -F comm: in the kernel; printed as JSON
  --only d   (d) alone: time to the first event of \`trace exec\`
  --only e   (e) alone: daemon RSS idle and while streaming --rate events/s to a --remote client
  --only f   (f): podman run --rm and the open loop, medians of 50 interleaved runs with and
             without a daemon (its runtime exec watch on); BENCH_F_RUNS, BENCH_F_BLOCK,
             BENCH_F_ITERS; writes build/bench/identity.json
  --rate N   (a): a workload process is given at most N/2 opens/s (default: 80% of what one
             process does with the open loop's cost doubled, like the full run without (b));
             (e): the load (default 100000)
Environment: BENCH_ROUNDS (5), BENCH_SECONDS per rate step (4), BENCH_ITERS, BENCH_RATES (the
(a) steps, comma-separated), BENCH_ONLY and BENCH_RATE (as --only and --rate).
`;

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      only: { type: 'string' },
      rate: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (process.getuid?.() !== 0)
    throw new Error('the benchmark loads eBPF programs: run it as root');
  buildBenchArtifacts();
  const bpftrace = ensureBpftrace();
  const progsBefore = bpfPrograms();
  const m = machine();
  log(`${m.cpus} CPUs (${m.cpuModel}), kernel ${m.kernel}, node ${m.node}, load ${m.loadavg}`);
  if (progsBefore.length) {
    log(
      `warning: ${progsBefore.length} BPF programs of others are loaded: ${[...new Set(progsBefore.map((p) => p.name))].join(' ')}`,
    );
  }

  // one section, printed as JSON, no results files
  const only = args.only ?? process.env.BENCH_ONLY;
  const rateArg = args.rate ?? process.env.BENCH_RATE;
  if (only !== undefined && !['a', 'b', 'd', 'e', 'f'].includes(only))
    throw new Error(`--only: a, b, d, e or f, not ${only}`);
  if (only === 'f') {
    const { identityCost, renderIdentity } = await import('./identity.js');
    const r = await identityCost();
    process.stdout.write(JSON.stringify(r, null, 2) + '\n' + renderIdentity(r));
    return;
  }
  if (only === 'd' || only === 'e') {
    const r = only === 'd' ? await firstEvent() : await daemonRss(Number(rateArg ?? 100_000));
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  if (only === 'a') {
    const untraced = await openLoop(100_000);
    const perWorkerMax = rateArg ? Number(rateArg) / 2 : (1e9 / (untraced.ns * 2)) * 0.8;
    log(
      `(a) untraced open loop ${untraced.ns.toFixed(0)} ns/iter; ${Math.round(perWorkerMax)}/s per workload process at most`,
    );
    const loadStart = loadavg();
    const a = await sustainedRate(perWorkerMax);
    const loadEnd = loadavg();
    const pipeline = await pipelineFigures();
    log(
      `(a) pipeline alone: ${Math.round(pipeline.fileRate)}/s to a file, ${Math.round(pipeline.discardRate)}/s discarded (object path ${Math.round(pipeline.objectDiscardRate)}/s)`,
    );
    const r = { machine: m, loadStart, loadEnd, perWorkerMax, a, pipeline };
    const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
    const heading =
      `Measured by \`bench.js --only a\` on ${m.date}: ${m.cpus} CPUs (${m.cpuModel}), kernel ${m.kernel}, ` +
      `node ${m.node}; load average ${load(loadStart)} at the first rate step, ${load(loadEnd)} after the last; ` +
      `rate steps of ${STEP_SECONDS} s, at most ${k(perWorkerMax)}/s per workload process.`;
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'results-a.json'), JSON.stringify(r, null, 2) + '\n');
    writeFileSync(join(OUT, 'results-a.md'), renderPartA({ heading, a, pipeline }));
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    log(`wrote ${join(OUT, 'results-a.json')} and ${join(OUT, 'results-a.md')}`);
    return;
  }

  const iters =
    Number(process.env.BENCH_ITERS ?? 0) || Math.round(1.5e9 / (await openLoop(100_000)).ns);

  if (only === 'b') {
    // (b) and (c) alone: the open loop's configurations, one line each
    let container: TestContainer | undefined;
    try {
      if (podmanAvailable()) {
        await removeContainer(OTHER_CONTAINER);
        container = await startContainer(OTHER_CONTAINER, ['sleep', '100000']);
      }
      const loadStart = loadavg();
      const b = await loopConfigs(
        iters,
        container,
        bpftrace,
        new Set(progsBefore.map((p) => p.id)),
      );
      const r = { machine: m, loadStart, loadEnd: loadavg(), iterations: iters, rounds: ROUNDS, b };
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      const x = (v: number | undefined): string => (v === undefined ? '' : `${v.toFixed(2)}x`);
      for (const c of b) {
        process.stdout.write(
          c.skipped
            ? `${c.label}: skipped (${c.skipped})\n`
            : `${c.label}: ${c.nsPerIter!.toFixed(0)} ns/iter, ${x(c.ratio)} untraced, ${x(c.ratioToFloor)} sys_exit floor, ${x(c.ratioToFloorAll)} 4-hook floor\n`,
        );
      }
    } finally {
      if (container) await removeContainer(OTHER_CONTAINER);
      rmSync(TMP, { recursive: true, force: true });
    }
    return;
  }

  let container: TestContainer | undefined;
  let b: LoopConfig[];
  try {
    if (podmanAvailable()) {
      await removeContainer(OTHER_CONTAINER);
      container = await startContainer(OTHER_CONTAINER, ['sleep', '100000']);
    }
    b = await loopConfigs(iters, container, bpftrace, new Set(progsBefore.map((p) => p.id)));
  } finally {
    if (container) await removeContainer(OTHER_CONTAINER);
  }

  // one workload process opens at most this fast while traced (the (b) loop), with margin
  const traced = b.find((c) => c.key === 'trace_open')?.nsPerIter;
  const untraced = b.find((c) => c.key === 'untraced')?.nsPerIter ?? 3000;
  const perWorkerMax = (1e9 / (traced ?? untraced * 2)) * 0.8;
  const a = await sustainedRate(perWorkerMax);
  const pipeline = await pipelineFigures();
  log(
    `(a) pipeline alone: ${Math.round(pipeline.fileRate)}/s to a file, ${Math.round(pipeline.discardRate)}/s discarded`,
  );
  const e = await daemonRss(a.sustained > 0 ? a.sustainedStep!.offered : 50_000);
  const d = await firstEvent();

  rmSync(TMP, { recursive: true, force: true });
  // programs are freed a little after their last fd closes: give them a few seconds
  const before = new Set(progsBefore.map((p) => p.id));
  let leftover = bpfPrograms().filter((p) => !before.has(p.id));
  for (let i = 0; i < 50 && leftover.length; i++) {
    await sleep(100);
    leftover = bpfPrograms().filter((p) => !before.has(p.id));
  }
  const get = (k: string): LoopConfig | undefined => b.find((x) => x.key === k);
  const results: Results = {
    machine: m,
    foreignPrograms: progsBefore.map((p) => p.name),
    iterations: iters,
    rounds: ROUNDS,
    stepSeconds: STEP_SECONDS,
    a,
    pipeline,
    b,
    c: {
      ratio: get('filtered')?.ratio ?? NaN,
      ratioToFloor: get('filtered')?.ratioToFloor ?? NaN,
      ratioToFloorAll: get('filtered')?.ratioToFloorAll ?? NaN,
    },
    d,
    e,
    leftoverPrograms: leftover.map((p) => `${p.id}:${p.name} (${holders(p.id)})`),
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(OUT, 'results.md'), renderMarkdown(results));
  process.stdout.write(renderText(results));
  log(`wrote ${join(OUT, 'results.json')} and ${join(OUT, 'results.md')}`);

  // traceloop: recording cost against untraced, the empty tp_btf floor and strace
  const tl = await import('./traceloop.js');
  const tlr = await tl.runTraceloopBench();
  writeFileSync(join(OUT, 'traceloop.json'), JSON.stringify(tlr, null, 2) + '\n');
  writeFileSync(join(OUT, 'traceloop.md'), tl.renderMarkdown(tlr));
  process.stdout.write('\n' + tl.renderMarkdown(tlr));
  // what each helper call of traceloop's program costs on this machine (why writev costs most)
  const hc = await import('./helper-cost.js');
  const hcr = hc.runHelperCost();
  writeFileSync(join(OUT, 'helper-cost.json'), JSON.stringify(hcr, null, 2) + '\n');
  process.stdout.write('\n' + hc.renderMarkdown(hcr));
}

let interrupted = false;
const onSignal = (): void => {
  interrupted = true;
  log('interrupted: stopping what was started');
  killAll();
  void removeContainer(OTHER_CONTAINER).finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', killAll);

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    if (interrupted) return; // onSignal cleans up and exits
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    killAll();
    await removeContainer(OTHER_CONTAINER).catch(() => undefined);
    process.exit(1);
  },
);
