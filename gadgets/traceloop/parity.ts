// The strace parity test's normalisation (gadgets/traceloop/parity.e2e.test.ts): what strace
// `-f -qq -s 64 -o FILE` wrote and what `traceloop show -o json` printed, both turned into one
// `name(params) = ret` line per call, process by process (in the order the processes appeared),
// with what differs between any two runs (addresses, pids, random bytes) replaced on both sides
// the same way.

import { diffArrays } from 'diff';
import { syscallByName } from './table.js';

/** Calls whose return value or arguments are pids: those numbers are run-specific (rt_sigreturn
 * returns the interrupted call's result: a pid when that was wait4). */
const PID_CALLS =
  /^(clone3?|fork|vfork|wait4|waitid|getpid|getppid|gettid|set_tid_address|kill|tgkill|tkill|setpgid|getpgid|getsid|setsid|rt_sigreturn)\(/;

/** Run-specific parts of one call, on either side. */
export function normalise(line: string, pids: ReadonlySet<number>): string {
  let l = line
    // addresses (ASLR): the heap, mmaps, the stack, pointers to them
    .replace(/0x[0-9a-f]{5,}/g, '0xADDR')
    // strace's execve environment count (traceloop shows the pointer only)
    .replace(/ \/\* \d+ vars? \*\//g, '')
    // clock times in the data (an HTTP Date header, `ls -l`'s mtimes): a run's own
    .replace(/\b\d\d:\d\d(:\d\d)?\b/g, 'HH:MM')
    // random bytes differ in any two runs: each byte as \xXX (how many, and their form, stay)
    .replace(
      /^getrandom\("((?:\\x[0-9a-f]{2})*)"/,
      (_, b: string) => `getrandom("${b.replace(/[0-9a-f]{2}/g, 'XX')}"`,
    );
  if (PID_CALLS.test(l) || l.startsWith('---')) {
    l = l.replace(/\b\d+\b/g, (n) => (pids.has(Number(n)) ? 'PID' : n));
  }
  if (/^getppid\(\) = \d+$/.test(l)) l = 'getppid() = PID'; // the parent is not traced
  return l;
}

export interface Program {
  /** one line per call, each process's calls in order; a process after its parent, children
   * in the order their parent created them (not the order they ran: that varies) */
  lines: string[];
  pids: number[];
}

const FORK = /^(?:clone3?|fork|vfork)\(.*\) = (\d+)$/;

/** The processes from `root` down (depth first, in creation order), their lines normalised. */
function program(root: number, byPid: Map<number, string[]>): Program {
  const pids: number[] = [];
  const walk = (pid: number): void => {
    if (pids.includes(pid) || !byPid.has(pid)) return;
    pids.push(pid);
    for (const l of byPid.get(pid)!) {
      const child = FORK.exec(l)?.[1];
      if (child) walk(Number(child));
    }
  };
  walk(root);
  // processes no clone of the tree names (should not happen), after the tree
  for (const p of byPid.keys()) if (!pids.includes(p)) pids.push(p);
  const set = new Set(pids);
  return { pids, lines: pids.flatMap((p) => byPid.get(p)!.map((l) => normalise(l, set))) };
}

/**
 * strace -f -o output: `PID  call(...) = ret`; an `<unfinished ...>` call is joined with its
 * `<... call resumed>` rest; `--- SIGX {...} ---` becomes `--- SIGX ---`; `+++` lines (and the
 * errno text after an error) are dropped.
 */
export function fromStrace(text: string): Program {
  const byPid = new Map<number, string[]>();
  const pending = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const m = /^(?:\[pid\s+)?(\d+)\]?\s+(.*)$/.exec(raw);
    if (!m) continue;
    const pid = Number(m[1]);
    let body = m[2]!;
    const list = byPid.get(pid) ?? [];
    byPid.set(pid, list);
    if (body.startsWith('+++')) continue;
    if (body.startsWith('---')) {
      list.push(body.replace(/^--- (\w+) .*---$/, '--- $1 ---'));
      continue;
    }
    if (body.endsWith(' <unfinished ...>')) {
      pending.set(pid, body.slice(0, -' <unfinished ...>'.length));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>\s?(.*)$/.exec(body);
    if (resumed) {
      body = (pending.get(pid) ?? '') + resumed[1]!;
      pending.delete(pid);
    }
    const call = /^(\w+\(.*\))\s+= (\S+)(.*)$/.exec(body);
    if (!call) {
      list.push(body);
      continue;
    }
    let rest = call[3]!;
    // an errno's text: `-1 ENOENT (No such file or directory)`, `? ERESTARTSYS (To be ...)`
    if (/^ E[A-Z0-9]+ \(.*\)$/.test(rest)) rest = rest.replace(/ \(.*\)$/, '');
    list.push(`${call[1]} = ${call[2]}${rest}`);
  }
  // a call still unfinished when its process ended (exit_group never returns)
  for (const [pid, body] of pending) byPid.get(pid)?.push(`${body} = ?`);
  const root = byPid.keys().next().value;
  return root === undefined ? { pids: [], lines: [] } : program(root, byPid);
}

/** One record of `traceloop show -o json`. */
export type ShowEvent = Record<string, unknown>;

/**
 * The return value as strace writes it after `= `: the RET column `show` printed for the record
 * (`retText`: what follows the number, poll's revents, is there), else from -o json's `ret`.
 */
function retOf(e: ShowEvent): string {
  if (e.ret === null || e.ret === undefined) return '?';
  if (typeof e.retText === 'string') return e.error ? `-1 ${e.retText}` : e.retText;
  if (e.error) return `-1 ${String(e.error)}`;
  const ret = Number(e.ret);
  if (syscallByName(String(e.syscall))?.returnsPointer) return `0x${ret.toString(16)}`;
  return String(ret);
}

/**
 * The records of the process whose execve's parameters start with `exec` and of its descendants
 * (by clone's return value: the container shares the host's pid namespace), from that execve on.
 */
export function fromTraceloop(events: ShowEvent[], exec: string): Program {
  const start = events.findIndex(
    (e) =>
      e.kind === 'syscall' &&
      e.syscall === 'execve' &&
      e.ret === 0 &&
      String(e.params).startsWith(exec),
  );
  if (start < 0) throw new Error(`no execve(${exec}...) recorded`);
  const root = Number(events[start]!.pid);
  const byPid = new Map<number, string[]>([[root, []]]);
  for (const e of events.slice(start)) {
    const pid = Number(e.pid);
    const list = byPid.get(pid);
    if (!list || e.kind === 'exit') continue;
    if (e.kind === 'signal') {
      list.push(`--- ${String(e.syscall)} ---`);
      continue;
    }
    list.push(`${String(e.syscall)}(${String(e.params)}) = ${retOf(e)}`);
    if (/^(clone3?|fork|vfork)$/.test(String(e.syscall)) && Number(e.ret) > 0) {
      const child = Number(e.ret);
      if (!byPid.has(child)) byPid.set(child, []);
    }
  }
  return program(root, byPid);
}

export interface Parity {
  /** lines common to both (their longest common subsequence) */
  same: number;
  strace: number;
  traceloop: number;
  /** same / the longer side */
  share: number;
  /** `- strace line` / `+ traceloop line` for each line not in common */
  diffs: string[];
}

export function compare(strace: string[], traceloop: string[]): Parity {
  let same = 0;
  const diffs: string[] = [];
  for (const part of diffArrays(strace, traceloop)) {
    if (part.added) diffs.push(...part.value.map((l) => `+ ${l}`));
    else if (part.removed) diffs.push(...part.value.map((l) => `- ${l}`));
    else same += part.value.length;
  }
  const longer = Math.max(strace.length, traceloop.length);
  return {
    same,
    strace: strace.length,
    traceloop: traceloop.length,
    share: longer ? same / longer : 1,
    diffs,
  };
}
