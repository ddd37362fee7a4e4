// (f) What container identity costs (issue 12 #5): the median of interleaved runs with and
// without a real `kubectl-gadget daemon` (its container tracker loaded, its runtime exec watch
// on: fanotify holds every runc exec until the daemon has read the bundle) of
//   (i)  `podman run --rm ... /bin/busybox true`, wall time;
//   (ii) the open/close loop of (b), ns per iteration.
// Each daemon is measured once idle (waitIdle: its start-up work is over, as on a node where it
// runs for days). Runs alternate in blocks of BENCH_F_BLOCK (1): daemon up for a block, down for the next (ABBA
// order; larger blocks let a burst of other work land on one side), BENCH_F_RUNS (50) of each
// kind in all. BENCH_F_ITERS (200000) loop iterations per run.
// `npm run bench -- --only f`; writes build/bench/identity.json.

import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRootfs, PODMAN_BASE_ARGS, removeContainer } from '../fixtures/podman.js';
import { idlestCpu, lastJson, median, run, sleep, start, stop, type Child } from './proc.js';
import { machine, OUT, RUN_JS, TMP, WORKLOAD, type Machine } from './setup.js';

const log = (m: string): void => void process.stderr.write(`bench: ${m}\n`);

export interface IdentityCost {
  machine: Machine;
  runs: number;
  block: number;
  loopIters: number;
  podman: { withMs: number; withoutMs: number; ratio: number; with: number[]; without: number[] };
  loop: { withNs: number; withoutNs: number; ratio: number; with: number[]; without: number[] };
  /** the loop's own CPU time per iteration: tells slower syscalls from a CPU shared with the daemon */
  loopCpu: { withNs: number; withoutNs: number; ratio: number };
  /** the daemon had its fanotify fd in every block it ran */
  execWatchOn: boolean;
  /** median wait from the daemon's 'listening' until it was idle, before its block's runs */
  daemonSettleMs: number;
}

/** Whether pid holds a fanotify descriptor (the exec watch runs). */
function hasFanotify(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[fanotify]';
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** A daemon on `sock`, once it listens; `runJs` and node flags for other checkouts and preloads. */
export async function startDaemon(
  sock: string,
  runJs = RUN_JS,
  nodeFlags: string[] = [],
): Promise<Child> {
  const d = start('daemon', process.execPath, [
    ...nodeFlags,
    runJs,
    'daemon',
    '--listen',
    `unix://${sock}`,
  ]);
  const t0 = Date.now();
  while (!d.stderr.includes('listening')) {
    if (d.exit) throw new Error(`daemon exited: ${d.stderr}`);
    if (Date.now() - t0 > 60_000) throw new Error('daemon did not start');
    await sleep(50);
  }
  if (d.stderr.includes('runtime exec watch')) throw new Error(`daemon: ${d.stderr.trim()}`);
  return d;
}

/** The daemon's CPU time so far (utime + stime), in clock ticks. */
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

/**
 * Waits until the daemon is idle: at most 1 tick (10 ms) of CPU in each of two 250 ms windows.
 * A daemon that just started still loads its programs, replays the runtime's event log and
 * JIT-compiles for about 1.5 s; a node's daemon is long-lived, so that start-up is not what a
 * container start pays. Returns the ms waited.
 */
async function waitIdle(pid: number): Promise<number> {
  const t0 = Date.now();
  let last = cpuTicks(pid);
  let quiet = 0;
  while (quiet < 2 && Date.now() - t0 < 10_000) {
    await sleep(250);
    const now = cpuTicks(pid);
    quiet = now - last <= 1 ? quiet + 1 : 0;
    last = now;
  }
  return Date.now() - t0;
}

let seq = 0;
/** One `podman run --rm` of /bin/busybox true: wall ms. */
export function podmanRun(rootfs: string): Promise<number> {
  const name = `kgtest-bench-f-${process.pid}-${++seq}`;
  const args = [
    ...PODMAN_BASE_ARGS,
    'run',
    '--rm',
    '--name',
    name,
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
    '--rootfs',
    rootfs,
    '/bin/busybox',
    'true',
  ];
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile('podman', args, { timeout: 60_000 }, (err, _out, stderr) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (err) {
        void removeContainer(name);
        reject(new Error(`podman run failed: ${String(stderr).trim() || err.message}`));
      } else resolve(ms);
    });
  });
}

async function openLoop(iters: number, cpu: number): Promise<{ ns: number; cpuNs: number }> {
  const target = join(TMP, 'f-loop-target');
  const out = await run('open-loop', WORKLOAD, ['open-loop', String(iters), target], {
    cpus: String(cpu),
  });
  const r = lastJson<{ ns_per_iter: number; cpu_ns_per_iter: number }>(out);
  return { ns: r.ns_per_iter, cpuNs: r.cpu_ns_per_iter };
}

export async function identityCost(): Promise<IdentityCost> {
  const runs = Number(process.env.BENCH_F_RUNS ?? 50);
  const block = Math.max(1, Number(process.env.BENCH_F_BLOCK ?? 1));
  const iters = Number(process.env.BENCH_F_ITERS ?? 200_000);
  const rootfs = ensureRootfs();
  mkdirSync(TMP, { recursive: true });
  const sock = `/tmp/kg-bench-f-${process.pid}.sock`;
  const podmanWith: number[] = [];
  const podmanWithout: number[] = [];
  const loopWith: number[] = [];
  const loopWithout: number[] = [];
  const cpuWith: number[] = [];
  const cpuWithout: number[] = [];
  let execWatchOn = true;
  const settleMs: number[] = [];
  // warm-up: podman's and the page cache's first-run costs go to neither side
  await podmanRun(rootfs);
  await openLoop(iters, await idlestCpu());
  const blocks = Math.ceil(runs / block) * 2;
  for (let b = 0; b < blocks; b++) {
    // ABBA: without, with, with, without, ...
    const withDaemon = b % 4 === 1 || b % 4 === 2;
    let d: Child | undefined;
    try {
      if (withDaemon) {
        d = await startDaemon(sock);
        if (!hasFanotify(d.pid)) execWatchOn = false;
        settleMs.push(await waitIdle(d.pid));
      }
      // one uncounted run on both sides: a fresh daemon's first container takes its cold code
      // paths (JIT), which a long-lived daemon took long ago
      await podmanRun(rootfs);
      const cpu = await idlestCpu();
      const pm = withDaemon ? podmanWith : podmanWithout;
      const lp = withDaemon ? loopWith : loopWithout;
      const lc = withDaemon ? cpuWith : cpuWithout;
      for (let i = 0; i < block && pm.length < runs; i++) {
        pm.push(await podmanRun(rootfs));
        const l = await openLoop(iters, cpu);
        lp.push(l.ns);
        lc.push(l.cpuNs);
      }
    } finally {
      if (d) await stop(d);
      rmSync(sock, { force: true });
    }
    log(
      `(f) block ${b + 1}/${blocks} ${withDaemon ? 'with' : 'without'} the daemon: podman run median ${median(withDaemon ? podmanWith : podmanWithout).toFixed(0)} ms`,
    );
  }
  const r: IdentityCost = {
    machine: machine(),
    runs,
    block,
    loopIters: iters,
    podman: {
      withMs: median(podmanWith),
      withoutMs: median(podmanWithout),
      ratio: median(podmanWith) / median(podmanWithout),
      with: podmanWith,
      without: podmanWithout,
    },
    loop: {
      withNs: median(loopWith),
      withoutNs: median(loopWithout),
      ratio: median(loopWith) / median(loopWithout),
      with: loopWith,
      without: loopWithout,
    },
    loopCpu: {
      withNs: median(cpuWith),
      withoutNs: median(cpuWithout),
      ratio: median(cpuWith) / median(cpuWithout),
    },
    execWatchOn,
    daemonSettleMs: median(settleMs),
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'identity.json'), JSON.stringify(r, null, 2) + '\n');
  return r;
}

export function renderIdentity(r: IdentityCost): string {
  const pct = (x: number): string => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)}%`;
  return (
    `| (f) median of ${r.runs} interleaved runs | without daemon | with daemon (exec watch ${r.execWatchOn ? 'on' : 'OFF'}) | ratio |\n` +
    `|---|---|---|---|\n` +
    `| \`podman run --rm ... /bin/busybox true\` | ${r.podman.withoutMs.toFixed(0)} ms | ${r.podman.withMs.toFixed(0)} ms | ${r.podman.ratio.toFixed(3)} (${pct(r.podman.ratio)}) |\n` +
    `| open/close loop (${r.loopIters} iterations) | ${r.loop.withoutNs.toFixed(0)} ns/iter | ${r.loop.withNs.toFixed(0)} ns/iter | ${r.loop.ratio.toFixed(3)} (${pct(r.loop.ratio)}) |\n` +
    `| its CPU time | ${r.loopCpu.withoutNs.toFixed(0)} ns/iter | ${r.loopCpu.withNs.toFixed(0)} ns/iter | ${r.loopCpu.ratio.toFixed(3)} (${pct(r.loopCpu.ratio)}) |\n`
  );
}
