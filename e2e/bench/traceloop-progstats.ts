// traceloop's in-kernel cost per syscall (issue 17), from the kernel's own program statistics:
// kernel.bpf_stats_enabled on, a TraceloopRecorder recording every container (as a node daemon
// does), one podman container running gadgets/traceloop/testdata/loop.c N iterations of each
// workload, and the run_time_ns / run_cnt deltas of this process's tl_sys_enter and tl_sys_exit
// (read from /proc/self/fdinfo: other sessions' copies of the programs are not counted).
// The empty floor programs (testdata/floor.bpf.c) are attached meanwhile: their figure is what
// the statistics count for any program (the clock reads around it).
// A window also holds other tasks' syscalls (not recorded: the early exit); `own` is the share
// of the window's calls that the workload made.
//   node dist/e2e/bench/traceloop-progstats.js   (root, podman; under flock -s /tmp/kg-bench.lock)
// Env: TL_PS_N (iterations, 300000), TL_PS_ROUNDS (3), TL_PS_WORKLOADS (getppid,openclose,stat,writev),
// TL_PS_DURATIONS=1 (start --durations), TL_PS_BASELINE=path/to/traceloop.bpf.o: a second
// recorder with that object records at the same time (an A/B under the same load; it runs
// after the current programs on each hook, so it finds the task's lines warm).

import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
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
import { TraceloopRecorder } from '../../daemon/src/traceloop/recorder.js';
import { packageRoot } from '../../gadgets/framework/paths.js';
import { buildFloor, buildLoop } from '../../gadgets/traceloop/testdata/build.js';

const N = Number(process.env.TL_PS_N ?? 300_000);
const ROUNDS = Number(process.env.TL_PS_ROUNDS ?? 3);
const WORKLOADS = (process.env.TL_PS_WORKLOADS ?? 'getppid,openclose,stat,writev').split(',');
const CPU = String(cpus().length - 1);
const PODMAN = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const STATS = '/proc/sys/kernel/bpf_stats_enabled';
const BASELINE = process.env.TL_PS_BASELINE ?? '';

interface Stat {
  ns: number;
  cnt: number;
}

function podman(args: string[]): string {
  return execFileSync('podman', [...PODMAN, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
}

/** name -> ids of the BPF programs of those names this process holds a descriptor of. */
function ownPrograms(wanted: string[]): Map<string, Set<number>> {
  const names = new Map<number, string>();
  const progs = JSON.parse(
    execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }),
  ) as Array<{ id: number; name?: string }>;
  for (const p of progs) names.set(p.id, p.name ?? '');
  const out = new Map<string, Set<number>>(wanted.map((w) => [w, new Set<number>()]));
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      const id = Number(/prog_id:\s*(\d+)/.exec(info)?.[1]);
      out.get(names.get(id) ?? '')?.add(id);
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

/** The one id of `name` that is not in `except`. */
function onlyNew(ids: Map<string, Set<number>>, name: string, except: number[]): number {
  const got = [...(ids.get(name) ?? [])].filter((i) => !except.includes(i));
  if (got.length !== 1)
    throw new Error(`${name}: expected one program of ours, found ${got.length}`);
  return got[0]!;
}

function stat(id: number): Stat {
  const p = JSON.parse(
    execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' }),
  ) as { run_time_ns?: number; run_cnt?: number };
  return { ns: p.run_time_ns ?? 0, cnt: p.run_cnt ?? 0 };
}

export interface ProgStatsRow {
  /** 'current': build/gadgets/traceloop.bpf.o; 'baseline': TL_PS_BASELINE, recording meanwhile */
  variant: string;
  workload: string;
  round: number;
  /** syscalls the workload made (iterations * syscalls per iteration) */
  calls: number;
  enter_ns_per_call: number;
  exit_ns_per_call: number;
  enter_runs: number;
  exit_runs: number;
  /** the empty floor programs, attached meanwhile: what the statistics themselves count */
  floor_enter_ns_per_call: number;
  floor_exit_ns_per_call: number;
}

const emptyFilter = {
  containerNames: [] as string[],
  containerIds: [] as string[],
  host: false,
  namespaces: [] as string[],
  pods: [] as string[],
  labelSelector: '',
  podsOnly: false,
};

export async function runProgStats(): Promise<ProgStatsRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tlprogstats-'));
  const name = `tlprogstats-${process.pid}`;
  const registry = new ContainerRegistry({ pollMs: 500 });
  const statsBefore = readFileSync(STATS, 'utf8').trim();
  const recs: TraceloopRecorder[] = [];
  let floor: Collection | undefined;
  const rows: ProgStatsRow[] = [];
  try {
    copyFileSync(buildLoop(), join(dir, 'loop'));
    writeFileSync(join(dir, 'small'), 'a small file\n');
    const rootfs = join(packageRoot(), 'build', 'rootfs', 'busybox');
    execFileSync('bash', [join(packageRoot(), 'e2e', 'fixtures', 'build-rootfs.sh'), rootfs], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    podman([
      'run',
      '-d',
      '--name',
      name,
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
      '--cpuset-cpus',
      CPU,
      '-v',
      `${dir}:/w:ro`,
      '--rootfs',
      rootfs,
      'sleep',
      '1000000',
    ]);
    await registry.start();
    // each variant records every container (the workload's included), as a node daemon does;
    // with a baseline both record each syscall, so both see the same load
    const variants = BASELINE ? ['current', 'baseline'] : ['current'];
    const ids = new Map<string, Record<string, number>>();
    const names = ['tl_sys_enter', 'tl_sys_exit'];
    for (const v of variants) {
      const rec = new TraceloopRecorder({
        registry,
        node: 'progstats',
        pinDir: `/sys/fs/bpf/kgtest-tlprogstats-${process.pid}-${v}`,
        syncMs: 0,
        ...(v === 'baseline' ? { objectPath: BASELINE } : {}),
      });
      recs.push(rec);
      await rec.start({
        filter: emptyFilter,
        syscalls: [],
        durations: process.env.TL_PS_DURATIONS === '1',
      });
      const seen = [...ids.values()].flatMap((r) => Object.values(r));
      const own = ownPrograms(names);
      ids.set(v, Object.fromEntries(names.map((n) => [n, onlyNew(own, n, seen)])));
    }
    // the empty programs on the same hooks: the part of run_time_ns that any program shows
    floor = ObjectSpec.open(buildFloor()).load();
    floor.attach();
    const fl = ownPrograms(['floor_enter', 'floor_exit']);
    const floorIds = {
      floor_enter: onlyNew(fl, 'floor_enter', []),
      floor_exit: onlyNew(fl, 'floor_exit', []),
    };
    writeFileSync(STATS, '1\n');
    const run = (n: number, mode: string): void =>
      void podman(['exec', name, '/w/loop', String(n), mode, '/w/small']);
    run(1000, 'getppid'); // the container's set is claimed and the caches warm
    const all = (): Record<string, number> => ({
      ...floorIds,
      ...Object.fromEntries(
        [...ids].flatMap(([v, r]) => Object.entries(r).map(([n, id]) => [`${v}/${n}`, id])),
      ),
    });
    for (let r = 0; r < ROUNDS; r++) {
      for (const w of WORKLOADS) {
        const before = Object.fromEntries(Object.entries(all()).map(([k, id]) => [k, stat(id)]));
        run(N, w);
        const d = (k: string): Stat => {
          const a = before[k]!;
          const b = stat(all()[k]!);
          return { ns: b.ns - a.ns, cnt: b.cnt - a.cnt };
        };
        const per = (x: Stat): number => x.ns / Math.max(1, x.cnt);
        const fen = d('floor_enter');
        const fex = d('floor_exit');
        for (const v of variants) {
          const enter = d(`${v}/tl_sys_enter`);
          const exit = d(`${v}/tl_sys_exit`);
          const row: ProgStatsRow = {
            variant: v,
            workload: w,
            round: r,
            calls: N * (w === 'openclose' ? 3 : 1),
            enter_ns_per_call: per(enter),
            exit_ns_per_call: per(exit),
            enter_runs: enter.cnt,
            exit_runs: exit.cnt,
            floor_enter_ns_per_call: per(fen),
            floor_exit_ns_per_call: per(fex),
          };
          rows.push(row);
          process.stderr.write(
            `${w} round ${r} ${v}: enter ${row.enter_ns_per_call.toFixed(1)} ns, exit ${row.exit_ns_per_call.toFixed(1)} ns per call, empty ${row.floor_enter_ns_per_call.toFixed(1)}/${row.floor_exit_ns_per_call.toFixed(1)} (own ${((100 * row.calls) / Math.max(1, enter.cnt)).toFixed(0)}% of ${enter.cnt})\n`,
          );
        }
      }
    }
    return rows;
  } finally {
    writeFileSync(STATS, `${statsBefore}\n`);
    for (const rec of recs) await rec.delete('', '').catch(() => undefined);
    floor?.close();
    registry.close();
    try {
      podman(['rm', '-f', '-t', '0', name]);
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per workload: the median of the rounds' window averages. */
export function renderMarkdown(rows: ProgStatsRow[]): string {
  const med = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] ?? 0;
  };
  let s =
    '| workload | variant | tl_sys_enter ns/call | tl_sys_exit ns/call | empty programs (enter/exit) | own share of calls |\n|---|---|---|---|---|---|\n';
  const variants = [...new Set(rows.map((r) => r.variant))];
  for (const w of WORKLOADS)
    for (const v of variants) {
      // windows where other tasks made more than a tenth of the calls (another session's
      // syscall storm: their early exits dilute the average) are left out when others remain
      const all = rows.filter((r) => r.workload === w && r.variant === v);
      const clean = all.filter((r) => r.calls >= 0.9 * r.enter_runs);
      const rs = clean.length ? clean : all;
      const en = rs.map((r) => r.enter_ns_per_call);
      const ex = rs.map((r) => r.exit_ns_per_call);
      const fl = `${med(rs.map((r) => r.floor_enter_ns_per_call)).toFixed(1)}/${med(rs.map((r) => r.floor_exit_ns_per_call)).toFixed(1)}`;
      const own = rs.map((r) => r.calls / Math.max(1, r.enter_runs));
      s += `| ${w} | ${v} | ${med(en).toFixed(1)} (${Math.min(...en).toFixed(1)}-${Math.max(...en).toFixed(1)}) | ${med(ex).toFixed(1)} (${Math.min(...ex).toFixed(1)}-${Math.max(...ex).toFixed(1)}) | ${fl} | ${(100 * med(own)).toFixed(0)}% (${rs.length} of ${all.length} rounds) |\n`;
    }
  return s;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runProgStats().then(
    (rows) => process.stdout.write(renderMarkdown(rows)),
    (e: unknown) => {
      process.stderr.write(`traceloop progstats failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
