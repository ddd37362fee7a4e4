// Benchmark helpers: child processes that are always stopped, output files read incrementally,
// markers that tell when a tracer is attached or has drained, /proc readings.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** stderr so far (always captured) */
  stderr: string;
  /** stdout so far, when not redirected to a file */
  stdout: string;
  exited: Promise<Exit>;
  exit: Exit | undefined;
}

const live = new Set<Child>();

export interface StartOptions {
  /** stdout goes to this file (truncated) instead of a pipe */
  stdoutFile?: string;
  /** pin to these CPUs with taskset */
  cpus?: string;
  cwd?: string;
  onStdout?: (chunk: string) => void;
}

/** Starts a process that is killed when the benchmark exits, whatever happens. */
export function start(name: string, cmd: string, args: string[], opts: StartOptions = {}): Child {
  let file: number | undefined;
  let stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
  if (opts.stdoutFile !== undefined) {
    file = openSync(opts.stdoutFile, 'w');
    stdio = ['ignore', file, 'pipe'];
  }
  const [c, a] =
    opts.cpus !== undefined ? ['taskset', ['-c', opts.cpus, cmd, ...args]] : [cmd, args];
  const proc = spawn(c, a, { stdio, cwd: opts.cwd });
  if (file !== undefined) closeSync(file);
  const child: Child = {
    name,
    proc,
    pid: proc.pid ?? -1,
    stderr: '',
    stdout: '',
    exit: undefined,
    exited: new Promise<Exit>((resolve) => {
      proc.on('exit', (code, signal) => {
        child.exit = { code, signal };
        live.delete(child);
        resolve(child.exit);
      });
      proc.on('error', (e) => {
        child.stderr += `spawn error: ${e.message}\n`;
        child.exit = { code: -1, signal: null };
        live.delete(child);
        resolve(child.exit);
      });
    }),
  };
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (child.stderr += d));
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    child.stdout += d;
    opts.onStdout?.(d);
  });
  live.add(child);
  return child;
}

/** Stops a child: `signal`, then SIGTERM, then SIGKILL, each after `graceMs`. */
export async function stop(
  c: Child,
  signal: NodeJS.Signals = 'SIGINT',
  graceMs = 8000,
): Promise<Exit> {
  for (const sig of [signal, 'SIGTERM', 'SIGKILL'] as NodeJS.Signals[]) {
    if (c.exit) return c.exit;
    try {
      c.proc.kill(sig);
    } catch {
      /* already gone */
    }
    const r = await Promise.race([c.exited, sleep(graceMs).then(() => undefined)]);
    if (r) return r;
  }
  return c.exited;
}

/** SIGKILL every child still running (process exit, Ctrl-C of the benchmark). */
export function killAll(): void {
  for (const c of live) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Runs a command to completion; rejects on a non-zero exit. Returns its stdout. */
export async function run(
  name: string,
  cmd: string,
  args: string[],
  opts: StartOptions = {},
): Promise<string> {
  const c = start(name, cmd, args, opts);
  const e = await c.exited;
  if (e.code !== 0) {
    throw new Error(
      `${name}: ${cmd} ${args.join(' ')} exited ${e.code ?? e.signal}: ${c.stderr.trim()}`,
    );
  }
  return c.stdout;
}

/** The last JSON line a workload printed. */
export function lastJson<T>(out: string): T {
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}') as T;
}

/** Reads what is appended to a file, and looks for a string in it (across read boundaries). */
export class Tail {
  private pos: number;
  private carry = '';

  constructor(
    private readonly path: string,
    from?: number,
  ) {
    this.pos = from ?? 0;
  }

  /** True when `needle` occurs in the bytes appended since the last call (or since `from`). */
  find(needle: string): boolean {
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(4 << 20);
      while (this.pos < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - this.pos), this.pos);
        if (n <= 0) break;
        this.pos += n;
        const text = this.carry + buf.toString('latin1', 0, n);
        if (text.includes(needle)) return true;
        this.carry = text.slice(-needle.length);
      }
      return false;
    } finally {
      closeSync(fd);
    }
  }
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Repeats `poke(k)` (something the tracer reports, containing `needle + k`) every `everyMs`
 * until `needle` shows up in the output file, beyond byte `from`. Returns the ms it took.
 * Throws when the tracer exits or after `timeoutMs`.
 */
export async function awaitMarker(opts: {
  file: string;
  needle: string;
  poke: (k: number) => void | Promise<void>;
  tracer?: Child;
  from?: number;
  everyMs?: number;
  timeoutMs?: number;
}): Promise<number> {
  const t0 = Date.now();
  const tail = new Tail(opts.file, opts.from);
  for (let k = 0; ; k++) {
    await opts.poke(k);
    await sleep(opts.everyMs ?? 100);
    if (tail.find(opts.needle)) return Date.now() - t0;
    if (opts.tracer?.exit) {
      throw new Error(
        `${opts.tracer.name} exited (${opts.tracer.exit.code ?? opts.tracer.exit.signal}): ${opts.tracer.stderr.trim()}`,
      );
    }
    if (Date.now() - t0 > (opts.timeoutMs ?? 30_000)) {
      throw new Error(
        `${opts.needle}: not seen in ${opts.file} after ${opts.timeoutMs ?? 30_000} ms`,
      );
    }
  }
}

/** Opens (and closes) a path that need not exist: a traced event with a known path. */
export function touchOpen(path: string): void {
  try {
    closeSync(openSync(path, 'r'));
  } catch {
    /* ENOENT is still an open event */
  }
}

/** Counts occurrences of each needle in a file, streaming. */
export function countInFile(path: string, needles: string[]): number[] {
  const counts = needles.map(() => 0);
  const pats = needles.map((n) => Buffer.from(n, 'utf8'));
  const maxLen = Math.max(...pats.map((p) => p.length));
  const fd = openSync(path, 'r');
  try {
    const chunk = 16 << 20;
    const buf = Buffer.allocUnsafe(chunk + maxLen);
    let keep = 0;
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, keep, chunk, pos);
      if (n <= 0) break;
      pos += n;
      const end = keep + n;
      // a match must end after the carried-over bytes, so none is counted twice
      pats.forEach((p, i) => {
        let at = buf.indexOf(p, 0);
        while (at !== -1 && at + p.length <= end) {
          if (at + p.length > keep) counts[i]!++;
          at = buf.indexOf(p, at + 1);
        }
      });
      keep = Math.min(maxLen - 1, end);
      buf.copy(buf, 0, end - keep, end);
    }
  } finally {
    closeSync(fd);
  }
  return counts;
}

/** Resident set size and its peak, in MiB, from /proc/PID/status. */
export function rssMiB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) a process has used, all its threads. */
export function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return NaN;
  }
}

/** Warnings of the CLI (stderr) about lost events, summed. */
export interface LossReport {
  /** "N events lost in the kernel (ring buffer full)" */
  kernelLost: number;
  /** "N events dropped in user space: output too slow" */
  userDropped: number;
  /** "N messages dropped (R records)": batches the daemon dropped for a slow --remote client */
  messagesDropped: number;
  recordsDropped: number;
}

export function parseLoss(stderr: string): LossReport {
  const sum = (re: RegExp): number => {
    let n = 0;
    for (const m of stderr.matchAll(re)) n += Number(m[1]);
    return n;
  };
  return {
    kernelLost: sum(/(\d+) events lost in the kernel/g),
    userDropped: sum(/(\d+) events dropped in user space/g),
    messagesDropped: sum(/(\d+) messages dropped/g),
    recordsDropped: sum(/\d+ messages dropped \((\d+) records\)/g),
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cpuTimes(): Array<{ idle: number; total: number }> {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const f = l.trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
    });
}

/** The CPU that was the most idle over the next `ms` (other users' loops are often pinned). */
export async function idlestCpu(ms = 200): Promise<number> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  let best = b.length - 1;
  let bestIdle = -1;
  b.forEach((t, i) => {
    const dt = t.total - a[i]!.total;
    const idle = dt > 0 ? (t.idle - a[i]!.idle) / dt : 0;
    if (idle > bestIdle + 0.05) {
      best = i;
      bestIdle = idle;
    }
  });
  return best;
}
