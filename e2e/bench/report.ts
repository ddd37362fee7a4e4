// The benchmark's figures: their shape (results.json) and the tables (stdout, results.md).

import type { PipelineFigures } from './pipeline.js';
import type { Machine } from './setup.js';

export interface RateStep {
  /** opens/s asked of the workload, all workers together; 0 = as fast as they can */
  offered: number;
  workers: number;
  seconds: number;
  /** opens the workloads report having done */
  opens: number;
  achieved: number;
  /** the workloads' opens found in the CLI's output file */
  delivered: number;
  deliveredRate: number;
  /** opens - delivered */
  missing: number;
  /** the CLI's warnings: lost in the kernel (ring full), dropped in user space, stream gaps */
  kernelLost: number;
  userDropped: number;
  messagesDropped: number;
  recordsDropped: number;
  zeroLost: boolean;
  /** the workload opened less than 90% of the offered rate: the machine could not do more */
  loadLimited: boolean;
  /** CPU used by the CLI process while the load ran, in cores */
  cliCpu: number;
  cliPeakRssMiB: number;
  samplePeakRssMiB?: number;
  /** from the end of the load until everything was in the file */
  drainMs: number;
  bytesPerEvent?: number;
}

export interface LoopConfig {
  key: string;
  label: string;
  iters: number;
  skipped?: string;
  /** the best (fastest) round */
  nsPerIter?: number;
  /** the loop's CPU time / wall time in that round (< 1: something else ran on its CPU) */
  cpuShare?: number;
  nsPerIterAll?: number[];
  cpuNsPerIterAll?: number[];
  ratio?: number;
  ratioToFloor?: number;
  ratioToFloorAll?: number;
  /** loop opens not in the tracer's output, per round */
  missing?: number[];
  /** the tracer's own count of events lost in the kernel, per round */
  kernelLost?: number[];
  /** CPU the tracer process used while the loop ran (best round), in cores */
  tracerCpu?: number;
  roundsWithForeignPrograms?: number;
  bestRoundHadForeignPrograms?: boolean;
}

export interface Results {
  machine: Machine;
  /** BPF programs already loaded by others when the benchmark started (they add noise) */
  foreignPrograms: string[];
  iterations: number;
  rounds: number;
  stepSeconds: number;
  a: {
    steps: RateStep[];
    /** delivered events/s of the highest step with zero lost */
    sustained: number;
    sustainedStep?: RateStep;
    /** the sustained step could not reach its offered rate: the figure is a lower bound */
    loadLimited: boolean;
    firstLossy?: RateStep;
    unpaced: RateStep;
  };
  /** diagnostic: the CLI's -o json path alone on one core */
  pipeline: PipelineFigures;
  b: LoopConfig[];
  c: { ratio: number; ratioToFloor: number; ratioToFloorAll: number };
  d: { medianMs: number; allMs: number[]; versionMs: number };
  e: {
    idleMiB: number;
    loadPeakMiB: number;
    afterMiB: number;
    hwmMiB: number;
    startMs: number;
    load: RateStep;
  };
  leftoverPrograms: string[];
}

const k = (n: number): string => (n >= 1000 ? `${Math.round(n / 1000)}k` : String(Math.round(n)));
const x = (r: number | undefined): string =>
  r === undefined || !Number.isFinite(r) ? 'n/a' : `${r.toFixed(2)}x`;
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED');

function lossText(s: RateStep): string {
  const parts = [`${int(s.missing)} of ${int(s.opens)} missing from the file`];
  parts.push(`CLI reported ${int(s.kernelLost)} lost in the kernel`);
  if (s.userDropped) parts.push(`${int(s.userDropped)} dropped in user space`);
  if (s.messagesDropped) {
    parts.push(
      `the daemon dropped ${int(s.messagesDropped)} batches (${int(s.recordsDropped)} records) for the slow client`,
    );
  }
  return parts.join(', ');
}

/** What `bench.js --only a` measures: (a) and the pipeline diagnostic. */
export type PartA = Pick<Results, 'a' | 'pipeline'>;

/** rows of (a): figure, measured, target, verdict */
function partARows(r: PartA): string[][] {
  const a = r.a;
  const rows: string[][] = [];
  const sus = a.sustainedStep;
  rows.push([
    '(a) sustained `trace open --local -o json > file`, zero lost',
    sus
      ? `${a.loadLimited ? '≥ ' : ''}${int(a.sustained)} events/s (offered ${k(sus.offered)}/s, ${sus.workers} workload proc${sus.workers > 1 ? 's' : ''}${a.loadLimited ? '; the workload could not open faster on this machine' : ''})`
      : 'none: the lowest rate already lost events',
    '≥ 500,000/s',
    verdict(a.sustained >= 500_000),
  ]);
  if (a.firstLossy) {
    rows.push([
      `(a) first rate above it: offered ${k(a.firstLossy.offered)}/s, opened ${k(a.firstLossy.achieved)}/s`,
      lossText(a.firstLossy),
      '',
      '',
    ]);
  }
  rows.push([
    `(a) unpaced, ${a.unpaced.workers} workload procs`,
    `${int(a.unpaced.deliveredRate)} events/s delivered of ${int(a.unpaced.achieved)}/s opened; ${lossText(a.unpaced)}`,
    '',
    '',
  ]);
  const p = r.pipeline;
  rows.push([
    '(a) diagnostic: the CLI -o json path alone, one core, replayed records',
    `${int(p.fileRate)} events/s to a file (${int(p.discardRate)}/s with the text discarded: ${(1e6 / p.discardRate).toFixed(2)} µs/event; ${p.bytesPerEvent.toFixed(0)} B/event)` +
      (p.objectDiscardRate
        ? `; the object path it replaced: ${int(p.objectDiscardRate)}/s discarded (${(1e6 / p.objectDiscardRate).toFixed(2)} µs/event)`
        : ''),
    '',
    '',
  ]);
  return rows;
}

/** rows: figure, measured, target, verdict */
function summaryRows(r: Results): string[][] {
  const get = (key: string): LoopConfig | undefined => r.b.find((c) => c.key === key);
  const untraced = get('untraced');
  const traced = get('trace_open');
  const bt = get('bpftrace');
  const rows: string[][] = partARows(r);
  rows.push([
    '(b) open+close loop, untraced',
    untraced?.nsPerIter ? `${untraced.nsPerIter.toFixed(0)} ns/iter` : 'n/a',
    '',
    '',
  ]);
  for (const c of r.b) {
    if (c.key === 'untraced' || c.key === 'filtered') continue;
    const target = c.key === 'trace_open' ? '≤ 1.8x' : c.key === 'bpftrace' ? '~19x (issue)' : '';
    const ok = c.key === 'trace_open' && c.ratio !== undefined ? verdict(c.ratio <= 1.8) : '';
    const extra: string[] = [];
    if (c.missing) extra.push(`missing from output per round: ${c.missing.map(int).join(', ')}`);
    if (c.tracerCpu !== undefined) extra.push(`tracer CPU ${(c.tracerCpu * 100).toFixed(0)}%`);
    rows.push([
      `(b) ${c.label}`,
      c.skipped
        ? `skipped: ${c.skipped}`
        : `${x(c.ratio)} (${c.nsPerIter!.toFixed(0)} ns/iter)${extra.length ? '; ' + extra.join('; ') : ''}`,
      target,
      ok,
    ]);
  }
  if (traced?.ratio && bt?.ratio) {
    rows.push(['(b) bpftrace / trace open', x(bt.ratio / traced.ratio), '', '']);
  }
  const f = get('filtered');
  rows.push([
    `(c) ${f?.label ?? 'filtered to another container'}`,
    f?.skipped
      ? `skipped: ${f.skipped}`
      : `${x(r.c.ratio)} untraced = ${x(r.c.ratioToFloorAll)} the 4-hook floor, ${x(r.c.ratioToFloor)} the sys_exit floor`,
    '≤ 1.1x floor',
    Number.isFinite(r.c.ratioToFloorAll)
      ? `${verdict(r.c.ratioToFloorAll <= 1.1)} (4-hook), ${verdict(r.c.ratioToFloor <= 1.1)} (sys_exit)`
      : '',
  ]);
  rows.push([
    '(d) `trace exec --local -o json`: start to first event',
    `${r.d.medianMs.toFixed(0)} ms median of ${r.d.allMs.length} (${r.d.allMs.map((t) => t.toFixed(0)).join(', ')}); \`version\` takes ${r.d.versionMs.toFixed(0)} ms`,
    '< 500 ms',
    verdict(r.d.medianMs < 500),
  ]);
  rows.push([
    '(e) daemon RSS, idle',
    `${r.e.idleMiB.toFixed(1)} MiB (${(r.e.idleMiB * 1.048576).toFixed(1)} MB)`,
    '< 80 MB',
    verdict(r.e.idleMiB * 1.048576 < 80),
  ]);
  rows.push([
    `(e) daemon RSS, streaming ${k(r.e.load.offered)}/s to a --remote client`,
    `${r.e.loadPeakMiB.toFixed(1)} MiB peak (${r.e.afterMiB.toFixed(1)} MiB 2 s after); client: ${int(r.e.load.deliveredRate)} events/s, ${lossText(r.e.load)}`,
    '',
    '',
  ]);
  return rows;
}

function stepRows(r: PartA): string[][] {
  const all = [...r.a.steps, r.a.unpaced];
  return all.map((s) => [
    s.offered ? int(s.offered) : 'unpaced',
    String(s.workers),
    int(s.achieved),
    int(s.deliveredRate),
    int(s.missing),
    int(s.kernelLost),
    int(s.userDropped),
    (s.zeroLost ? 'yes' : 'no') + (s.loadLimited ? ' (load-limited)' : ''),
    `${(s.cliCpu * 100).toFixed(0)}%`,
    s.deliveredRate ? ((s.cliCpu / s.deliveredRate) * 1e6).toFixed(2) : '',
    s.cliPeakRssMiB.toFixed(0),
    String(s.drainMs),
  ]);
}
const STEP_HEADER = [
  'offered/s',
  'procs',
  'opened/s',
  'in file/s',
  'missing',
  'kernel lost',
  'dropped',
  'zero lost',
  'CLI CPU',
  'CLI CPU µs/event',
  'CLI RSS MiB',
  'drain ms',
];

function loopRows(r: Results): string[][] {
  const u = r.b.find((c) => c.key === 'untraced')?.cpuNsPerIterAll;
  const untracedCpu = u?.length ? Math.min(...u) : undefined;
  return r.b.map((c) => [
    c.label,
    String(c.iters),
    c.skipped ? `skipped: ${c.skipped}` : (c.nsPerIterAll ?? []).join(' / '),
    c.cpuShare === undefined ? '' : `${(c.cpuShare * 100).toFixed(0)}%`,
    x(c.ratio),
    c.cpuNsPerIterAll && untracedCpu ? x(Math.min(...c.cpuNsPerIterAll) / untracedCpu) : '',
    x(c.ratioToFloor),
    x(c.ratioToFloorAll),
    c.missing ? c.missing.map(int).join(' / ') : '',
    c.roundsWithForeignPrograms === undefined
      ? ''
      : `${c.roundsWithForeignPrograms}${c.bestRoundHadForeignPrograms ? ' (best too)' : ''}`,
  ]);
}
const LOOP_HEADER = [
  'configuration',
  'iterations',
  'ns/iter per round',
  'loop CPU share (best)',
  'vs untraced',
  'CPU time vs untraced',
  'vs sys_exit floor',
  'vs 4-hook floor',
  'missing from output',
  "rounds with others' BPF programs",
];

function md(header: string[], rows: string[][]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(esc).join(' | ')} |`),
  ].join('\n');
}

function machineLine(r: Results): string {
  const m = r.machine;
  return (
    `${m.date}: ${m.cpus} CPUs (${m.cpuModel}), ${m.memMiB} MiB, kernel ${m.kernel}, node ${m.node}, ` +
    `load average at start ${m.loadavg}; ${r.rounds} rounds of ${r.iterations} iterations (best round), ` +
    `rate steps of ${r.stepSeconds} s`
  );
}

function notes(r: Results): string[] {
  const out: string[] = [];
  const u = r.b.find((c) => c.key === 'untraced')?.nsPerIterAll ?? [];
  const spread = u.length ? Math.max(...u) / Math.min(...u) - 1 : 0;
  const faster = r.b.filter((c) => c.key !== 'untraced' && c.ratio !== undefined && c.ratio < 0.97);
  if (spread > 0.15 || faster.length) {
    out.push(
      `NOISY MACHINE: the untraced loop varied by ${(spread * 100).toFixed(0)}% between rounds` +
        (faster.length ? `, and ${faster.map((c) => c.key).join(', ')} beat untraced` : '') +
        ': other load dominated; rerun when the machine is quieter.',
    );
  } else {
    out.push(`The untraced loop varied by ${(spread * 100).toFixed(0)}% between rounds.`);
  }
  const foreignRounds = r.b.reduce((n, c) => n + (c.roundsWithForeignPrograms ?? 0), 0);
  if (foreignRounds) {
    out.push(
      `${foreignRounds} loop measurements ran while other users' BPF programs were loaded; ` +
        'they only add time, and each figure is the fastest round.',
    );
  }
  if (r.foreignPrograms.length) {
    out.push(
      `${r.foreignPrograms.length} BPF programs of other users were loaded during the run ` +
        `(${[...new Set(r.foreignPrograms)].join(', ')}): they add to every figure.`,
    );
  }
  out.push(
    r.leftoverPrograms.length
      ? `BPF programs loaded after the run that were not there before: ${r.leftoverPrograms.join(', ')} .`
      : 'Nothing left loaded: bpftool prog show lists the same programs before and after.',
  );
  return out;
}

/** Markdown of `bench.js --only a`: the (a) rows and the rate steps. */
export function renderPartA(r: PartA & { heading: string }): string {
  return [
    r.heading,
    '',
    md(['figure', 'measured', 'target', ''], partARows(r)),
    '',
    '(a) rate steps (`trace open --local -o json > file`):',
    '',
    md(STEP_HEADER, stepRows(r)),
    '',
  ].join('\n');
}

export function renderMarkdown(r: Results): string {
  return [
    `Measured by \`npm run bench\` on ${machineLine(r)}.`,
    '',
    md(['figure', 'measured', 'target', ''], summaryRows(r)),
    '',
    '(a) rate steps (`trace open --local -o json > file`):',
    '',
    md(STEP_HEADER, stepRows(r)),
    '',
    '(b), (c) open+close loop pinned to one CPU:',
    '',
    md(LOOP_HEADER, loopRows(r)),
    '',
    ...notes(r).map((n) => `- ${n}`),
    '',
  ].join('\n');
}

function textTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderText(r: Results): string {
  return [
    '',
    machineLine(r),
    '',
    textTable(['figure', 'measured', 'target', ''], summaryRows(r)),
    '',
    textTable(STEP_HEADER, stepRows(r)),
    '',
    textTable(LOOP_HEADER, loopRows(r)),
    '',
    ...notes(r),
    '',
  ].join('\n');
}
