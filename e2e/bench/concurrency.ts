// Concurrent runs against one daemon (issue 13 #1): `npm run bench:concurrency`
// (node dist/e2e/bench/concurrency.js [--runs 1,10,100] [--iters N] [--rounds R]).
//
// For each count N: a real daemon process, N `trace open` runs and N `trace exec` runs over
// gRPC (the CLI's RemoteRuntime in this process, records counted, not decoded), then the
// open+close loop of kg-workload (pinned to the idlest CPU). Two scenarios:
//   filtered    every run filtered to a podman container that does nothing: the kernel drops the
//               loop's opens (the cost of the shared programs themselves);
//   unfiltered  every run takes every event: each loop open reaches every run (the fan-out).
// Reported per N: the loop's ns/iter against the untraced loop measured just before (best of
// the rounds, interleaved), the daemon's RSS and CPU while the loop runs, the programs attached
// per hook (links of the daemon's gadget programs, and `bpftool perf` entries per tracepoint),
// GetInfo's worst latency meanwhile, events delivered and lost per run.
// Needs root, a built tree, podman (filtered; skipped without it). Take the bench lock.

import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { RemoteRuntime } from '../../plugin/src/runtimes/remote-runtime.js';
import { emptyFilter } from '../../gadgets/framework/filter.js';
import type { RunRequest } from '../../gadgets/framework/runtime.js';
import {
  cpuSeconds,
  idlestCpu,
  killAll,
  lastJson,
  run,
  rssMiB,
  sleep,
  start,
  stop,
  type Child,
} from './proc.js';
import { buildBenchArtifacts, FLOOR_OBJ, machine, RUN_JS, TMP, WORKLOAD } from './setup.js';
import { ObjectSpec } from '../../daemon/src/bpf/index.js';
import { ensureRootfs } from '../fixtures/podman.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? def) : def;
};
const COUNTS = arg('runs', '1,10,100').split(',').map(Number);
const ITERS = Number(arg('iters', '300000'));
const ROUNDS = Number(arg('rounds', '3'));

interface Stream {
  events: number;
  lost: number;
  records: number;
  headerAt: number;
  error?: unknown;
  ac: AbortController;
  ended: Promise<void>;
}

function startStream(rt: RemoteRuntime, req: RunRequest): Stream {
  const s: Stream = {
    events: 0,
    lost: 0,
    records: 0,
    headerAt: 0,
    ac: new AbortController(),
    ended: Promise.resolve(),
  };
  s.ended = (async () => {
    try {
      for await (const m of rt.run(req, s.ac.signal)) {
        if (m.kind === 'header') s.headerAt = Date.now();
        else if (m.kind === 'batch') s.records += m.count;
        else if (m.kind === 'stats') {
          s.events = m.stats.events;
          s.lost = m.stats.lost;
        }
      }
    } catch (e) {
      if (!s.ac.signal.aborted) s.error = e;
    }
  })();
  return s;
}

async function loop(): Promise<number> {
  const target = join(TMP, 'conc-loop-target');
  writeFileSync(target, 'x');
  const out = await run('open-loop', WORKLOAD, ['open-loop', String(ITERS), target], {
    cpus: String(await idlestCpu()),
  });
  return lastJson<{ ns_per_iter: number }>(out).ns_per_iter;
}

/**
 * The loop with empty programs on the 4 hooks a filtered `trace open` run costs (bench.ts's
 * 4-hook floor: sys_exit, and the tracker's fork and unshare enter/exit).
 */
async function floorLoop(): Promise<number> {
  const spec = ObjectSpec.open(FLOOR_OBJ);
  const progs = ['floor_sys_exit', 'floor_fork', 'floor_unshare_enter', 'floor_unshare_exit'];
  for (const p of spec.programs()) spec.setAutoload(p.name, progs.includes(p.name));
  const coll = spec.load();
  try {
    coll.attach();
    return await loop();
  } finally {
    coll.close();
  }
}

/** Links of the daemon's gadget programs (name -> count), from its fds and bpftool. */
function gadgetLinks(pid: number): Record<string, number> {
  const linkIds = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      if (!readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('anon_inode:')) continue;
      const m = /^link_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) linkIds.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  const j = <T>(what: string): T[] =>
    JSON.parse(
      execFileSync('bpftool', ['-j', what, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }),
    ) as T[];
  const names = new Map(j<{ id: number; name: string }>('prog').map((p) => [p.id, p.name]));
  const out: Record<string, number> = {};
  for (const l of j<{ id: number; prog_id: number }>('link')) {
    const n = names.get(l.prog_id) ?? '';
    if (linkIds.has(l.id) && n.startsWith('trace_')) out[n] = (out[n] ?? 0) + 1;
  }
  return out;
}

/** `bpftool perf` entries of the daemon: tracepoint -> the programs on it (name x count). */
function perfTracepoints(pid: number): Record<string, string> {
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'perf'], { encoding: 'utf8' })) as Array<{
    pid?: number;
    prog_id?: number;
    tracepoint?: string;
  }>;
  const progs = JSON.parse(
    execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }),
  ) as Array<{ id: number; name?: string }>;
  const names = new Map(progs.map((p) => [p.id, p.name ?? `prog ${p.id}`]));
  const by: Record<string, Record<string, number>> = {};
  for (const e of all) {
    if (e.pid !== pid || !e.tracepoint) continue;
    const n = names.get(e.prog_id ?? -1) ?? `prog ${e.prog_id}`;
    const t = (by[e.tracepoint] ??= {});
    t[n] = (t[n] ?? 0) + 1;
  }
  const out: Record<string, string> = {};
  for (const [tp, ps] of Object.entries(by))
    out[tp] = Object.entries(ps)
      .map(([n, c]) => `${n} ${c}`)
      .join(' + ');
  return out;
}

interface Row {
  scenario: string;
  runs: number;
  untracedNs: number;
  floorNs: number;
  tracedNs: number;
  startMs: number;
  rssIdleMiB: number;
  rssMiB: number;
  daemonCpu: number;
  links: Record<string, number>;
  perf: Record<string, string>;
  getInfoMaxMs: number;
  recordsPerRun: number;
  lostPerRun: number;
}

async function measure(
  d: Child,
  addr: string,
  scenario: string,
  n: number,
  filter: Partial<RunRequest['filter']>,
): Promise<Row> {
  const rt = new RemoteRuntime(addr, { callTimeoutMs: 60_000 });
  const probeRt = new RemoteRuntime(addr, { callTimeoutMs: 60_000 });
  await probeRt.info();
  const rssIdle = rssMiB(d.pid).rss;
  const untraced: number[] = [];
  const traced: number[] = [];
  const floor: number[] = [];
  let row: Omit<Row, 'untracedNs' | 'tracedNs' | 'floorNs'> | undefined;
  for (let r = 0; r < ROUNDS; r++) {
    untraced.push(await loop());
    floor.push(await floorLoop());
    const t0 = Date.now();
    const streams: Stream[] = [];
    for (let i = 0; i < n; i++) {
      for (const gadget of ['trace_open', 'trace_exec']) {
        streams.push(
          startStream(rt, {
            gadget,
            params: {},
            filter: { ...emptyFilter(), ...filter },
            timeoutSeconds: 0,
          }),
        );
      }
    }
    while (streams.some((s) => !s.headerAt && s.error === undefined)) await sleep(20);
    const bad = streams.find((s) => s.error !== undefined);
    if (bad) throw new Error(`${scenario} ${n}: ${String(bad.error)}`);
    const startMs = Date.now() - t0;
    await sleep(500);
    // GetInfo every 20 ms while the loop runs
    let probing = true;
    let worst = 0;
    const probe = (async () => {
      while (probing) {
        const p0 = performance.now();
        await probeRt.info();
        worst = Math.max(worst, performance.now() - p0);
        await sleep(20);
      }
    })();
    const c0 = cpuSeconds(d.pid);
    const w0 = Date.now();
    traced.push(await loop());
    const cpu = (cpuSeconds(d.pid) - c0) / ((Date.now() - w0) / 1000);
    const rss = rssMiB(d.pid).rss;
    probing = false;
    await probe;
    const links = gadgetLinks(d.pid);
    const perf = perfTracepoints(d.pid);
    await sleep(1200); // a stats message per run
    const opens = streams.filter((_, i) => i % 2 === 0);
    for (const s of streams) s.ac.abort();
    await Promise.all(streams.map((s) => s.ended));
    const recordsPerRun = opens.reduce((a, s) => a + s.records, 0) / n;
    const lostPerRun = opens.reduce((a, s) => a + s.lost, 0) / n;
    if (!row || rss > row.rssMiB) {
      row = {
        scenario,
        runs: n,
        startMs,
        rssIdleMiB: rssIdle,
        rssMiB: rss,
        daemonCpu: cpu,
        links,
        perf,
        getInfoMaxMs: worst,
        recordsPerRun,
        lostPerRun,
      };
    }
    console.error(
      `${scenario} N=${n} round ${r + 1}: untraced ${untraced.at(-1)!.toFixed(0)} ns, floor ${floor.at(-1)!.toFixed(0)} ns, traced ${traced.at(-1)!.toFixed(0)} ns, ` +
        `rss ${rss.toFixed(0)} MiB, daemon cpu ${(cpu * 100).toFixed(0)}%, GetInfo max ${worst.toFixed(1)} ms, ` +
        `records/run ${recordsPerRun.toFixed(0)}, lost/run ${lostPerRun.toFixed(0)}, links ${JSON.stringify(links)}`,
    );
    await sleep(500);
  }
  await rt.close();
  await probeRt.close();
  return {
    ...row!,
    untracedNs: Math.min(...untraced),
    floorNs: Math.min(...floor),
    tracedNs: Math.min(...traced),
  };
}

function podmanOk(): boolean {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root');
  buildBenchArtifacts();
  const m = machine();
  const dir = mkdtempSync('/tmp/kgbench-conc-');
  const sock = join(dir, 'gadget.sock');
  const addr = `unix://${sock}`;
  const d = start('daemon', process.execPath, [
    RUN_JS,
    'daemon',
    '--listen',
    addr,
    '--max-runs',
    '1024',
    '--max-runs-per-caller',
    '1024',
  ]);
  const container = `kgbench-conc-${process.pid}`;
  let haveContainer = false;
  const rows: Row[] = [];
  try {
    for (let i = 0; i < 300 && !(d.stderr.includes('listening') && existsSync(sock)); i++)
      await sleep(100);
    if (!existsSync(sock)) throw new Error(`daemon did not start: ${d.stderr}`);
    if (podmanOk()) {
      const rootfs = ensureRootfs();
      execFileSync(
        'podman',
        [
          '--runtime',
          'runc',
          '--cgroup-manager',
          'cgroupfs',
          'run',
          '-d',
          '--name',
          container,
          '--ulimit',
          'nofile=1024:1024',
          '--ulimit',
          'nproc=1024:1024',
          '--rootfs',
          rootfs,
          'sleep',
          '100000',
        ],
        { stdio: 'ignore' },
      );
      haveContainer = true;
      await sleep(1500); // the daemon's registry polls every second
    }
    for (const n of COUNTS) {
      if (haveContainer)
        rows.push(await measure(d, addr, 'filtered', n, { containerNames: [container] }));
      rows.push(await measure(d, addr, 'unfiltered', n, {}));
    }
  } finally {
    await stop(d, 'SIGTERM');
    if (haveContainer)
      execFileSync('podman', ['rm', '-f', '-t', '0', container], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
    killAll();
  }
  const lines = [
    `Measured by \`npm run bench:concurrency\` on ${m.date}: ${m.cpus} CPUs (${m.cpuModel}), ${m.memMiB} MiB, kernel ${m.kernel}, node ${m.node}, load average at start ${m.loadavg}; ${ROUNDS} rounds of ${ITERS} open+close iterations per count (best round), N trace open + N trace exec runs over gRPC.`,
    '',
    '| scenario | N runs (of each) | open loop, untraced → traced | slowdown (vs the 4-hook floor) | daemon RSS idle → with runs | daemon CPU during the loop | programs attached (links) | perf tracepoints | start of all runs | GetInfo max | records / lost per open run |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.runs} | ${r.untracedNs.toFixed(0)} → ${r.tracedNs.toFixed(0)} ns | ${(r.tracedNs / r.untracedNs).toFixed(2)}x (${(r.tracedNs / r.floorNs).toFixed(2)}x) | ` +
        `${r.rssIdleMiB.toFixed(0)} → ${r.rssMiB.toFixed(0)} MiB | ${(r.daemonCpu * 100).toFixed(0)}% | ` +
        `${Object.entries(r.links)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} | ${Object.entries(r.perf)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')} | ` +
        `${r.startMs} ms | ${r.getInfoMaxMs.toFixed(1)} ms | ${r.recordsPerRun.toFixed(0)} / ${r.lostPerRun.toFixed(0)} |`,
    ),
  ];
  console.log(lines.join('\n'));
}

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
main().catch((e: unknown) => {
  killAll();
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
