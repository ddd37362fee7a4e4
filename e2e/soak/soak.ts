// npm run soak: everything at once on this node for SOAK_MINUTES (default 30), sampled every
// 10 s, judged by the slopes of what the long-lived processes hold. Not a test file: it stays
// out of `npm test` (docs/benchmarks.md, "Soak", has the method and the figures).
//
// Load, all real:
// - a daemon (`kubectl-gadget daemon --listen unix://...`, its own traceloop pin directory)
//   running traceloop at a small memory cap (--syscalls 64 --max-memory 1: ~39 recordings), so
//   the churn below makes the kernel evict recordings (tl_cfg.evictions, read with bpftool);
// - container churn: podman one-shot containers in a loop (`--rm`, some exit 3), and a few
//   containers that live 1-3 minutes each and are replaced under the same name;
// - long-lived tracers: `trace exec --local`, `trace open --local --prefix ...`, and through the
//   daemon `trace exec --remote` and `trace open --remote -c <a live container>`, all -o json;
//   every interval a marker (an exec of /bin/true, a failed open) must reach each host tracer;
// - a client that connects, starts a run, waits for its header and cancels, every second
//   (churn-client.ts), and a CLI process with `--timeout 1` every 20 s;
// - `traceloop list` every 60 s.
// Recorded every interval: RSS, open fds, threads, CPU and the BPF objects held (fdinfo) of the
// daemon and each long-lived client, the node's BPF object counts (bpftool), traceloop's kernel
// counters. At the end everything is stopped and the harness checks that nothing is left: the
// processes, every BPF object they ever held, the pins, the containers, the socket.
//
// Environment: SOAK_MINUTES (30), SOAK_WARMUP_SECONDS (180, at most a third of the run),
// SOAK_INTERVAL_SECONDS (10), SOAK_OUT (build/soak/soak.json), SOAK_JUDGE (auto: slopes are
// judged when the window after the warm-up is >= 10 minutes; always; never), SOAK_COMMIT (the
// commit to report; default build/build-info.json, else git), SOAK_ONESHOT_PAUSE_MS (1000).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI, ROOT, sleep } from '../helpers/cli.js';
import {
  count,
  emptyIds,
  heldBy,
  KINDS,
  liveObjects,
  waitReleased,
  type BpfIds,
} from '../helpers/bpf.js';
import { ensureRootfs, PODMAN_BASE_ARGS, podman, ROOTFS_DIR } from '../fixtures/podman.js';
import { fit, minPerWindow, verdict, type Fit, type Point, type Verdict } from './stats.js';
import type { CycleRecord } from './churn-client.js';

// ---- configuration ------------------------------------------------------------------------------

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${v}: expected a positive number`);
  return n;
};
const MINUTES = num('SOAK_MINUTES', 30);
const DURATION_S = Math.round(MINUTES * 60);
const INTERVAL_S = num('SOAK_INTERVAL_SECONDS', 10);
const WARMUP_S = Math.min(num('SOAK_WARMUP_SECONDS', 180), Math.floor(DURATION_S / 3));
const OUT = process.env.SOAK_OUT || join(ROOT, 'build', 'soak', 'soak.json');
const JUDGE = (process.env.SOAK_JUDGE || 'auto') as 'auto' | 'always' | 'never';
const MIN_WINDOW_S = JUDGE === 'always' ? 0 : JUDGE === 'never' ? Infinity : 600;
const ONESHOT_PAUSE_MS = num('SOAK_ONESHOT_PAUSE_MS', 1000);
const LIVE_CONTAINERS = 3;
const CHURN_INTERVAL_MS = 1000;
const CLI_ONESHOT_EVERY_S = 20;
const TRACELOOP_LIST_EVERY_S = 60;
const TRACELOOP_ARGS = ['--syscalls', '64', '--max-memory', '1'];

/** Leak thresholds, per hour of the window after the warm-up (docs/benchmarks.md, Soak). */
const THRESHOLDS: Record<string, number> = {
  rss_mib: 24,
  fds: 12,
  threads: 6,
  bpf_objects: 6,
};

const TAG = `kgsoak-${process.pid}`;
const DIR = realpathSync(mkdtempSync(`/tmp/${TAG}-`));
const SOCK = join(DIR, 'gadget.sock');
const ADDR = `unix://${SOCK}`;
const PIN_DIR = `/sys/fs/bpf/${TAG}`;
const ENV = { KGADGET_TRACELOOP_PIN_DIR: PIN_DIR };
const LIVE_NAMES = Array.from({ length: LIVE_CONTAINERS }, (_, i) => `${TAG}-live-${i}`);

const failures: string[] = [];
const fail = (why: string): void => {
  failures.push(why);
  process.stderr.write(`soak: FAIL: ${why}\n`);
};
const note = (msg: string): void => {
  process.stderr.write(`soak: ${msg}\n`);
};

// ---- long-lived processes -----------------------------------------------------------------------

/** A long-lived process of the soak: output counted, markers searched, never buffered whole. */
class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  lines = 0;
  linesAtSample = 0;
  /** a line of each stdout chunk that is not a JSON object */
  badLines = 0;
  stderrTail = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  /** the process is expected to end (the soak is stopping) */
  stopping = false;
  private tail = '';
  private readonly pending = new Set<string>();
  readonly seen = new Set<string>();
  private readonly waiters = new Set<() => void>();
  onLine?: (line: string) => void;
  cpuTicksAtSample = 0;

  constructor(
    readonly name: string,
    argv: string[],
    opts: { env?: Record<string, string>; json?: boolean } = {},
  ) {
    this.child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
      cwd: ROOT,
    });
    if (this.child.pid === undefined) throw new Error(`cannot spawn ${argv.join(' ')}`);
    this.pid = this.child.pid;
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    let partial = '';
    this.child.stdout!.on('data', (d: string) => {
      let nl = 0;
      for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) nl++;
      this.lines += nl;
      // one line per chunk is parsed: the output stays JSON without paying for every line
      if (opts.json !== false && nl > 0) {
        const first = (partial + d).split('\n', 1)[0]!;
        if (!/^\s*\{.*\}\s*$/.test(first) || !isJsonObject(first)) this.badLines++;
      }
      if (this.onLine) {
        const parts = (partial + d).split('\n');
        partial = parts.pop() ?? '';
        for (const l of parts) this.onLine(l);
      } else {
        const at = d.lastIndexOf('\n');
        partial = at >= 0 ? d.slice(at + 1) : partial + d;
        if (partial.length > 1 << 20) partial = '';
      }
      const text = this.tail + d;
      for (const m of this.pending) {
        if (text.includes(m)) {
          this.pending.delete(m);
          this.seen.add(m);
        }
      }
      this.tail = text.slice(-256);
      for (const w of [...this.waiters]) w();
    });
    this.child.stderr!.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-8192);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        if (!this.stopping) {
          fail(`${this.name} (pid ${this.pid}) exited during the soak: ${describe(this)}`);
        }
        for (const w of [...this.waiters]) w();
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Starts looking for `marker` in the output (found: seen.has(marker)). */
  expect(marker: string): void {
    if (!this.seen.has(marker)) this.pending.add(marker);
  }

  /** Resolves when check() is true (checked on output and exit); rejects after timeoutMs. */
  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(t);
        this.waiters.delete(w);
      };
      const w = (): void => {
        if (check()) {
          done();
          resolve();
        } else if (!this.running) {
          done();
          reject(new Error(`${this.name} exited before ${what}: ${describe(this)}`));
        }
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no ${what} after ${timeoutMs} ms: ${describe(this)}`));
      }, timeoutMs);
      this.waiters.add(w);
      w();
    });
  }

  /** Sends `signal`, waits up to timeoutMs, then SIGKILL; returns whether it ended by itself. */
  async stop(signal: NodeJS.Signals, timeoutMs = 15_000): Promise<boolean> {
    this.stopping = true;
    if (!this.running) return true;
    this.child.kill(signal);
    const ended = await Promise.race([
      this.exited.then(() => true),
      sleep(timeoutMs).then(() => false),
    ]);
    if (!ended) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return ended;
  }
}

function isJsonObject(s: string): boolean {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

function describe(p: Proc): string {
  const x = p.exit;
  const how = x ? `code ${x.code} signal ${x.signal}` : 'running';
  const err = p.stderrTail.trim().split('\n').slice(-3).join(' | ');
  return `${how}${err ? `, stderr: ${err}` : ''}`;
}

const cli = (name: string, args: string[], opts?: { json?: boolean }): Proc =>
  new Proc(name, [process.execPath, CLI, ...args], { env: ENV, ...opts });

/** The CLI run to completion (SIGKILL after timeoutMs). */
async function runCli(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...ENV },
      cwd: ROOT,
    });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

// ---- /proc and bpftool --------------------------------------------------------------------------

interface ProcSample {
  rss_mib: number;
  fds: number;
  threads: number;
  /** % of one CPU since the previous sample */
  cpu_pct: number;
  prog: number;
  map: number;
  link: number;
  bpf_objects: number;
}

const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime
}

function sampleProc(p: Proc, dtS: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    const fds = readdirSync(`/proc/${p.pid}/fd`).length;
    const ticks = cpuTicks(p.pid);
    const cpu = dtS > 0 ? ((ticks - p.cpuTicksAtSample) / CLK_TCK / dtS) * 100 : 0;
    p.cpuTicksAtSample = ticks;
    const held = heldBy(p.pid);
    return {
      rss_mib: Math.round((rss / 1024) * 10) / 10,
      fds,
      threads,
      cpu_pct: Math.round(cpu * 10) / 10,
      prog: held.prog.size,
      map: held.map.size,
      link: held.link.size,
      bpf_objects: held.prog.size + held.map.size + held.link.size,
    };
  } catch {
    return undefined; // gone
  }
}

type Snapshot = ReturnType<typeof liveObjects>;

/** What pid holds through its fds, plus the maps and BTF its programs reference (one snapshot). */
function closureOf(pid: number, snap: Snapshot): BpfIds {
  const ids = heldBy(pid);
  for (const p of snap.progs) {
    if (!ids.prog.has(p.id)) continue;
    for (const m of p.map_ids ?? []) ids.map.add(m);
    if (p.btf_id) ids.btf.add(p.btf_id);
  }
  for (const m of snap.maps) if (ids.map.has(m.id) && m.btf_id) ids.btf.add(m.btf_id);
  return ids;
}

interface TraceloopCounters {
  claims: number;
  evictions: number;
  nospace: number;
}

/** tl_cfg of the daemon's traceloop session (pinned), read with bpftool. */
function traceloopCounters(): TraceloopCounters | undefined {
  const path = join(PIN_DIR, 'tl_cfg');
  if (!existsSync(path)) return undefined;
  try {
    const out = execFileSync(
      'bpftool',
      ['-j', 'map', 'lookup', 'pinned', path, 'key', '0', '0', '0', '0'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const v = (JSON.parse(out) as { value: string[] }).value;
    const b = Buffer.from(v.map((h) => parseInt(h, 16)));
    const u64 = (o: number): number => Number(b.readBigUInt64LE(o));
    return { claims: u64(8), evictions: u64(16), nospace: u64(24) };
  } catch {
    return undefined;
  }
}

// ---- containers ---------------------------------------------------------------------------------

const RUN_ARGS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

/** `podman run --rm` in the foreground until the container ends; its exit code. */
function podmanRun(
  name: string,
  cmd: string[],
): { done: Promise<number | null>; kill: () => void } {
  const p = spawn(
    'podman',
    [
      ...PODMAN_BASE_ARGS,
      'run',
      '--rm',
      '--name',
      name,
      ...RUN_ARGS,
      '--rootfs',
      ROOTFS_DIR,
      ...cmd,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
  const done = new Promise<number | null>((resolve) => {
    p.on('error', () => resolve(null));
    p.on('close', (code) => {
      if (code !== 0 && code !== 3 && !stopping)
        note(`podman run ${name}: exit ${code}: ${err.trim()}`);
      resolve(code);
    });
  });
  return { done, kill: () => p.kill('SIGKILL') };
}

let stopping = false;
const counters = {
  oneshot_started: 0,
  oneshot_ok: 0,
  oneshot_failed: 0,
  live_started: 0,
  cli_oneshot_ok: 0,
  cli_oneshot_failed: 0,
  traceloop_lists: 0,
  traceloop_list_failed: 0,
};

/** One-shot containers back to back (a pause between): exit 0, every fifth exit 3. */
async function oneshotLoop(): Promise<void> {
  for (let n = 1; !stopping; n++) {
    const code = n % 5 === 0 ? 3 : 0;
    counters.oneshot_started++;
    const r = await podmanRun(`${TAG}-1shot-${n}`, [
      '/bin/sh',
      '-c',
      `cat /etc/passwd >/dev/null; ls / >/dev/null; exit ${code}`,
    ]).done;
    if (stopping) break;
    if (r === code) counters.oneshot_ok++;
    else counters.oneshot_failed++;
    await sleep(ONESHOT_PAUSE_MS);
  }
}

/** A container that lives 60-180 s (opens and execs every second), then again, same name. */
async function liveLoop(name: string): Promise<void> {
  while (!stopping) {
    const seconds = 60 + Math.floor(Math.random() * 120);
    counters.live_started++;
    const r = podmanRun(name, [
      '/bin/sh',
      '-c',
      `i=0; while [ $i -lt ${seconds} ]; do cat /etc/hostname >/dev/null; ls / >/dev/null; sleep 1; i=$((i+1)); done`,
    ]);
    liveKills.set(name, r.kill);
    const code = await r.done;
    if (!stopping && code !== 0) await sleep(1000);
  }
}
const liveKills = new Map<string, () => void>();

async function podmanNames(): Promise<string[]> {
  const r = await podman(['ps', '-a', '--format', '{{.Names}}']);
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(TAG));
}

// ---- the run ------------------------------------------------------------------------------------

interface Sample {
  t: number;
  at: string;
  procs: Record<string, ProcSample | undefined>;
  node: { prog: number; map: number; link: number; btf: number } | undefined;
  traceloop: TraceloopCounters | undefined;
  /** stdout lines per second since the previous sample, per tracer */
  lines_per_s: Record<string, number>;
  churn: { cycles: number; failed: number; header_ms_max: number; info_ms_max: number };
  counters: typeof counters;
  load: number[];
}

function commitOf(): string {
  if (process.env.SOAK_COMMIT) return process.env.SOAK_COMMIT;
  try {
    const info = JSON.parse(readFileSync(join(ROOT, 'build', 'build-info.json'), 'utf8')) as {
      id?: string;
    };
    if (info.id) return info.id;
  } catch {
    /* no build info */
  }
  try {
    return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short=12', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('the soak needs root (BPF, podman)');
  for (const [bin, args] of [
    ['podman', ['--version']],
    ['bpftool', ['version']],
  ] as const) {
    try {
      execFileSync(bin, args, { stdio: 'ignore' });
    } catch {
      throw new Error(`the soak needs ${bin}`);
    }
  }
  const churn = join(ROOT, 'dist', 'e2e', 'soak', 'churn-client.js');
  if (!existsSync(churn) || !existsSync(CLI))
    throw new Error('not built: run `npm run build` first');
  ensureRootfs();
  // pin directories of soaks that died without cleaning up
  for (const d of readdirSync('/sys/fs/bpf')) {
    const m = /^kgsoak-(\d+)$/.exec(d);
    if (m && !existsSync(`/proc/${m[1]}`)) rmSync(join('/sys/fs/bpf', d), { recursive: true });
  }
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const meta = {
    started: startedAt.toISOString(),
    commit: commitOf(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? '',
      mem_mib: Math.round(totalmem() / 1048576),
      kernel: release(),
      node: process.version,
      load_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    },
    config: {
      minutes: MINUTES,
      interval_s: INTERVAL_S,
      warmup_s: WARMUP_S,
      judge_min_window_s: MIN_WINDOW_S,
      thresholds_per_hour: THRESHOLDS,
      live_containers: LIVE_CONTAINERS,
      oneshot_pause_ms: ONESHOT_PAUSE_MS,
      churn_interval_ms: CHURN_INTERVAL_MS,
      traceloop: TRACELOOP_ARGS.join(' '),
    },
  };
  note(
    `${MINUTES} min, sample every ${INTERVAL_S} s, warm-up ${WARMUP_S} s; commit ${meta.commit}`,
  );
  note(`out ${OUT}; daemon ${ADDR}; pins ${PIN_DIR}`);

  const procs = new Map<string, Proc>();
  const tracked = emptyIds();
  const samples: Sample[] = [];
  const churnRecs: CycleRecord[] = [];
  let churnIdx = 0;
  const markers: Record<string, { sent: number; seen: number; missed: string[] }> = {};
  let t0 = Date.now();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    note('interrupted: stopping');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const loops: Promise<void>[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    preflight();
    // the daemon, and traceloop at its cap
    const daemon = cli('daemon', ['daemon', '--listen', ADDR], { json: false });
    procs.set('daemon', daemon);
    await waitUntil(() => existsSync(SOCK) || !daemon.running, 60_000, 'the daemon socket');
    if (!daemon.running) throw new Error(`the daemon did not start: ${describe(daemon)}`);
    const tl = await runCli(['traceloop', 'start', '--remote', ADDR, ...TRACELOOP_ARGS]);
    if (tl.code !== 0) throw new Error(`traceloop start: ${tl.stderr.trim()}`);
    note(`traceloop: ${tl.stdout.trim().split('\n').slice(-1)[0] ?? ''}`);

    // containers that live a while (remote trace open follows the first)
    for (const n of LIVE_NAMES) loops.push(liveLoop(n));

    // the long-lived tracers, each ready (its marker or first event) before the clock starts
    const markDir = join(DIR, 'marks');
    mkdirSync(markDir);
    const tracers: Array<{ name: string; args: string[]; mark?: 'exec' | 'open' }> = [
      { name: 'local-exec', args: ['trace', 'exec', '--local', '-o', 'json'], mark: 'exec' },
      {
        name: 'local-open',
        args: ['trace', 'open', '--local', '-o', 'json', '--prefix', '/etc/', '--prefix', markDir],
        mark: 'open',
      },
      {
        name: 'remote-exec',
        args: ['trace', 'exec', '--remote', ADDR, '-o', 'json'],
        mark: 'exec',
      },
      {
        name: 'remote-open',
        args: ['trace', 'open', '--remote', ADDR, '-o', 'json', '-c', LIVE_NAMES[0]!],
      },
    ];
    let markN = 0;
    const trigger = (kind: 'exec' | 'open', m: string): void => {
      if (kind === 'exec') {
        spawn('/bin/true', [m], { stdio: 'ignore' }).on('error', () => {});
      } else {
        try {
          closeSync(openSync(join(markDir, m), 'r'));
        } catch {
          /* ENOENT: the event */
        }
      }
    };
    for (const t of tracers) {
      const p = cli(t.name, t.args);
      procs.set(t.name, p);
      if (t.mark) {
        const kind = t.mark;
        markers[t.name] = { sent: 0, seen: 0, missed: [] };
        const ready = `${TAG}-ready-${++markN}`;
        p.expect(ready);
        const poke = setInterval(() => trigger(kind, ready), 200);
        try {
          await p.waitFor(() => p.seen.has(ready), 60_000, 'ready marker');
        } finally {
          clearInterval(poke);
        }
      } else {
        await p.waitFor(() => p.lines > 0, 60_000, 'first event');
      }
    }

    // the connect/disconnect client
    const churn = new Proc(
      'churn-client',
      [
        process.execPath,
        join(ROOT, 'dist', 'e2e', 'soak', 'churn-client.js'),
        ADDR,
        String(CHURN_INTERVAL_MS),
      ],
      { env: ENV },
    );
    churn.onLine = (l) => {
      if (!l.trim()) return;
      try {
        churnRecs.push(JSON.parse(l) as CycleRecord);
      } catch {
        churn.badLines++;
      }
    };
    procs.set('churn-client', churn);
    loops.push(oneshotLoop());

    // a CLI process every 20 s; traceloop list every 60 s
    let cliN = 0;
    let cliBusy = false;
    timers.push(
      setInterval(() => {
        if (cliBusy || stopping) return;
        cliBusy = true;
        const args =
          ++cliN % 2
            ? ['trace', 'exec', '--remote', ADDR, '-o', 'json', '--timeout', '1']
            : ['trace', 'open', '--remote', ADDR, '-o', 'json', '--timeout', '1', '--failed'];
        void runCli(args, 60_000).then((r) => {
          cliBusy = false;
          if (r.code === 0) counters.cli_oneshot_ok++;
          else {
            counters.cli_oneshot_failed++;
            if (!stopping)
              fail(`kubectl-gadget ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
          }
        });
      }, CLI_ONESHOT_EVERY_S * 1000),
    );
    let listBusy = false;
    const lists: Array<{ t: number; entries: number; states: Record<string, number>; ms: number }> =
      [];
    timers.push(
      setInterval(() => {
        if (listBusy || stopping) return;
        listBusy = true;
        void runCli(['traceloop', 'list', '--remote', ADDR, '-o', 'json'], 60_000).then((r) => {
          listBusy = false;
          counters.traceloop_lists++;
          try {
            if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim()}`);
            // -o json: the entries ({node, ...TraceloopEntry}), status recording|evicted|...
            const rows = JSON.parse(r.stdout) as Array<{ status?: string }>;
            const states: Record<string, number> = {};
            for (const x of rows) {
              const st = x.status || '?';
              states[st] = (states[st] ?? 0) + 1;
            }
            lists.push({
              t: Math.round((Date.now() - t0) / 1000),
              entries: rows.length,
              states,
              ms: r.ms,
            });
          } catch (e) {
            counters.traceloop_list_failed++;
            if (!stopping) fail(`traceloop list: ${(e as Error).message}`);
          }
        });
      }, TRACELOOP_LIST_EVERY_S * 1000),
    );

    // sampling
    t0 = Date.now();
    note(`load running; sampling until ${new Date(t0 + DURATION_S * 1000).toISOString()}`);
    let prevT = 0;
    let prevLines: Record<string, number> = {};
    let lastMarks: Record<string, string> = {};
    const header = tableHeader();
    for (let k = 0; !interrupted; k++) {
      const due = t0 + k * INTERVAL_S * 1000;
      while (Date.now() < due && !interrupted) await sleep(Math.min(200, due - Date.now()));
      if (interrupted) break;
      const t = (Date.now() - t0) / 1000;
      const dt = t - prevT;
      prevT = t;

      // markers of the previous interval: each must have reached its tracer by now
      for (const [name, m] of Object.entries(lastMarks)) {
        const p = procs.get(name)!;
        if (p.seen.has(m)) markers[name]!.seen++;
        else markers[name]!.missed.push(m);
      }
      lastMarks = {};

      let snap: Snapshot | undefined;
      try {
        snap = liveObjects();
      } catch (e) {
        note(`bpftool: ${(e as Error).message}`);
      }
      const ps: Sample['procs'] = {};
      for (const [name, p] of procs) {
        ps[name] = sampleProc(p, k === 0 ? 0 : dt);
        if (snap && p.running) {
          const c = closureOf(p.pid, snap);
          for (const kind of KINDS) for (const v of c[kind]) tracked[kind].add(v);
        }
      }
      const lps: Record<string, number> = {};
      for (const [name, p] of procs) {
        if (name === 'daemon' || name === 'churn-client') continue;
        lps[name] = k === 0 ? 0 : Math.round((p.lines - (prevLines[name] ?? 0)) / dt);
      }
      prevLines = Object.fromEntries([...procs].map(([n, p]) => [n, p.lines]));
      const recs = churnRecs.slice(churnIdx);
      churnIdx = churnRecs.length;
      const s: Sample = {
        t: Math.round(t * 10) / 10,
        at: new Date().toISOString(),
        procs: ps,
        node: snap && {
          prog: snap.progs.length,
          map: snap.maps.length,
          link: snap.links.length,
          btf: snap.btf.length,
        },
        traceloop: traceloopCounters(),
        lines_per_s: lps,
        churn: {
          cycles: recs.length,
          failed: recs.filter((r) => !r.ok).length,
          header_ms_max: Math.max(0, ...recs.map((r) => r.headerMs)),
          info_ms_max: Math.max(0, ...recs.map((r) => r.infoMs)),
        },
        counters: { ...counters },
        load: loadavg().map((x) => Math.round(x * 100) / 100),
      };
      samples.push(s);
      if (k % 20 === 0) process.stdout.write(header);
      process.stdout.write(tableRow(s) + '\n');
      writeOut({ meta, samples, lists, markers, churnFailures: churnRecs.filter((r) => !r.ok) });

      if (t >= DURATION_S) break;
      // this interval's markers
      for (const t2 of tracers) {
        if (!t2.mark) continue;
        const m = `${TAG}-mark-${++markN}`;
        const p = procs.get(t2.name)!;
        p.expect(m);
        markers[t2.name]!.sent++;
        lastMarks[t2.name] = m;
        trigger(t2.mark, m);
      }
    }
    const endedAt = new Date();

    // ---- stop everything, in the order a user would, and check the exits
    stopping = true;
    for (const t of timers) clearInterval(t);
    note('stopping the load');
    await waitUntil(() => !cliBusy && !listBusy, 90_000, 'the last CLI runs');
    if (!(await churn.stop('SIGTERM', 20_000)))
      fail('churn-client did not exit 20 s after SIGTERM');
    else if (churn.exit?.code !== 0) fail(`churn-client: ${describe(churn)}`);
    for (const n of LIVE_NAMES) await podman(['rm', '-f', '-t', '0', n]);
    const loopsDone = await Promise.race([
      Promise.all(loops).then(() => true),
      sleep(120_000).then(() => false),
    ]);
    if (!loopsDone) {
      fail('the container loops did not end 120 s after the stop');
      for (const k of liveKills.values()) k();
    }
    for (const name of ['local-exec', 'local-open', 'remote-exec', 'remote-open']) {
      const p = procs.get(name)!;
      if (!(await p.stop('SIGINT'))) fail(`${name} did not exit 15 s after SIGINT`);
      else if (p.exit?.code !== 0) fail(`${name} after SIGINT: ${describe(p)}`);
      if (p.badLines)
        fail(`${name}: ${p.badLines} stdout chunks began with a line that is not JSON`);
    }
    const del = await runCli(['traceloop', 'delete', '--remote', ADDR]);
    if (del.code !== 0) fail(`traceloop delete: exit ${del.code}: ${del.stderr.trim()}`);
    if (!(await daemon.stop('SIGTERM', 20_000))) fail('the daemon did not exit 20 s after SIGTERM');
    else if (daemon.exit?.code !== 0) fail(`the daemon after SIGTERM: ${describe(daemon)}`);

    // ---- nothing left
    const left = await leftovers(procs, tracked);
    for (const l of left) fail(`left behind: ${l}`);

    // ---- functional checks over the whole run
    for (const [name, m] of Object.entries(markers)) {
      if (m.missed.length)
        fail(`${name}: ${m.missed.length} of ${m.sent} markers not seen within one interval`);
    }
    const judgedFrom = WARMUP_S;
    const openIdle = samples.filter(
      (s) => s.t >= judgedFrom && (s.lines_per_s['remote-open'] ?? 0) === 0,
    );
    const judged = samples.filter((s) => s.t >= judgedFrom).length;
    if (judged && openIdle.length > judged * 0.1) {
      fail(
        `remote-open (-c ${LIVE_NAMES[0]}): no event in ${openIdle.length} of ${judged} intervals`,
      );
    }
    const cf = churnRecs.filter((r) => !r.ok);
    if (churnRecs.length < (DURATION_S * 1000) / CHURN_INTERVAL_MS / 2) {
      fail(`churn-client: only ${churnRecs.length} cycles in ${DURATION_S} s`);
    }
    if (cf.length > churnRecs.length * 0.01) {
      fail(`churn-client: ${cf.length} of ${churnRecs.length} cycles failed, e.g. ${cf[0]?.error}`);
    }
    if (counters.oneshot_failed > counters.oneshot_started * 0.01) {
      fail(
        `one-shot containers: ${counters.oneshot_failed} of ${counters.oneshot_started} had an unexpected exit`,
      );
    }
    const tlLast = samples.findLast((s) => s.traceloop)?.traceloop;
    if (!tlLast) fail('traceloop counters were never read');
    else if (counters.oneshot_started >= 100 && tlLast.evictions === 0) {
      fail(
        `traceloop: ${counters.oneshot_started} containers at a ~39-recording cap and no eviction counted`,
      );
    }

    const summary = judge(samples);
    for (const r of summary) {
      if (r.verdict === 'LEAK') {
        fail(`${r.series}: ${r.fit!.perHour.toFixed(1)}/h > ${r.threshold}/h`);
      }
    }
    printSummary(summary, samples, churnRecs, markers, lists);
    writeOut({
      meta: { ...meta, ended: endedAt.toISOString(), load_at_end: loadavg() },
      samples,
      lists,
      markers,
      churnFailures: cf,
      churn: churnStats(churnRecs),
      counters,
      slopes: summary,
      failures,
      interrupted,
    });
  } catch (e) {
    fail((e as Error).message);
  } finally {
    stopping = true;
    for (const t of timers) clearInterval(t);
    // whatever an error left running
    for (const p of procs.values()) if (p.running) await p.stop('SIGKILL', 5000);
    const names = await podmanNames();
    if (names.length) await podman(['rm', '-f', '-t', '0', ...names]);
    for (const k of liveKills.values()) k();
    rmSync(PIN_DIR, { recursive: true, force: true });
    rmSync(DIR, { recursive: true, force: true });
  }
  note(failures.length ? `FAILED (${failures.length}):\n  ${failures.join('\n  ')}` : 'passed');
  note(`samples in ${OUT}`);
  return failures.length || interrupted ? 1 : 0;
}

async function waitUntil(fn: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** What is left once everything was stopped; empty when clean. */
async function leftovers(procs: Map<string, Proc>, tracked: BpfIds): Promise<string[]> {
  const out: string[] = [];
  for (const [name, p] of procs) {
    if (existsSync(`/proc/${p.pid}`) && p.running) out.push(`process ${name} (pid ${p.pid})`);
  }
  try {
    await waitReleased(tracked, 15_000, 'BPF objects the soak processes held');
  } catch (e) {
    out.push((e as Error).message);
  }
  note(`BPF objects the soak processes held at some sample: ${count(tracked)}`);
  if (existsSync(PIN_DIR)) {
    const pins = readdirSync(PIN_DIR);
    out.push(`pins under ${PIN_DIR}: ${pins.join(', ') || '(the directory)'}`);
  }
  const names = await podmanNames();
  if (names.length) out.push(`containers: ${names.join(', ')}`);
  if (existsSync(SOCK)) out.push(`socket file ${SOCK}`);
  const unix = readFileSync('/proc/net/unix', 'utf8');
  if (unix.includes(DIR)) out.push(`unix sockets under ${DIR} in /proc/net/unix`);
  return out;
}

// ---- report -------------------------------------------------------------------------------------

const PROC_ORDER = [
  'daemon',
  'local-exec',
  'local-open',
  'remote-exec',
  'remote-open',
  'churn-client',
];

interface SeriesResult {
  series: string;
  unit: string;
  fit: Fit | undefined;
  threshold: number | undefined;
  verdict: Verdict;
}

function judge(samples: Sample[]): SeriesResult[] {
  const out: SeriesResult[] = [];
  const last = samples[samples.length - 1]?.t ?? 0;
  const window = last - WARMUP_S;
  const add = (series: string, unit: string, pts: Point[], threshold?: number): void => {
    const f = fit(pts, WARMUP_S);
    out.push({
      series,
      unit,
      fit: f,
      threshold,
      verdict: verdict(f, threshold, window, MIN_WINDOW_S),
    });
  };
  for (const name of PROC_ORDER) {
    for (const [metric, unit] of [
      ['rss_mib', 'MiB'],
      ['fds', 'fds'],
      ['threads', 'threads'],
      ['bpf_objects', 'objects'],
    ] as const) {
      const pts = samples.flatMap((s) => {
        const v = s.procs[name]?.[metric];
        return v === undefined ? [] : [{ t: s.t, v }];
      });
      // fds, threads and BPF objects: the floor of each minute (a churn run open at a sample
      // raises them for a moment); RSS: every sample
      const series = metric === 'rss_mib' ? pts : minPerWindow(pts, 60);
      add(
        `${name}.${metric}${metric === 'rss_mib' ? '' : '_floor'}`,
        unit,
        series,
        THRESHOLDS[metric],
      );
    }
    const cpu = samples.slice(1).flatMap((s) => {
      const v = s.procs[name]?.cpu_pct;
      return v === undefined ? [] : [{ t: s.t, v }];
    });
    add(`${name}.cpu_pct`, '%', cpu);
  }
  for (const k of ['prog', 'map', 'link', 'btf'] as const) {
    add(
      `node.${k}`,
      'objects',
      samples.flatMap((s) => (s.node ? [{ t: s.t, v: s.node[k] }] : [])),
    );
  }
  for (const k of ['claims', 'evictions'] as const) {
    add(
      `traceloop.${k}`,
      'count',
      samples.flatMap((s) => (s.traceloop ? [{ t: s.t, v: s.traceloop[k] }] : [])),
    );
  }
  add(
    'churn.info_ms_max',
    'ms',
    samples.slice(1).map((s) => ({ t: s.t, v: s.churn.info_ms_max })),
  );
  return out;
}

function churnStats(recs: CycleRecord[]): Record<string, number> {
  const ok = recs.filter((r) => r.ok);
  const q = (xs: number[], p: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
  };
  return {
    cycles: recs.length,
    failed: recs.length - ok.length,
    header_ms_p50: q(
      ok.map((r) => r.headerMs),
      0.5,
    ),
    header_ms_p99: q(
      ok.map((r) => r.headerMs),
      0.99,
    ),
    header_ms_max: q(
      ok.map((r) => r.headerMs),
      1,
    ),
    info_ms_p50: q(
      ok.map((r) => r.infoMs),
      0.5,
    ),
    info_ms_p99: q(
      ok.map((r) => r.infoMs),
      0.99,
    ),
    info_ms_max: q(
      ok.map((r) => r.infoMs),
      1,
    ),
  };
}

function tableHeader(): string {
  return (
    [
      'time  ',
      'daemon: MiB fds thr cpu% bpf',
      '| l-exec MiB fds',
      '| l-open MiB fds',
      '| r-exec MiB',
      '| r-open MiB',
      '| churn MiB fds',
      '| node prog/map/link',
      '| tl claim/evict',
      '| lines/s le lo re ro',
      '| runs ok/fail info ms',
      '| ctr',
    ].join(' ') + '\n'
  );
}

function tableRow(s: Sample): string {
  const p = (n: string): ProcSample | undefined => s.procs[n];
  const mib = (n: string): string => (p(n) ? p(n)!.rss_mib.toFixed(0).padStart(4) : '   -');
  const fds = (n: string): string => String(p(n)?.fds ?? '-').padStart(3);
  const d = p('daemon');
  const mm = String(Math.floor(s.t / 60)).padStart(2, '0');
  const ss = String(Math.floor(s.t % 60)).padStart(2, '0');
  return [
    `${mm}:${ss} `,
    `daemon: ${mib('daemon')} ${fds('daemon')} ${String(d?.threads ?? '-').padStart(3)} ${String(d?.cpu_pct ?? '-').padStart(4)} ${String(d?.bpf_objects ?? '-').padStart(3)}`,
    `| l-exec ${mib('local-exec')} ${fds('local-exec')}`,
    `| l-open ${mib('local-open')} ${fds('local-open')}`,
    `| r-exec ${mib('remote-exec')}`,
    `| r-open ${mib('remote-open')}`,
    `| churn ${mib('churn-client')} ${fds('churn-client')}`,
    `| node ${s.node ? `${s.node.prog}/${s.node.map}/${s.node.link}` : '-'}`,
    `| tl ${s.traceloop ? `${s.traceloop.claims}/${s.traceloop.evictions}` : '-'}`,
    `| lines/s ${['local-exec', 'local-open', 'remote-exec', 'remote-open'].map((n) => s.lines_per_s[n] ?? '-').join(' ')}`,
    `| runs ${s.churn.cycles - s.churn.failed}/${s.churn.failed} ${s.churn.info_ms_max}`,
    `| ${s.counters.oneshot_started}`,
  ].join(' ');
}

function printSummary(
  rows: SeriesResult[],
  samples: Sample[],
  churnRecs: CycleRecord[],
  markers: Record<string, { sent: number; seen: number; missed: string[] }>,
  lists: Array<{ entries: number; states: Record<string, number>; ms: number }>,
): void {
  const w = (s: string, n: number): string => s.padEnd(n);
  const r = (s: string, n: number): string => s.padStart(n);
  const num2 = (v: number | undefined): string =>
    v === undefined ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
  const lines = [
    '',
    `slopes over t >= ${WARMUP_S} s (least squares, per hour); ${samples.length} samples every ${INTERVAL_S} s`,
    `${w('series', 30)} ${r('n', 4)} ${r('first', 8)} ${r('last', 8)} ${r('min', 8)} ${r('max', 8)} ${r('slope/h', 9)} ${r('limit/h', 8)}  verdict`,
  ];
  for (const x of rows) {
    const f = x.fit;
    lines.push(
      `${w(x.series, 30)} ${r(String(f?.n ?? 0), 4)} ${r(num2(f?.first), 8)} ${r(num2(f?.last), 8)} ${r(num2(f?.min), 8)} ${r(num2(f?.max), 8)} ${r(num2(f?.perHour), 9)} ${r(x.threshold === undefined ? '-' : String(x.threshold), 8)}  ${x.verdict}`,
    );
  }
  const cs = churnStats(churnRecs);
  lines.push(
    '',
    `churn client: ${cs.cycles} connect/run/cancel cycles, ${cs.failed} failed; header p50 ${cs.header_ms_p50} ms, p99 ${cs.header_ms_p99}, max ${cs.header_ms_max}; GetInfo p50 ${cs.info_ms_p50} ms, p99 ${cs.info_ms_p99}, max ${cs.info_ms_max}`,
    `containers: ${counters.oneshot_started} one-shot (${counters.oneshot_failed} unexpected exits), ${counters.live_started} long-lived; CLI one-shots ${counters.cli_oneshot_ok} ok, ${counters.cli_oneshot_failed} failed`,
    `markers: ${Object.entries(markers)
      .map(([n, m]) => `${n} ${m.seen}/${m.sent}`)
      .join(', ')}`,
  );
  const tl = samples.findLast((s) => s.traceloop)?.traceloop;
  if (tl) {
    lines.push(
      `traceloop: ${tl.claims} claims, ${tl.evictions} evictions, ${tl.nospace} no-space; list: ${lists.length} runs, entries ${Math.min(...lists.map((l) => l.entries))}-${Math.max(...lists.map((l) => l.entries))}, ${Math.max(0, ...lists.map((l) => l.ms))} ms at most; last: ${JSON.stringify(lists[lists.length - 1]?.states ?? {})}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

function writeOut(o: object): void {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT + '.tmp', JSON.stringify(o, null, 1) + '\n');
  renameSync(OUT + '.tmp', OUT);
}

// pending guard timers (the stop deadlines) must not keep a finished soak alive
process.exit(await main());
