// `npm run fuzz [NAME...]`: every fuzz target for FUZZ_SECONDS each (default 10: about four
// minutes in all), then a table per target of inputs tried, crashes, hangs, bad messages and
// rejections by code. Targets against the daemon run as root only. Exits 1 when any target
// crashed, hung or gave a bad message.
// FUZZ_SEED fixes the seed; FUZZ_STACKS=1 adds stacks to crash reports.

import { cpus, release, totalmem } from 'node:os';
import { daemonTargets, FuzzDaemon } from './daemon.js';
import { recordTargets } from './records.js';
import {
  budgetMs,
  formatCodes,
  formatReport,
  runTarget,
  type Report,
  type Target,
} from './runner.js';
import { textTargets } from './text.js';

const wanted = process.argv.slice(2);
const pick = (name: string): boolean => wanted.length === 0 || wanted.some((w) => name.includes(w));
const budget = budgetMs(10_000);
const reports: Report[] = [];

async function runAll(targets: Array<Target<unknown>>): Promise<void> {
  for (const t of targets) {
    if (!pick(t.name)) continue;
    process.stderr.write(`fuzz ${t.name} (${budget / 1000} s): ${t.what}\n`);
    const r = await runTarget(t, budget);
    reports.push(r);
    process.stderr.write(`  ${formatReport(r)}\n`);
    if (r.failure) process.stderr.write(`  FAILED: ${r.failure}\n`);
    for (const m of r.sample.slice(0, 3)) process.stderr.write(`  e.g. ${JSON.stringify(m)}\n`);
  }
}

const started = new Date();
await runAll([...recordTargets, ...textTargets]);
let info = '';
const daemonNames = ['grpc-requests', 'grpc-raw-h2', 'socket-garbage', 'grpc-bursts'];
if (daemonNames.some(pick)) {
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    const d = await FuzzDaemon.start();
    try {
      await runAll(daemonTargets(d));
    } finally {
      info = `GetInfo between batches: ${d.infoChecks} answers, slowest ${d.slowestInfoMs.toFixed(1)} ms`;
      await d.close();
    }
  } else {
    process.stderr.write('skipping the daemon targets: they need root\n');
  }
}

const cpu = cpus()[0]?.model ?? '?';
console.log(
  `Measured by \`npm run fuzz\` on ${started.toISOString()}: ${cpus().length} CPUs (${cpu}), ` +
    `${Math.round(totalmem() / 2 ** 20)} MiB, kernel ${release()}, node ${process.version}; ` +
    `${budget / 1000} s per target.\n`,
);
console.log(
  '| target | inputs | accepted | rejected | crashes | hangs | bad messages | slowest input | rejections by code (distinct messages) |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of reports) {
  console.log(
    `| ${r.name} | ${r.inputs} | ${r.accepted} | ${r.rejected} | ${r.crashes} | ${r.hangs} | ` +
      `${r.badMessages} | ${r.slowestMs.toFixed(1)} ms | ${formatCodes(r.byCode)} (${r.messages}) |`,
  );
}
if (info) console.log(`\n${info}`);
const failed = reports.filter((r) => r.failure);
if (failed.length) {
  for (const r of failed) console.error(`FAILED ${r.name}: ${r.failure}`);
  process.exit(1);
}
