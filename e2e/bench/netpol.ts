// Benchmark of advise network-policy (node dist/e2e/bench/netpol.js [--seconds S] [--rounds N]):
//
// 1. Capture cost: a connection-heavy loop on loopback (TCP connect + RST close, and UDP sendto),
//    untraced versus while monitor runs (kernel hooks + flow map + user space), alternating
//    rounds, medians reported. Needs root.
// 2. Report cost: `report` (and verify, graph) on 100k synthetic distinct flows.
//
// The capture is the product's: runMonitor() on the daemon's LocalRuntime in this process, as
// `monitor --local` runs it (a fresh runtime per monitored round, closed after it, so the
// untraced rounds run with nothing of ours loaded).

import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { LocalRuntime } from '../../daemon/src/runtime/local.js';
import { packageRoot } from '../../gadgets/framework/paths.js';
import { syntheticFlows } from '../../plugin/src/services/advise_network_policy/fixtures.js';
import { formatFlows, parseFlows } from '../../plugin/src/services/advise_network_policy/flow.js';
import { renderGraph } from '../../plugin/src/services/advise_network_policy/graph.js';
import {
  ContainerResolver,
  ResolverChain,
} from '../../plugin/src/services/advise_network_policy/identity.js';
import { runMonitor } from '../../plugin/src/services/advise_network_policy/monitor.js';
import { buildReport } from '../../plugin/src/services/advise_network_policy/report.js';
import { verifyFlows } from '../../plugin/src/services/advise_network_policy/verify.js';
import { emptyFilter } from '../../gadgets/framework/filter.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 3);
const ROUNDS = arg('rounds', 3);
const FLOWS = arg('flows', 100_000);

function connload(): string {
  const root = packageRoot();
  const src = join(root, 'gadgets', 'advise_network_policy', 'testdata', 'netpol-connload.c');
  const out = join(root, 'build', 'netpol', 'netpol-connload');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('mkdir', ['-p', join(root, 'build', 'netpol')]);
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-pthread', '-o', out, src]);
  }
  return out;
}

interface Load {
  perSecond: number;
  cpuNsPerOp: number;
}

function load(mode: 'tcp' | 'udp'): Load {
  const out = execFileSync(connload(), [mode, String(SECONDS)], { encoding: 'utf8' });
  const r = JSON.parse(out) as { per_second: number; cpu_ns_per_op: number };
  return { perSecond: r.per_second, cpuNsPerOp: r.cpu_ns_per_op };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function monitored<T>(
  fn: () => T,
): Promise<{ value: T; events: number; flows: number; rss: number }> {
  const ac = new AbortController();
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  const runtime = new LocalRuntime();
  const run = runMonitor(runtime, {
    request: {
      gadget: 'advise_network_policy',
      params: {},
      filter: emptyFilter(),
      timeoutSeconds: 0,
    },
    params: { 'report-interval': '1000', dns: 'true' },
    resolver: new ResolverChain([new ContainerResolver()]),
    reporter: { warn: (m) => console.error(`warning: ${m}`), log: () => undefined },
    signal: ac.signal,
    keepLoopback: true,
    onStarted: () => started(),
  }).finally(() => runtime.close());
  // a failed start must not leave the benchmark waiting for `ready`
  await Promise.race([ready, run]);
  await new Promise((r) => setTimeout(r, 200));
  const value = fn();
  const rss = process.memoryUsage().rss;
  ac.abort();
  const r = await run;
  return { value, events: r.events, flows: r.flows.length, rss };
}

async function capture(): Promise<void> {
  if (process.getuid?.() !== 0 || ROUNDS < 1) {
    console.log(ROUNDS < 1 ? 'capture: skipped (--rounds 0)' : 'capture: skipped (needs root)');
    return;
  }
  console.log(
    `load average: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} on ${cpus().length} CPUs`,
  );
  for (const mode of ['tcp', 'udp'] as const) {
    const base: Load[] = [];
    const traced: Load[] = [];
    let events = 0;
    let flows = 0;
    for (let i = 0; i < ROUNDS; i++) {
      base.push(load(mode));
      const m = await monitored(() => load(mode));
      traced.push(m.value);
      events = m.events;
      flows = m.flows;
    }
    const b = median(base.map((x) => x.perSecond));
    const t = median(traced.map((x) => x.perSecond));
    const bc = median(base.map((x) => x.cpuNsPerOp));
    const tc = median(traced.map((x) => x.cpuNsPerOp));
    const unit = mode === 'tcp' ? 'connections/s' : 'datagrams/s';
    console.log(
      `${mode}: untraced ${b.toFixed(0)} ${unit}, monitored ${t.toFixed(0)} ${unit} (${((t / b - 1) * 100).toFixed(1)}%); ` +
        `CPU per op ${bc.toFixed(0)} -> ${tc.toFixed(0)} ns (${(tc - bc).toFixed(0)} ns); medians of ${ROUNDS} alternating ${SECONDS}s rounds; ` +
        `last round: ${events} kernel reports to user space, ${flows} flow records`,
    );
  }
}

function timed<T>(fn: () => T): [T, number] {
  const s = process.hrtime.bigint();
  const v = fn();
  return [v, Number(process.hrtime.bigint() - s) / 1e6];
}

function reportBench(): void {
  const flows = [...syntheticFlows(FLOWS)];
  const [text, fmtMs] = timed(() => formatFlows(flows));
  const [parsed, parseMs] = timed(() => parseFlows(text));
  const [report, reportMs] = timed(() => buildReport(parsed));
  const rules = report.policies.reduce(
    (n, p) => n + (p.spec.ingress?.length ?? 0) + (p.spec.egress?.length ?? 0),
    0,
  );
  const [verified, verifyMs] = timed(() =>
    verifyFlows({ policies: report.policies, namespaces: [] }, parsed),
  );
  const [, graphMs] = timed(() => renderGraph(parsed, 'dot'));
  console.log(
    `report: ${parsed.length} flows (${(text.length / 1e6).toFixed(1)} MB NDJSON) -> ${report.policies.length} policies, ${rules} rules, ` +
      `${(report.yaml.length / 1e6).toFixed(1)} MB YAML in ${reportMs.toFixed(0)} ms ` +
      `(parse ${parseMs.toFixed(0)} ms, write NDJSON ${fmtMs.toFixed(0)} ms); ` +
      `verify ${verifyMs.toFixed(0)} ms (${verified.denied} denied); graph (dot) ${graphMs.toFixed(0)} ms`,
  );
}

await capture();
reportBench();
