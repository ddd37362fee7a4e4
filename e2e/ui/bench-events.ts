// The Events view under load, measured (not a test: npm run bench:ui, under the bench lock):
// `ui --local` runs trace open -F comm:kguiload while a workload of that name opens missing
// files named after the time they were opened, RATE per second; chromium shows the run for
// SECONDS while the page records its frame times (requestAnimationFrame deltas) and the lag of
// the newest row in view (now minus the time in its path). Prints one JSON line.
//
//   flock -s /tmp/kg-bench.lock node dist/e2e/ui/bench-events.js [RATE] [SECONDS]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBrowser, startUi } from './browser.js';

const RATE = Number(process.argv[2] ?? 10_000);
const SECONDS = Number(process.argv[3] ?? 10);

// opens <dir>/<epoch ms>-<i> (missing) in bursts every 10 ms, as the comm kguiload
const WORKLOAD = `
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, b"kguiload", 0, 0, 0)
d, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
per = max(1, rate // 100)
n = 0
t0 = time.time()
while time.time() - t0 < secs:
    ms = int(time.time() * 1000)
    for i in range(per):
        try:
            os.close(os.open(f"{d}/{ms}-{i}", os.O_RDONLY))
        except OSError:
            pass
    n += per
    nxt = t0 + n / rate
    while time.time() < nxt:
        time.sleep(0.001)
print(n)
`;

interface PageStats {
  frames: number[];
  lags: number[];
  delays: number[];
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length
    ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10
    : NaN;
}

const step = (m: string): boolean => process.stderr.write(`bench-events: ${m}\n`);
const ui = await startUi(['--local']);
step('ui up');
const b = await openBrowser();
const dir = mkdtempSync(join(tmpdir(), 'kg-ui-load-'));
try {
  const { page } = b;
  await page.goto(ui.url);
  await page.selectOption('#gadget', 'trace_open');
  await page.fill('#filters', 'comm:kguiload');
  await page.click('#start');
  await page.waitForSelector('#stop');
  step('run started');
  await new Promise((r) => setTimeout(r, 2000)); // attach
  const work = spawn('python3', ['-c', WORKLOAD, dir, String(RATE), String(SECONDS + 2)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const workDone = new Promise((r) => work.on('close', r));
  let opened = '';
  work.stdout.on('data', (d: Buffer) => (opened += d.toString()));
  await new Promise((r) => setTimeout(r, 1000)); // warm up
  step('workload running; measuring');
  const stats = await page.evaluate(async (ms: number): Promise<PageStats> => {
    type Cell = { textContent: string | null };
    const doc = (
      globalThis as unknown as {
        document: { querySelectorAll(s: string): ArrayLike<Cell> };
      }
    ).document;
    const raf = (globalThis as unknown as { requestAnimationFrame(cb: (t: number) => void): void })
      .requestAnimationFrame;
    const headers = Array.from(doc.querySelectorAll('#events-table thead th')).map(
      (t) => t.textContent,
    );
    const col = headers.indexOf('PATH');
    const frames: number[] = [];
    const lags: number[] = [];
    const delays: number[] = [];
    // the main thread's responsiveness: how late a 50 ms timer fires (what a click would wait)
    let due = performance.now() + 50;
    const sampler = setInterval(() => {
      const now = performance.now();
      delays.push(Math.max(0, now - due));
      due = now + 50;
    }, 50);
    let last = performance.now();
    const end = last + ms;
    await new Promise<void>((resolve) => {
      const tick = (t: number): void => {
        frames.push(t - last);
        last = t;
        const first = doc.querySelectorAll('#events-table tbody tr:first-child td')[col];
        const m = /\/(\d{13})-\d+$/.exec(first?.textContent ?? '');
        if (m) lags.push(Date.now() - Number(m[1]));
        if (t < end) raf(tick);
        else {
          clearInterval(sampler);
          resolve();
        }
      };
      raf(tick);
    });
    return { frames, lags, delays };
  }, SECONDS * 1000);
  step(`measured ${stats.frames.length} frames`);
  const counts = Object.fromEntries(
    await Promise.all(
      ['n-received', 'n-view', 'n-dropped-view', 'n-lost', 'n-dropped'].map(async (id) => [
        id.slice(2),
        Number(await page.textContent(`#${id}`, { timeout: 10_000 })),
      ]),
    ),
  );
  step('counts read');
  await page.click('#stop', { timeout: 10_000 });
  await workDone;
  console.log(
    JSON.stringify({
      rate: RATE,
      seconds: SECONDS,
      opened: Number(opened.trim()),
      frames: stats.frames.length,
      fps: Math.round((stats.frames.length / SECONDS) * 10) / 10,
      frameMs: {
        p50: pct(stats.frames, 50),
        p95: pct(stats.frames, 95),
        p99: pct(stats.frames, 99),
        max: pct(stats.frames, 100),
      },
      timerDelayMs: {
        p50: pct(stats.delays, 50),
        p95: pct(stats.delays, 95),
        max: pct(stats.delays, 100),
      },
      lagMs: { p50: pct(stats.lags, 50), p95: pct(stats.lags, 95), max: pct(stats.lags, 100) },
      counts,
    }),
  );
} finally {
  await b.close();
  await ui.cli.stop();
  rmSync(dir, { recursive: true, force: true });
}
