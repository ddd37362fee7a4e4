// Small synchronous /proc readers. Each returns null when the process is gone or unreadable.
// Synchronous on purpose: each is one syscall on procfs (microseconds), cheaper than a trip
// through the libuv thread pool, and the registry only reads pids it has not seen yet.

import { readFileSync, readlinkSync, readdirSync } from 'node:fs';

export function listPids(procRoot: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const n = Number(name);
    if (Number.isInteger(n)) out.push(n);
  }
  return out;
}

const NS_RE = /^[a-z_]+:\[(\d+)\]$/;

/** Inode of /proc/<pid>/ns/<kind> (e.g. 'mnt'), or null. */
export function readNsInode(procRoot: string, pid: number, kind = 'mnt'): number | null {
  try {
    const m = NS_RE.exec(readlinkSync(`${procRoot}/${pid}/ns/${kind}`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export interface ProcStat {
  ppid: number;
  /** clock ticks since boot (field 22) */
  startTime: number;
  comm: string;
}

export function readStat(procRoot: string, pid: number): ProcStat | null {
  const s = readText(`${procRoot}/${pid}/stat`);
  if (s === null) return null;
  // comm may contain spaces and parentheses: fields resume after the last ')'.
  const close = s.lastIndexOf(')');
  if (close < 0) return null;
  const comm = s.slice(s.indexOf('(') + 1, close);
  const f = s.slice(close + 2).split(' ');
  // f[0] is field 3 (state); ppid is field 4; starttime is field 22.
  const ppid = Number(f[1]);
  const startTime = Number(f[19]);
  if (!Number.isFinite(ppid) || !Number.isFinite(startTime)) return null;
  return { ppid, startTime, comm };
}

/** The NSpid line of /proc/<pid>/status: the pid in each nested pid namespace, outermost first. */
export function readNsPids(procRoot: string, pid: number): number[] | null {
  const s = readText(`${procRoot}/${pid}/status`);
  if (s === null) return null;
  const m = /^NSpid:\s*(.*)$/m.exec(s);
  if (!m) return null;
  return (m[1] as string).trim().split(/\s+/).map(Number);
}

export function readCmdline(procRoot: string, pid: number): string[] | null {
  const s = readText(`${procRoot}/${pid}/cmdline`);
  if (s === null) return null;
  const parts = s.split('\0');
  if (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Process start time ticks are 1/100 s on every Linux architecture Node runs on (USER_HZ). */
export const USER_HZ = 100;

/** Unix ms at boot (CLOCK_BOOTTIME 0), good to ~10 ms; null if /proc/uptime is unreadable. */
export function bootWallMs(procRoot: string): number | null {
  const s = readText(`${procRoot}/uptime`);
  if (s === null) return null;
  const up = Number.parseFloat(s);
  return Number.isFinite(up) ? Date.now() - up * 1000 : null;
}
