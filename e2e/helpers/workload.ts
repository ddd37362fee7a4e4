// The test workload (e2e/workloads/kg-workload.c, built by `npm run build` into
// build/bin/kg-workload): it does known execs and opens and prints, as JSON lines, what it did.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export const WORKLOAD = join(ROOT, 'build', 'bin', 'kg-workload');

export function workloadBuilt(): boolean {
  return existsSync(WORKLOAD);
}

/** A JSON line of the workload (its ground truth). */
export type Truth = Record<string, unknown> & { op: string; pid: number };

export interface WorkloadRun {
  /** pid of the spawned process (also the pid after its execs) */
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Truth[];
  stdout: string;
  stderr: string;
  /** wall clock (ms) just before spawn and just after exit */
  startMs: number;
  endMs: number;
}

export interface RunOptions {
  cwd?: string;
  /** run under this command line (setpriv ...): the workload path and args follow */
  wrapper?: string[];
  /** the program to run instead of the workload (its args are `args`) */
  program?: string;
  timeoutMs?: number;
}

/** Runs the workload (or `program`) to completion. */
export function runWorkload(args: string[], opts: RunOptions = {}): Promise<WorkloadRun> {
  const argv = [...(opts.wrapper ?? []), opts.program ?? WORKLOAD, ...args];
  const startMs = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      // a pipe, not 'ignore': for that the child would open /dev/null before its exec, an
      // extra open event of this pid
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    p.stdin.end();
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d: string) => (stdout += d));
    p.stderr.on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(t);
      const lines: Truth[] = [];
      for (const l of stdout.split('\n')) {
        if (l.startsWith('{')) lines.push(JSON.parse(l) as Truth);
      }
      resolve({
        pid: p.pid!,
        code,
        signal,
        lines,
        stdout,
        stderr,
        startMs,
        endMs: Date.now(),
      });
    });
  });
}

/** The first ground-truth line of an op; throws when the workload did not print one. */
export function truth(run: WorkloadRun, op: string): Truth {
  const t = run.lines.find((l) => l.op === op);
  if (!t)
    throw new Error(
      `workload printed no "${op}" line; stdout: ${run.stdout} stderr: ${run.stderr}`,
    );
  return t;
}

export function hexBytes(hex: unknown): Buffer {
  return Buffer.from(String(hex), 'hex');
}

/** The host's mount namespace inode (this test process runs in it). */
export function hostMntns(): number {
  const m = /^mnt:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/mnt'));
  return Number(m![1]);
}

/** comm of this process's main thread (what its children show as pcomm). */
export function selfComm(): string {
  return readFileSync('/proc/self/comm', 'utf8').trim();
}

export const NODE_NAME = hostname();

/** Runs argv to its exit (output ignored); resolves with its pid, for matching its events. */
export function execPid(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    p.on('error', reject);
    p.on('close', () => resolve(p.pid!));
  });
}
