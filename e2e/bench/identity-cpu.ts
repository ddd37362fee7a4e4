// The daemon's own CPU per container start (issue 12 #5): a real `kubectl-gadget daemon` (exec
// watch on), K sequential `podman run --rm ... /bin/busybox true`, and the daemon's CPU time
// (schedstat of all its threads, ns) over them, less its idle CPU over as long a quiet window,
// divided by K. Rounds alternate idle and podman windows; the medians are reported.
//   node dist/e2e/bench/identity-cpu.js   (under flock -s /tmp/kg-bench.lock)
// IDCPU_K (40) runs per window, IDCPU_ROUNDS (3); IDCPU_ROOT: another checkout's bin/run.js
// (an older commit, to compare); IDCPU_PROF=<file>: a CPU profile of the daemon over the first
// podman window (through the inspector: --cpu-prof from the start makes the BPF loads fail with
// EAGAIN, the sampler's signals interrupting the verifier).

import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRootfs } from '../fixtures/podman.js';
import { podmanRun, startDaemon } from './identity.js';
import { median, sleep, stop } from './proc.js';
import { RUN_JS } from './setup.js';

const log = (m: string): void => void process.stderr.write(`identity-cpu: ${m}\n`);

/** CPU ns of each thread of pid (schedstat's first field), by "tid comm". */
function perThreadNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      const comm = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      out.set(`${t} ${comm}`, ns);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** CPU ns of all threads of pid, threads gone since not counted. */
function threadsCpuNs(pid: number): number {
  let ns = 0;
  for (const v of perThreadNs(pid).values()) ns += v;
  return ns;
}

/** Threads whose CPU grew most from `a` to `b`: "comm ms" (the busy window's split). */
function topThreads(a: Map<string, number>, b: Map<string, number>): string {
  return [...b]
    .map(([k, v]) => [k.replace(/^\d+ /, ''), (v - (a.get(k) ?? 0)) / 1e6] as const)
    .filter(([, ms]) => ms >= 1)
    .sort((x, y) => y[1] - x[1])
    .map(([k, ms]) => `${k} ${ms.toFixed(0)}`)
    .join(', ');
}

/** utime+stime of the whole process (dead threads included), ns (10 ms ticks). */
function statCpuNs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 1e7;
}

// Loaded into the daemon with --require: SIGUSR2 starts a CPU profile (the in-process
// inspector), the next SIGUSR2 writes it to $IDCPU_PROF_OUT.
const PRELOAD = `
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');
let s;
process.on('SIGUSR2', () => {
  if (!s) {
    s = new Session();
    s.connect();
    s.post('Profiler.enable', () =>
      s.post('Profiler.setSamplingInterval', { interval: 200 }, () => s.post('Profiler.start')));
    return;
  }
  s.post('Profiler.stop', (err, r) => {
    writeFileSync(process.env.IDCPU_PROF_OUT, JSON.stringify(err ? { error: String(err) } : r.profile));
    s.disconnect();
    s = undefined;
  });
});
`;

async function main(): Promise<void> {
  const k = Number(process.env.IDCPU_K ?? 40);
  const rounds = Number(process.env.IDCPU_ROUNDS ?? 3);
  const root = process.env.IDCPU_ROOT;
  const runJs = root ? join(root, 'bin', 'run.js') : RUN_JS;
  const profFile = process.env.IDCPU_PROF ?? '';
  const rootfs = ensureRootfs();
  const sock = `/tmp/kg-idcpu-${process.pid}.sock`;
  const pinDir = `/sys/fs/bpf/kgtest-idcpu-${process.pid}`;
  process.env.KGADGET_TRACELOOP_PIN_DIR = pinDir;
  await podmanRun(rootfs); // podman's first-run costs
  const preload = profFile ? `/tmp/kg-idcpu-${process.pid}-preload.cjs` : '';
  if (preload) {
    writeFileSync(preload, PRELOAD);
    process.env.IDCPU_PROF_OUT = profFile;
  }
  const d = await startDaemon(sock, runJs, preload ? ['--require', preload] : []);
  const perStart: number[] = [];
  const perStartStat: number[] = [];
  const idlePerSec: number[] = [];
  try {
    await sleep(1000); // its start-up scan is over
    for (let r = 0; r < rounds; r++) {
      const t0s = perThreadNs(d.pid);
      const a0 = threadsCpuNs(d.pid);
      const s0 = statCpuNs(d.pid);
      const t0 = Date.now();
      if (preload && r === 0) process.kill(d.pid, 'SIGUSR2');
      for (let i = 0; i < k; i++) await podmanRun(rootfs);
      await sleep(1500); // the poll after the last exit
      if (preload && r === 0) {
        process.kill(d.pid, 'SIGUSR2');
        await sleep(500);
        log(`profile of the first podman window: ${profFile}`);
      }
      const wall = Date.now() - t0;
      const busy = threadsCpuNs(d.pid) - a0;
      const split = topThreads(t0s, perThreadNs(d.pid));
      const busyStat = statCpuNs(d.pid) - s0;
      // the idle window, as long as the busy one
      const i0 = threadsCpuNs(d.pid);
      const j0 = statCpuNs(d.pid);
      await sleep(wall);
      const idle = threadsCpuNs(d.pid) - i0;
      const idleStat = statCpuNs(d.pid) - j0;
      perStart.push((busy - idle) / k / 1e6);
      perStartStat.push((busyStat - idleStat) / k / 1e6);
      idlePerSec.push(idle / wall / 1e3);
      log(
        `round ${r + 1}/${rounds}: ${k} runs in ${wall} ms; daemon CPU ${(busy / 1e6).toFixed(1)} ms busy, ${(idle / 1e6).toFixed(1)} ms idle -> ${(perStart.at(-1) ?? 0).toFixed(2)} ms per container start (stat ${(perStartStat.at(-1) ?? 0).toFixed(2)}); busy by thread (ms): ${split}`,
      );
    }
  } finally {
    await stop(d);
    if (preload) rmSync(preload, { force: true });
    rmSync(sock, { force: true });
    rmSync(pinDir, { recursive: true, force: true });
  }
  const r = {
    daemon: runJs,
    k,
    rounds,
    msPerStart: median(perStart),
    msPerStartStat: median(perStartStat),
    idleMsPerSec: median(idlePerSec),
    perStart,
  };
  process.stdout.write(JSON.stringify(r) + '\n');
}

main().catch((e: unknown) => {
  log(String((e as Error)?.stack ?? e));
  process.exitCode = 1;
});
