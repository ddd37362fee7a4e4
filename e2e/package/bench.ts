// npm run bench:package: the krew archive's weight and its cold start to first event. Unpacks
// build/package/kubectl-gadget-linux-amd64.tar.gz (npm run package) into a fresh folder, as krew
// does, then times `kubectl-gadget trace exec --local -o json` from spawn to its first event line
// (an exec loop runs meanwhile): the first run after unpacking, then the median of 5, and the
// checkout's bin/run.js the same way for comparison. Root; run under flock -s /tmp/kg-bench.lock.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI, ROOT } from '../helpers/cli.js';

const ARCHIVE = join(ROOT, 'build', 'package', 'kubectl-gadget-linux-amd64.tar.gz');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ms from spawn to the first complete stdout line of `cmd trace exec --local -o json`. */
async function firstEvent(cmd: string, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c = spawn(cmd, [...args, 'trace', 'exec', '--local', '-o', 'json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ms = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no event in 30 s: ${stderr}`)), 30_000);
    c.stdout.on('data', (d: Buffer) => {
      if (d.includes(10)) {
        clearTimeout(timer);
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    });
    c.on('exit', (code) => reject(new Error(`exited ${code} before an event: ${stderr}`)));
  });
  c.kill('SIGINT');
  await new Promise((r) => c.once('close', r));
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const size = statSync(ARCHIVE).size;
  const loadAtStart = loadavg();
  const started = new Date().toISOString();
  const dir = mkdtempSync(join(tmpdir(), 'kgbench-package-'));
  const load = spawn('sh', ['-c', 'while :; do /bin/true; sleep 0.01; done'], { stdio: 'ignore' });
  try {
    const t0 = Date.now();
    const x = spawnSync('tar', ['-xzf', ARCHIVE, '-C', dir]);
    if (x.status !== 0) throw new Error(`tar: ${x.stderr}`);
    const unpackMs = Date.now() - t0;
    const unpacked = spawnSync('du', ['-sm', dir], { encoding: 'utf8' }).stdout.split('\t')[0];
    const launcher = join(dir, 'kubectl-gadget');
    const cold = await firstEvent(launcher, []);
    const warm: number[] = [];
    const checkout: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(300);
      warm.push(await firstEvent(launcher, []));
      await sleep(300);
      checkout.push(await firstEvent(process.execPath, [CLI]));
    }
    const r = (xs: number[]) =>
      `${Math.round(median(xs))} ms median of 5 (${xs.map(Math.round).join(', ')})`;
    console.log(
      `Measured by npm run bench:package on ${started}: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ` +
        `kernel ${release()}, load average at start ${loadAtStart
          .map((l) => l.toFixed(2))
          .join(' ')}\n` +
        `- archive: ${(size / 1048576).toFixed(1)} MiB (${size} bytes), ${unpacked} MiB unpacked, unpacked in ${unpackMs} ms\n` +
        `- packaged trace exec --local -o json, start to first event: first run after unpacking ${Math.round(cold)} ms; then ${r(warm)}\n` +
        `- the checkout's bin/run.js, same: ${r(checkout)}`,
    );
  } finally {
    load.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
