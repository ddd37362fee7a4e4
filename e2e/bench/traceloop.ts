// traceloop benchmark (node dist/e2e/bench/traceloop.js; root, podman, strace):
//   - slowdown of a syscall-heavy workload in a container while traceloop records it, against
//     the same workload untraced, under an empty program on the same hooks (the floor: tp_btf
//     sys_enter + sys_exit), and under `strace -f`;
//   - the cost of one `show` of a full recording (read from the kernel + decode + format);
//   - memory per container.
// Three workloads: `getppid` (one cheap syscall per iteration: the worst case for any per-syscall
// hook), `openclose` (openat + read + close of a small file: strings and buffers copied) and
// `stat` (newfstatat: a path and a 144-byte struct stat copied, two slots), `writev` (2 iovecs
// and up to 64 bytes of each copied at entry).
// Then real programs of the busybox rootfs, each run whole N times by the loop (fork, execv,
// wait): `ls -l /bin` (269 symlinks: lstat and readlink each), `cat`, an `sh` pipeline and `wget`
// from an httpd in the same container (the parity test's programs). Their ratio is what a
// recorded container pays; the loops above are the worst case per syscall.
// The workload runs pinned to one CPU inside a podman container (`podman exec`), timing itself.
// Env: TL_BENCH_ROUNDS (5), TL_BENCH_N (getppid iterations, 2000000), TL_BENCH_STRACE_DIV (10:
// strace runs N/10 iterations), TL_BENCH_PROG_N (runs of each program per round, 200),
// TL_BENCH_ONLY (comma-separated workload or program names, e.g. `writev,ls -l /bin`: those
// alone; show and memory are then skipped). Writes
// build/bench/traceloop.json and prints a markdown table.

import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ObjectSpec, type Collection } from '../../daemon/src/bpf/index.js';
import { ContainerRegistry } from '../../daemon/src/containers/registry.js';
import { bytesPerContainer, TraceloopRecorder } from '../../daemon/src/traceloop/recorder.js';
import type { RunMessage } from '../../gadgets/framework/runtime.js';
import { packageRoot } from '../../gadgets/framework/paths.js';
import {
  assemble,
  parseSlot,
  recordObject,
  formatParams,
  type Slot,
} from '../../gadgets/traceloop/format.js';
import { buildFloor, buildLoop } from '../../gadgets/traceloop/testdata/build.js';
import { RecordCursor } from '../../proto/ts/records.js';

const ROUNDS = Number(process.env.TL_BENCH_ROUNDS ?? 5);
const N_GETPPID = Number(process.env.TL_BENCH_N ?? 2_000_000);
const N_OPENCLOSE = Math.round(N_GETPPID / 6);
// strace costs ~20x per syscall: a tenth of the iterations gives the same ns/iter in a tenth
// of the time (the run took >30 min with the full count)
const STRACE_DIV = Number(process.env.TL_BENCH_STRACE_DIV ?? 10);
const N_PROG = Number(process.env.TL_BENCH_PROG_N ?? 200);
const ONLY = process.env.TL_BENCH_ONLY ? new Set(process.env.TL_BENCH_ONLY.split(',')) : undefined;
const wanted = (name: string): boolean => !ONLY || ONLY.has(name);
/** real programs (argv in the container), and their share of N_PROG: ls -l takes the longest */
const PROGRAMS: ReadonlyArray<{ name: string; argv: string[]; share: number }> = [
  { name: 'ls -l /bin', argv: ['/bin/ls', '-l', '/bin'], share: 0.5 },
  { name: 'cat', argv: ['/bin/cat', '/w/small'], share: 1 },
  { name: 'sh pipeline', argv: ['/bin/sh', '-c', 'cat /w/small | wc -c'], share: 1 },
  {
    name: 'wget from httpd',
    argv: ['/bin/wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/index.html'],
    share: 1,
  },
];
const CPU = String(cpus().length - 1);
const PODMAN = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];

const log = (m: string): void => void process.stderr.write(`traceloop bench: ${m}\n`);

interface LoopOut {
  ns_per_iteration: number;
  syscalls_per_iteration: number;
}

export interface WorkloadFigures {
  workload: string;
  syscalls_per_iteration: number;
  /** ns per iteration, best of the rounds */
  untraced_ns: number;
  floor_ns: number;
  traceloop_ns: number;
  /** traceloop start --durations (exit times recorded) */
  durations_ns: number;
  host_untraced_ns: number;
  strace_ns: number;
  /** slowdowns (traced / untraced) */
  floor_slowdown: number;
  traceloop_slowdown: number;
  strace_slowdown: number;
  /** traceloop's slowdown / the floor's (target <= 1.5) */
  traceloop_vs_floor: number;
  /** the same with --durations (target <= 1.5 too) */
  durations_vs_floor: number;
  /** added ns per syscall */
  floor_ns_per_syscall: number;
  traceloop_ns_per_syscall: number;
}

/** A real program run whole (no strace or host variants: its path is the container's). */
export interface ProgramFigures {
  program: string;
  runs: number;
  /** ns per run, best of the rounds */
  untraced_ns: number;
  floor_ns: number;
  traceloop_ns: number;
  durations_ns: number;
  floor_slowdown: number;
  traceloop_slowdown: number;
  /** traceloop's slowdown / the floor's (target <= 1.5) */
  traceloop_vs_floor: number;
  durations_vs_floor: number;
}

export interface TraceloopBenchResults {
  cpu: string;
  kernel: string;
  rounds: number;
  workloads: WorkloadFigures[];
  programs: ProgramFigures[];
  show: Array<{
    syscalls_per_container: number;
    records: number;
    read_ms: number;
    decode_ms: number;
    total_ms: number;
  }>;
  memory: Array<{
    syscalls_per_container: number;
    bytes_per_container: number;
    kernel_memlock_per_container: number;
  }>;
}

/** Best of the rounds: on a shared machine, noise only ever adds time. */
function best(xs: number[]): number {
  return Math.min(...xs);
}

function podman(args: string[]): string {
  return execFileSync('podman', [...PODMAN, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
}

class Bench {
  readonly dir: string;
  // not kgtest-: test suites remove every kgtest- container they find
  readonly name = `tlbench-${process.pid}`;
  readonly loop: string;

  constructor() {
    this.loop = buildLoop();
    this.dir = mkdtempSync(join(tmpdir(), 'tlbench-'));
    copyFileSync(this.loop, join(this.dir, 'loop'));
    writeFileSync(join(this.dir, 'small'), 'a small file\n');
    mkdirSync(join(this.dir, 'www'));
    writeFileSync(join(this.dir, 'www', 'index.html'), 'hello from httpd\n'.repeat(20));
  }

  /** wget's server, in the container (so recorded with it) */
  startHttpd(): void {
    podman(['exec', '-d', this.name, 'httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/w/www']);
    for (let i = 0; i < 100; i++) {
      if (/:8080\b/.test(podman(['exec', this.name, 'netstat', '-ltn']))) return;
      execFileSync('sleep', ['0.05']);
    }
    throw new Error('httpd did not listen on 127.0.0.1:8080 in the bench container');
  }

  spawnInContainer(n: number, argv: readonly string[]): LoopOut {
    return JSON.parse(
      podman(['exec', this.name, '/w/loop', String(n), 'spawn', ...argv]),
    ) as LoopOut;
  }

  startContainer(): void {
    const rootfs = join(packageRoot(), 'build', 'rootfs', 'busybox');
    execFileSync('bash', [join(packageRoot(), 'e2e', 'fixtures', 'build-rootfs.sh'), rootfs], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    podman(['rm', '-f', '-t', '0', this.name]);
    podman([
      'run',
      '-d',
      '--name',
      this.name,
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
      '--cpuset-cpus',
      CPU,
      '-v',
      `${this.dir}:/w:ro`,
      '--rootfs',
      rootfs,
      'sleep',
      '1000000',
    ]);
  }

  inContainer(n: number, mode: string): LoopOut {
    return JSON.parse(
      podman(['exec', this.name, '/w/loop', String(n), mode, '/w/small']),
    ) as LoopOut;
  }

  onHost(n: number, mode: string, strace: boolean): LoopOut {
    const cmd = [
      'taskset',
      '-c',
      CPU,
      join(this.dir, 'loop'),
      String(n),
      mode,
      join(this.dir, 'small'),
    ];
    const argv = strace ? ['strace', '-f', '-qq', '-o', '/dev/null', ...cmd] : cmd;
    return JSON.parse(execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })) as LoopOut;
  }

  cleanup(): void {
    try {
      podman(['rm', '-f', '-t', '0', this.name]);
    } catch {
      /* gone */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function loadFloor(): Collection {
  const spec = ObjectSpec.open(buildFloor());
  const c = spec.load();
  c.attach();
  return c;
}

/** Rounds interleaved so that drift hits every variant alike. */
async function measure(
  b: Bench,
  mode: string,
  n: number,
  variant: (name: string) => Promise<() => Promise<void>>,
  argv?: readonly string[],
): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const variants = ['untraced', 'floor', 'traceloop', 'durations'];
  if (!argv) variants.push('host_untraced', 'strace');
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      const undo = await variant(v);
      try {
        const res = argv
          ? b.spawnInContainer(n, argv)
          : v === 'host_untraced' || v === 'strace'
            ? b.onHost(
                v === 'strace' ? Math.max(1000, Math.round(n / STRACE_DIV)) : n,
                mode,
                v === 'strace',
              )
            : b.inContainer(n, mode);
        (out[v] ??= []).push(res.ns_per_iteration);
      } finally {
        await undo();
      }
    }
  }
  return out;
}

async function showCost(
  rec: TraceloopRecorder,
  container: string,
  nslots: number,
): Promise<TraceloopBenchResults['show'][number]> {
  const t0 = process.hrtime.bigint();
  const slots: Slot[] = [];
  let boot = 0n;
  const msgs: RunMessage[] = [];
  for await (const m of rec.show(
    { sessionId: '', container, instance: 0 },
    new AbortController().signal,
  )) {
    msgs.push(m);
  }
  const t1 = process.hrtime.bigint();
  for (const m of msgs) {
    if (m.kind === 'header') boot = m.header.bootToWallNs;
    if (m.kind !== 'batch') continue;
    // the walk traceloop show does (plugin/src/pipeline/stream.ts walks with this cursor)
    const c = new RecordCursor(m.records);
    while (c.next()) {
      const s = parseSlot(c.batch, c.offset, c.length);
      if (s) slots.push(s);
    }
  }
  const records = assemble(slots);
  let chars = 0;
  for (const r of records)
    chars +=
      JSON.stringify(recordObject(r, boot), (_k, v: unknown) =>
        typeof v === 'bigint' ? String(v) : v,
      ).length + formatParams(r).length;
  const t2 = process.hrtime.bigint();
  if (chars === 0 && records.length) throw new Error('nothing formatted');
  return {
    syscalls_per_container: nslots,
    records: records.length,
    read_ms: Number(t1 - t0) / 1e6,
    decode_ms: Number(t2 - t1) / 1e6,
    total_ms: Number(t2 - t0) / 1e6,
  };
}

/** memlock (the kernel's own estimate of a map's memory) of this process's per-recording maps. */
function traceloopMemlock(): number {
  const names = new Map<number, string>();
  const maps = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' }),
  ) as Array<{
    id: number;
    name?: string;
  }>;
  for (const m of maps) names.set(m.id, m.name ?? '');
  let total = 0;
  const seen = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    let info = '';
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:bpf-map') continue;
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const id = Number(/map_id:\s*(\d+)/.exec(info)?.[1] ?? -1);
    if (seen.has(id) || !/^tl_(slots|data|meta|ident|info)$/.test(names.get(id) ?? '')) continue;
    seen.add(id);
    total += Number(/memlock:\s*(\d+)/.exec(info)?.[1] ?? 0);
  }
  return total;
}

export async function runTraceloopBench(): Promise<TraceloopBenchResults> {
  const b = new Bench();
  const registry = new ContainerRegistry({ pollMs: 500 });
  const pinDir = `/sys/fs/bpf/kgtest-tlbench-${process.pid}`;
  let rec: TraceloopRecorder | undefined;
  try {
    b.startContainer();
    await registry.start();
    const results: TraceloopBenchResults = {
      cpu: cpus()[0]?.model ?? '',
      kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
      rounds: ROUNDS,
      workloads: [],
      programs: [],
      show: [],
      memory: [],
    };
    const newRecorder = (): TraceloopRecorder =>
      new TraceloopRecorder({
        registry,
        node: 'bench',
        pinDir,
        syncMs: 0,
        ...(process.env.TL_BENCH_DEBUG ? { log: (l: string, m: string) => log(`${l}: ${m}`) } : {}),
      });
    const variant = async (v: string): Promise<() => Promise<void>> => {
      if (v === 'floor') {
        const c = loadFloor();
        return async () => c.close();
      }
      if (v === 'traceloop' || v === 'durations') {
        // recording every container (the workload's included), as a node daemon does
        const r = newRecorder();
        rec = r;
        await r.start({ filter: emptyFilter(), syscalls: [], durations: v === 'durations' });
        return async () => {
          await r.delete('', '');
          rec = undefined;
        };
      }
      return async () => {};
    };
    for (const [mode, n] of [
      ['getppid', N_GETPPID],
      ['openclose', N_OPENCLOSE],
      ['stat', N_OPENCLOSE],
      ['writev', N_OPENCLOSE],
    ] as const) {
      if (!wanted(mode)) continue;
      log(`${mode}: ${ROUNDS} rounds of ${n} iterations on CPU ${CPU}`);
      const m = await measure(b, mode, n, variant);
      const calls = mode === 'openclose' ? 3 : 1;
      const u = best(m.untraced!);
      const f = best(m.floor!);
      const t = best(m.traceloop!);
      const dur = best(m.durations!);
      const hu = best(m.host_untraced!);
      const s = best(m.strace!);
      results.workloads.push({
        workload: mode,
        syscalls_per_iteration: calls,
        untraced_ns: u,
        floor_ns: f,
        traceloop_ns: t,
        durations_ns: dur,
        host_untraced_ns: hu,
        strace_ns: s,
        floor_slowdown: f / u,
        traceloop_slowdown: t / u,
        strace_slowdown: s / hu,
        traceloop_vs_floor: t / u / (f / u),
        durations_vs_floor: dur / u / (f / u),
        floor_ns_per_syscall: (f - u) / calls,
        traceloop_ns_per_syscall: (t - u) / calls,
      });
    }

    b.startHttpd();
    for (const p of PROGRAMS) {
      if (!wanted(p.name)) continue;
      const n = Math.max(10, Math.round(N_PROG * p.share));
      log(`${p.name}: ${ROUNDS} rounds of ${n} runs on CPU ${CPU}`);
      const m = await measure(b, 'spawn', n, variant, p.argv);
      const u = best(m.untraced!);
      const f = best(m.floor!);
      const t = best(m.traceloop!);
      const dur = best(m.durations!);
      results.programs.push({
        program: p.name,
        runs: n,
        untraced_ns: u,
        floor_ns: f,
        traceloop_ns: t,
        durations_ns: dur,
        floor_slowdown: f / u,
        traceloop_slowdown: t / u,
        traceloop_vs_floor: t / f,
        durations_vs_floor: dur / f,
      });
    }

    for (const nslots of ONLY ? [] : [2048, 65536]) {
      rec = newRecorder();
      await rec.start({
        filter: { ...emptyFilter(), containerNames: [b.name] },
        syscalls: [],
        syscallsPerContainer: nslots,
        maxMemoryMib: Math.ceil((bytesPerContainer(nslots) * 4) / 1048576),
      });
      const memBefore = rec.session();
      b.inContainer(Math.max(nslots, 100_000), 'openclose');
      rec.sync();
      if (process.env.TL_BENCH_DEBUG)
        log(JSON.stringify({ list: await rec.list(''), counters: rec.counters() }));
      results.show.push(await showCost(rec, b.name, nslots));
      results.memory.push({
        syscalls_per_container: nslots,
        bytes_per_container: bytesPerContainer(nslots),
        kernel_memlock_per_container: Math.round(traceloopMemlock() / memBefore.buffers),
      });
      await rec.delete('', '');
      rec = undefined;
    }
    return results;
  } finally {
    if (rec) await rec.delete('', '').catch(() => undefined);
    registry.close();
    b.cleanup();
  }
}

function emptyFilter() {
  return {
    containerNames: [] as string[],
    containerIds: [] as string[],
    host: false,
    namespaces: [] as string[],
    pods: [] as string[],
    labelSelector: '',
    podsOnly: false,
  };
}

export function renderMarkdown(r: TraceloopBenchResults): string {
  const f1 = (x: number): string => x.toFixed(2);
  let s = `traceloop, ${r.kernel}, ${r.cpu}, best of ${r.rounds} interleaved rounds\n\n`;
  s +=
    '| workload | untraced ns/iter | floor (empty tp_btf enter+exit) | traceloop | strace -f | traceloop slowdown / floor slowdown | with --durations |\n|---|---|---|---|---|---|---|\n';
  for (const w of r.workloads) {
    s += `| ${w.workload} (${w.syscalls_per_iteration} syscall${w.syscalls_per_iteration > 1 ? 's' : ''}) | ${w.untraced_ns.toFixed(0)} | ${w.floor_ns.toFixed(0)} (${f1(w.floor_slowdown)}x, +${w.floor_ns_per_syscall.toFixed(0)} ns/syscall) | ${w.traceloop_ns.toFixed(0)} (${f1(w.traceloop_slowdown)}x, +${w.traceloop_ns_per_syscall.toFixed(0)} ns/syscall) | ${w.strace_ns.toFixed(0)} (${f1(w.strace_slowdown)}x vs host ${w.host_untraced_ns.toFixed(0)}) | ${f1(w.traceloop_vs_floor)} | ${w.durations_ns.toFixed(0)} (${f1(w.durations_vs_floor)}) |\n`;
  }
  if (r.programs.length) {
    s +=
      '\n| real program (run whole) | untraced us/run | floor | traceloop | traceloop slowdown / floor slowdown | with --durations |\n|---|---|---|---|---|---|\n';
    const us = (ns: number): string => (ns / 1000).toFixed(0);
    for (const p of r.programs) {
      s += `| ${p.program} (${p.runs} runs) | ${us(p.untraced_ns)} | ${us(p.floor_ns)} (${f1(p.floor_slowdown)}x) | ${us(p.traceloop_ns)} (${f1(p.traceloop_slowdown)}x) | ${f1(p.traceloop_vs_floor)} | ${us(p.durations_ns)} (${f1(p.durations_vs_floor)}) |\n`;
    }
  }
  if (r.show.length) {
    s +=
      '\n| syscalls per container | records shown | read from kernel | decode + format | memory per container (computed) | kernel memlock per container |\n|---|---|---|---|---|---|\n';
    r.show.forEach((sh, i) => {
      const m = r.memory[i]!;
      s += `| ${sh.syscalls_per_container} | ${sh.records} | ${sh.read_ms.toFixed(1)} ms | ${sh.decode_ms.toFixed(1)} ms | ${(m.bytes_per_container / 1024).toFixed(0)} KiB | ${(m.kernel_memlock_per_container / 1024).toFixed(0)} KiB |\n`;
    });
  }
  return s;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runTraceloopBench().then(
    (r) => {
      const out = join(packageRoot(), 'build', 'bench');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'traceloop.json'), JSON.stringify(r, null, 2) + '\n');
      process.stdout.write(renderMarkdown(r));
    },
    (e: unknown) => {
      process.stderr.write(`traceloop bench failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
