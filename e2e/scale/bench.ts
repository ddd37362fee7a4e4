// npm run bench:scale: the CLI's fan-in at cluster scale, on the SIMULATED nodes of the scale
// harness (harness.ts: stand-in kubelets, replay daemons) through the REAL API server's
// port-forward. One run measures:
//
//   - N = 10, 50, 200 nodes at 1,000 events/s each (--seconds of records per node): the time
//     from the command to the first event from every node; each node's delivered rate (>= 99% of
//     the target) and its lost records (0); the CLI's CPU (% of one core), its cost per event, its
//     RSS; the API server's CPU; emit-to-output latency p50/p99;
//   - 1,000 idle nodes (one record each, then the streams stay open): the time to connect them
//     all, the CLI's RSS and idle CPU, and its connection cost per node;
//   - the highest per-node rate held with zero loss at N = 200 (doubling up, or halving down,
//     from 1,000/s).
//
//   flock /tmp/kg-bench.lock flock /tmp/kg-cluster.lock npm run bench:scale -- [--nodes 10,50,200]
//     [--rate 1000] [--seconds 10] [--idle 1000] [--gadget trace_open] [--no-max-rate]
//     [--no-real-node] [--profile DIR] [--json FILE]
//
// The cluster is scripts/k8s/up.sh --node's (e2e/k8s-node/cluster.ts; real-node.ts): the REAL node
// kgnode stays in it, its real gadget pod streams in the same run as the simulated nodes, and a
// `kubectl exec` into a pod on it every 2 s during each phase must arrive (column "real node":
// an exec of /bin/echo MARKER for trace_exec, an open of /tmp/MARKER by touch for trace_open).
// With --no-real-node, or where the node cannot run, the control plane of scripts/k8s/up.sh alone
// (started unless one runs, and stopped again).
// Everything shares this machine's CPUs: the API server, the stand-ins, the replay daemons and the
// CLI, so the CLI's own cost (per event, per node) is the figure that carries over.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureCluster, type ClusterHandle } from '../k8s/harness-fake-kubelet.js';
import { sleep } from '../helpers/cli.js';
import { percentile, runCli, ScaleHarness, type CliRunResult } from './harness.js';
import { RealNode } from './real-node.js';

const t0 = Date.now();
const log = (m: string): void => {
  process.stderr.write(`[bench:scale +${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);
};

interface Row {
  phase: string;
  nodes: number;
  rate: number;
  perNode: number;
  ok: boolean;
  allFirstS: number;
  /** lowest and median per-node delivered rate at the CLI over its steady window, % of the target */
  minRatePct: number;
  medRatePct: number;
  /** the same over each node's first-to-last-event window (connect phase included) */
  minRateWholePct: number;
  medRateWholePct: number;
  lost: number;
  nodesLost: number;
  missing: number;
  cliCpuPct: number;
  usPerEvent: number;
  cliRssMiB: number;
  apiCpuPct: number;
  simCpuPct: number;
  standinCpuPct: number;
  replayCpuPct: number;
  /** the machine's busy CPU over the steady window, % of one core (2 vCPUs: 200% is all) */
  machineCpuPct: number;
  /** the real node's exec markers seen in the CLI's output / made, and its lines in all */
  realMarkers: string;
  realLines: number;
  p50ms: number;
  p99ms: number;
  /** steady state: events after the first event from every node */
  steadyP50ms: number;
  steadyP99ms: number;
  /** the latest the replay sent a record after its due time, ms (max over nodes) */
  replayLateMaxMs: number;
  cpuAtAllFirstS: number;
  cpuHoldPct: number;
  rssHoldMiB: number;
  exit: string;
  /** the machine's 1-minute load average at the end of the phase (2 vCPUs, shared) */
  load1: number;
}

// what SIGINT/SIGTERM must stop: the running phase's harness, and the cluster if we started it
let current: ScaleHarness | undefined;
let clusterRef: Pick<ClusterHandle, 'close'> | undefined;

interface BenchCluster {
  kubeconfig: string;
  caFile: string;
  /** scripts/k8s state dir (pid files) */
  dir: string;
  real?: RealNode;
  close(): void;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void (current?.close() ?? Promise.resolve())
      .catch(() => undefined)
      .finally(() => {
        clusterRef?.close();
        process.exit(130);
      });
  });

function pidOf(dir: string, component: string): number[] {
  try {
    return [Number(readFileSync(join(dir, 'run', `${component}.pid`), 'utf8').trim())];
  } catch {
    return [];
  }
}

async function phase(
  cluster: BenchCluster,
  name: string,
  o: {
    nodes: number;
    rate: number;
    count: number;
    gadget: 'trace_exec' | 'trace_open';
    hold?: boolean;
    nodesPerProcess?: number;
    profileDir?: string;
  },
): Promise<Row> {
  log(`${name}: ${o.nodes} nodes x ${o.rate}/s, ${o.count} records each`);
  const h = await ScaleHarness.start({
    kubeconfig: cluster.kubeconfig,
    caFile: cluster.caFile,
    nodes: o.nodes,
    rate: o.rate,
    count: o.count,
    hold: o.hold,
    nodesPerProcess: o.nodesPerProcess,
    log,
  });
  current = h;
  let r: CliRunResult;
  let reports;
  // the real node: a kubectl exec into its pod every 2 s of the steady window
  const real = cluster.real;
  const realLines: string[] = [];
  const made: string[] = [];
  let steady = false;
  let stopExecs = false;
  const execs = (async () => {
    if (!real) return;
    while (!steady && !stopExecs) await sleep(200);
    while (!stopExecs) {
      made.push(await real.execMarker('bench', o.gadget));
      await sleep(2000);
    }
  })().catch((e: unknown) => log(`real node exec: ${String(e)}`));
  try {
    r = await runCli({
      kubeconfig: cluster.kubeconfig,
      gadget: o.gadget,
      nodes: h.nodeNames,
      expectPerNode: o.count,
      timeoutMs: 120_000 + (o.count / o.rate) * 3000,
      cpuProfDir: o.profileDir,
      otherPids: {
        apiserver: pidOf(cluster.dir, 'kube-apiserver'),
        sim: h.simPids,
        standins: h.standinPids,
        replays: h.replayPids,
      },
      holdMs: o.hold ? 5000 : 1000,
      keep: new Map(real ? [[real.node, realLines]] : []),
      onAllFirst: () => (steady = true),
      log,
    });
    stopExecs = true;
    await execs;
    reports = await h.waitRunReports(o.hold ? 15_000 : 30_000);
  } finally {
    stopExecs = true;
    await h.close();
    current = undefined;
  }
  // a marker made in the last second may be after the CLI stopped: those are not counted
  const seen = made.filter(
    (m) => RealNode.markerEvents(realLines, m, o.gadget).length === 1,
  ).length;
  let lost = 0;
  let nodesLost = 0;
  let missing = 0;
  const rates: number[] = [];
  const steadyRates: number[] = [];
  let replayLateMaxMs = 0;
  for (const n of h.nodeNames) {
    const rep = reports.get(n);
    replayLateMaxMs = Math.max(replayLateMaxMs, rep?.lateMaxMs ?? 0);
    const l = rep?.lost ?? NaN;
    lost += l;
    if (!(l === 0)) nodesLost++;
    const got = r.perNode.get(n) ?? 0;
    missing += o.count - got;
    const first = r.firstMs.get(n);
    const last = r.lastMs.get(n);
    // delivered rate at the CLI over the node's own steady window: from the first event from
    // every node (the connect phase is over) to the node's last event; the events it counts are
    // those that arrived in it (a node behind on its schedule stretches it)
    const inSteady = r.perNodeSteady.get(n) ?? 0;
    const steadyEnd = last ?? NaN;
    steadyRates.push(
      inSteady > 0 && steadyEnd > r.allFirstMs
        ? (inSteady / ((steadyEnd - r.allFirstMs) / 1000) / o.rate) * 100
        : got === o.count
          ? 100
          : 0,
    );
    // the same over the node's whole window, first to last event (connect phase included)
    rates.push(
      got > 1 && first !== undefined && last !== undefined && last > first
        ? ((got - 1) / ((last - first) / 1000) / o.rate) * 100
        : got === o.count
          ? 100
          : 0,
    );
  }
  rates.sort((a, b) => a - b);
  steadyRates.sort((a, b) => a - b);
  const minRatePct = steadyRates[0] ?? 0;
  const medRatePct = steadyRates[Math.floor(steadyRates.length / 2)] ?? 0;
  const steadyS = r.steadyMs / 1000;
  const row: Row = {
    phase: name,
    nodes: o.nodes,
    rate: o.rate,
    perNode: o.count,
    ok: missing === 0 && lost === 0 && (o.count < 100 || minRatePct >= 99),
    allFirstS: r.allFirstMs / 1000,
    minRatePct,
    medRatePct,
    minRateWholePct: rates[0] ?? 0,
    medRateWholePct: rates[Math.floor(rates.length / 2)] ?? 0,
    lost,
    nodesLost,
    missing,
    cliCpuPct: (r.cpuSteady / steadyS) * 100,
    usPerEvent: (r.cpuSteady / r.steadyEvents) * 1e6,
    cliRssMiB: r.rssMaxMiB,
    apiCpuPct: ((r.otherCpuSteady.apiserver ?? NaN) / steadyS) * 100,
    simCpuPct: ((r.otherCpuSteady.sim ?? NaN) / steadyS) * 100,
    standinCpuPct: ((r.otherCpuSteady.standins ?? NaN) / steadyS) * 100,
    replayCpuPct: ((r.otherCpuSteady.replays ?? NaN) / steadyS) * 100,
    machineCpuPct: ((r.otherCpuSteady.machine ?? NaN) / steadyS) * 100,
    realMarkers: real ? `${seen}/${made.length}` : '-',
    realLines: realLines.length,
    p50ms: percentile(r.latencies, 50),
    p99ms: percentile(r.latencies, 99),
    steadyP50ms: percentile(r.steadyLatencies, 50),
    steadyP99ms: percentile(r.steadyLatencies, 99),
    replayLateMaxMs,
    cpuAtAllFirstS: r.cpuAtAllFirst,
    cpuHoldPct: (r.cpuHold / 5) * 100,
    rssHoldMiB: r.rssHoldMiB,
    exit: String(r.status ?? r.signal),
    load1: Number(loadavg()[0]!.toFixed(1)),
  };
  const warn = r.stderr
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, 5);
  log(
    `${name}: ${row.ok ? 'ok' : 'NOT HELD'}; first from all ${row.allFirstS.toFixed(1)} s; rate min ${row.minRatePct.toFixed(1)}%; lost ${lost} (${nodesLost} nodes); missing ${missing}; CLI ${row.cliCpuPct.toFixed(0)}% ${row.usPerEvent.toFixed(1)} us/event ${row.cliRssMiB.toFixed(0)} MiB; apiserver ${row.apiCpuPct.toFixed(0)}%; p50 ${row.p50ms.toFixed(1)} ms p99 ${row.p99ms.toFixed(1)} ms (steady ${row.steadyP50ms.toFixed(1)} / ${row.steadyP99ms.toFixed(1)}); replay late max ${row.replayLateMaxMs.toFixed(0)} ms; CPU % of a core: machine ${row.machineCpuPct.toFixed(0)}, stand-ins ${row.standinCpuPct.toFixed(0)}, replays ${row.replayCpuPct.toFixed(0)}; real node ${row.realMarkers} execs seen, ${row.realLines} lines; load ${row.load1}${warn.length ? `; CLI stderr: ${warn.join(' | ')}` : ''}`,
  );
  return row;
}

/** Self time per function of a .cpuprofile, top `n`, as "pct% function (file:line)". */
function profileTop(dir: string, n = 15): string[] {
  const f = readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'));
  if (f.length === 0) return [];
  const prof = JSON.parse(readFileSync(join(dir, f.sort().pop()!), 'utf8')) as {
    nodes: Array<{
      id: number;
      callFrame: { functionName: string; url: string; lineNumber: number };
      hitCount?: number;
    }>;
  };
  const self = new Map<string, number>();
  let total = 0;
  for (const nd of prof.nodes) {
    const h = nd.hitCount ?? 0;
    total += h;
    const cf = nd.callFrame;
    const file = cf.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');
    const key = `${cf.functionName || '(anonymous)'} (${file}:${cf.lineNumber + 1})`;
    self.set(key, (self.get(key) ?? 0) + h);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((v / total) * 100).toFixed(1)}% ${k}`);
}

const fmt = (v: number, d = 0): string => (Number.isFinite(v) ? v.toFixed(d) : '-');

function table(rows: Row[]): string {
  const head =
    '| phase | nodes | events/s/node | held | first event from all (s) | node rate min/median (% of target) | lost (nodes) | missing | CLI CPU (% core) | CLI us/event | CLI RSS (MiB) | API server CPU (% core) | stand-ins / replays CPU (% core) | machine CPU (% core, of 200) | latency p50 / p99 (ms) | steady p50 / p99 (ms) | real node execs seen | load avg |';
  const sep =
    '|' +
    head
      .split('|')
      .slice(1, -1)
      .map(() => '---')
      .join('|') +
    '|';
  return [
    head,
    sep,
    ...rows.map(
      (r) =>
        `| ${r.phase} | ${r.nodes} | ${r.rate} | ${r.ok ? 'yes' : 'no'} | ${fmt(r.allFirstS, 1)} | ${fmt(r.minRatePct, 1)} / ${fmt(r.medRatePct, 1)} | ${r.lost} (${r.nodesLost}) | ${r.missing} | ${fmt(r.cliCpuPct)} | ${fmt(r.usPerEvent, 1)} | ${fmt(r.cliRssMiB)} | ${fmt(r.apiCpuPct)} | ${fmt(r.standinCpuPct)} / ${fmt(r.replayCpuPct)} | ${fmt(r.machineCpuPct)} | ${fmt(r.p50ms, 1)} / ${fmt(r.p99ms, 1)} | ${fmt(r.steadyP50ms, 1)} / ${fmt(r.steadyP99ms, 1)} | ${r.realMarkers} | ${r.load1} |`,
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10,50,200' },
      rate: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '10' },
      idle: { type: 'string', default: '1000' },
      gadget: { type: 'string', default: 'trace_open' },
      'no-max-rate': { type: 'boolean', default: false },
      'no-real-node': { type: 'boolean', default: false },
      'max-rate-nodes': { type: 'string', default: '200' },
      profile: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const gadget = values.gadget as 'trace_exec' | 'trace_open';
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const cluster = openCluster(values['no-real-node']);
  clusterRef = cluster;
  const rows: Row[] = [];
  let profile: string[] = [];
  try {
    for (const n of values.nodes.split(',').map(Number).filter(Boolean)) {
      const prof = values.profile && n === Math.max(...values.nodes.split(',').map(Number));
      rows.push(
        await phase(cluster, `N=${n}`, {
          nodes: n,
          rate,
          count: rate * seconds,
          gadget,
          profileDir: prof ? values.profile : undefined,
        }),
      );
      if (prof) profile = profileTop(values.profile!);
    }
    const idle = Number(values.idle);
    let idleRow: Row | undefined;
    if (idle > 0) {
      idleRow = await phase(cluster, `idle N=${idle}`, {
        nodes: idle,
        rate: 1000,
        count: 1,
        hold: true,
        gadget,
        nodesPerProcess: 100,
      });
      rows.push(idleRow);
    }
    let maxHeld: number | undefined;
    if (!values['no-max-rate']) {
      const mn = Number(values['max-rate-nodes']);
      const base = rows.find((r) => r.nodes === mn && r.rate === rate && r.phase.startsWith('N='));
      let r = (base?.ok ?? false) ? rate * 2 : rate / 2;
      const up = base?.ok ?? false;
      if (base?.ok) maxHeld = rate;
      for (let i = 0; i < 4 && r >= 50; i++) {
        const row = await phase(cluster, `max-rate N=${mn}`, {
          nodes: mn,
          rate: r,
          count: Math.round(r * seconds),
          gadget,
        });
        rows.push(row);
        if (up) {
          if (!row.ok) break;
          maxHeld = r;
          r *= 2;
        } else {
          if (row.ok) {
            maxHeld = r;
            break;
          }
          r /= 2;
        }
      }
    }
    const small = rows.find((r) => r.phase === 'N=10');
    const out = {
      date: new Date().toISOString(),
      loadAverage: loadavg().map((v) => Number(v.toFixed(1))),
      machine: `${cpus().length} vCPU (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${(await import('node:os')).release()}, Node ${process.version}`,
      gadget,
      seconds,
      rows,
      maxRateHeldAtN: maxHeld,
      idle: idleRow && {
        nodes: idleRow.nodes,
        connectAllS: idleRow.allFirstS,
        cliRssMiB: idleRow.rssHoldMiB,
        cliIdleCpuPct: idleRow.cpuHoldPct,
        // marginal CPU to connect one more node: (CPU until all first events) across N=10 and N=idle
        connectCpuMsPerNode: small
          ? ((idleRow.cpuAtAllFirstS - small.cpuAtAllFirstS) / (idleRow.nodes - small.nodes)) * 1000
          : undefined,
      },
      profileTop: profile,
    };
    process.stdout.write(`\n${table(rows)}\n\n`);
    process.stdout.write(
      `highest per-node rate held with zero loss at N=${values['max-rate-nodes']}: ${maxHeld ?? 'none tried held'} events/s\n`,
    );
    if (out.idle)
      process.stdout.write(
        `idle N=${out.idle.nodes}: all connected in ${fmt(out.idle.connectAllS, 1)} s; CLI RSS ${fmt(out.idle.cliRssMiB)} MiB, idle CPU ${fmt(out.idle.cliIdleCpuPct, 1)}% of a core; connect cost ${fmt(out.idle.connectCpuMsPerNode ?? NaN, 2)} CPU ms per node\n`,
      );
    if (profile.length)
      process.stdout.write(`CLI profile (self time, top):\n  ${profile.join('\n  ')}\n`);
    process.stdout.write(
      `${out.machine}; ${out.date}; gadget ${gadget}; load average at the end ${out.loadAverage.join(' ')}\n`,
    );
    if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
  } finally {
    cluster.close();
  }
}

function openCluster(noRealNode: boolean): BenchCluster {
  const why = noRealNode ? '--no-real-node' : RealNode.skipReason();
  if (!why) {
    const real = RealNode.start(log);
    return {
      kubeconfig: real.kubeconfig,
      caFile: real.caFile,
      dir: real.cluster.dir,
      real,
      close: () => real.close(),
    };
  }
  log(`no real node (${why}): the control plane alone`);
  const c = ensureCluster(log);
  return { ...c, dir: process.env.KGADGET_CLUSTER_DIR || '/tmp/kgadget-cluster' };
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:scale: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
