// Spawning the real CLI (bin/run.js) as a separate process, collecting its NDJSON, waiting until
// its gadget is attached (marker events), and stopping it the way a user does (SIGINT).

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../gadgets/framework/paths.js';

export const ROOT = packageRoot();
export const CLI = join(ROOT, 'bin', 'run.js');

/** One decoded NDJSON line of the CLI. */
export type Ev = Record<string, unknown>;

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** a command line the CLI runs under (setpriv ..., capsh ...); node and bin/run.js follow it */
  wrapper?: string[];
  cwd?: string;
}

/**
 * `env -u ...` for the variables that make ink take a terminal for a CI log (is-in-ci: CI,
 * CONTINUOUS_INTEGRATION, CI_*), which then draws only the last frame: a command run in a
 * terminal by a test (script, tmux) must see the live view a user sees, also when CI=true.
 */
export function notInCi(env: NodeJS.ProcessEnv = process.env): string {
  const vars = Object.keys(env).filter(
    (k) => k === 'CI' || k === 'CONTINUOUS_INTEGRATION' || k.startsWith('CI_'),
  );
  return ['env', ...vars.flatMap((v) => ['-u', v])].join(' ');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A random marker for one test's events: kg-<what>-<hex>. */
export function marker(what: string): string {
  return `kg-${what}-${randomBytes(4).toString('hex')}`;
}

/** A running CLI process whose stdout is parsed as NDJSON as it arrives. */
export class Cli {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly args: string[];
  stdout = '';
  stderr = '';
  /** parsed stdout lines, in order */
  readonly events: Ev[] = [];
  /** stdout lines that are not JSON objects */
  readonly badLines: string[] = [];
  readonly exited: Promise<CliExit>;
  private exitInfo: CliExit | undefined;
  private partial = '';
  private listeners = new Set<() => void>();

  constructor(args: string[], opts: SpawnOptions = {}) {
    this.args = args;
    const argv = [...(opts.wrapper ?? []), process.execPath, CLI, ...args];
    this.proc = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd ?? ROOT,
    });
    if (this.proc.pid === undefined) throw new Error(`could not spawn ${argv.join(' ')}`);
    this.pid = this.proc.pid;
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => this.onStdout(d));
    this.proc.stderr!.on('data', (d: string) => {
      this.stderr += d;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        if (this.partial) this.onLine(this.partial);
        this.partial = '';
        this.exitInfo = { code, signal, stdout: this.stdout, stderr: this.stderr };
        this.notify();
        resolve(this.exitInfo);
      });
    });
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  private onStdout(d: string): void {
    this.stdout += d;
    const text = this.partial + d;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.onLine(l);
    this.notify();
  }

  private onLine(l: string): void {
    if (!l.trim()) return;
    try {
      const v: unknown = JSON.parse(l);
      if (v && typeof v === 'object' && !Array.isArray(v)) this.events.push(v as Ev);
      else this.badLines.push(l);
    } catch {
      this.badLines.push(l);
    }
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Resolves with the first event (already received or coming) that satisfies pred. */
  waitForEvent(pred: (e: Ev) => boolean, timeoutMs = 10_000, what = 'event'): Promise<Ev> {
    return this.waitUntil(() => this.events.find(pred), timeoutMs, what);
  }

  /** Resolves once fn returns something (checked on every stdout chunk and at exit). */
  waitUntil<T>(fn: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = fn();
        if (v !== undefined && v !== false) {
          done();
          resolve(v);
        } else if (this.exitInfo) {
          done();
          reject(new Error(`CLI exited (${this.describeExit()}) before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; ${this.events.length} events (the last ones: ${this.events
              .slice(-5)
              .map((e) => JSON.stringify(e).slice(0, 400))
              .join(' ')}), stderr: ${this.stderr.trim()}`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  describeExit(): string {
    const x = this.exitInfo;
    if (!x) return 'running';
    return `code ${x.code} signal ${x.signal}, stderr: ${x.stderr.trim()}`;
  }

  /** Sends `signal` (SIGINT: what Ctrl-C does) and waits for the exit; SIGKILL after timeoutMs. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 10_000): Promise<CliExit> {
    if (this.exitInfo) return this.exitInfo;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const x = await this.exited;
    clearTimeout(t);
    if (x.signal === 'SIGKILL' && signal !== 'SIGKILL')
      throw new Error(`CLI ${this.args.join(' ')} did not exit ${timeoutMs} ms after ${signal}`);
    return x;
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<CliExit> {
    if (this.exitInfo) return this.exitInfo;
    this.proc.kill('SIGKILL');
    return this.exited;
  }
}

/** Starts the CLI. */
export function startCli(args: string[], opts?: SpawnOptions): Cli {
  return new Cli(args, opts);
}

/** Runs the CLI to completion (killed after timeoutMs). */
export async function runCli(
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<CliExit & { events: Ev[]; pid: number }> {
  const cli = new Cli(args, opts);
  const t = setTimeout(() => cli.proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const x = await cli.exited;
  clearTimeout(t);
  return { ...x, events: cli.events, pid: cli.pid };
}

/**
 * Waits until the CLI's gadget is attached and its output flows: runs trigger(marker) every
 * ~100 ms until an event matching the marker appears.
 */
export async function waitReady(
  cli: Cli,
  trigger: (marker: string) => unknown,
  matches: (e: Ev, marker: string) => boolean,
  timeoutMs = 30_000,
): Promise<Ev> {
  const m = marker('ready');
  const deadline = Date.now() + timeoutMs;
  const found = (): Ev | undefined => cli.events.find((e) => matches(e, m));
  while (Date.now() < deadline) {
    if (!cli.running) throw new Error(`CLI exited before it was ready: ${cli.describeExit()}`);
    await trigger(m);
    const e = found();
    if (e) return e;
    await sleep(100);
    const e2 = found();
    if (e2) return e2;
  }
  throw new Error(
    `CLI ${cli.args.join(' ')} not ready after ${timeoutMs} ms (stderr: ${cli.stderr.trim()})`,
  );
}

/** Runs `cmd args... marker` and waits for its exit. */
export function runQuiet(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: 'ignore' });
    p.on('error', () => resolve(null));
    p.on('close', (code) => resolve(code));
  });
}

/** Readiness of trace exec: `/bin/true <marker>` on the host. */
export function readyExec(cli: Cli, timeoutMs?: number): Promise<Ev> {
  return waitReady(
    cli,
    (m) => runQuiet('/bin/true', [m]),
    (e, m) => Array.isArray(e.args) && e.args[1] === m,
    timeoutMs,
  );
}

/** Readiness of trace open: this process fails to open `<dir>/<marker>` (so --failed sees it). */
export function readyOpen(cli: Cli, dir: string, timeoutMs?: number): Promise<Ev> {
  return waitReady(
    cli,
    (m) => {
      try {
        closeSync(openSync(join(dir, m), 'r'));
      } catch {
        /* ENOENT: the event we wait for */
      }
    },
    (e, m) => typeof e.path === 'string' && e.path.endsWith(m),
    timeoutMs,
  );
}
