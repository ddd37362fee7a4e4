// The arguments whose buffer the kernel copies by a mode of its own (program.bpf.c TL_MODE_*):
// iovec arrays, pollfd and epoll_event arrays, ioctl's winsize, rt_sigprocmask's sets; or by
// syscall number (getdents64's entry count, rt_sigreturn's mask). Each returns strace's text of
// the whole argument list, or of what strace prints after the result.

import type { TraceRecord } from './format.js';
import { openFlags, prctlOption, prctlRet } from './named.js';
import * as st from './structs.js';
import {
  MODE_ARRAY,
  MODE_IOV,
  MODE_MSG,
  MODE_PRCTL,
  MODE_SIGACT,
  MODE_SIGMASK,
  MODE_WINSIZE,
  readAtEntry,
  type SyscallDef,
} from './table.js';

const hex = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;
const ptr = (v: bigint): string => (v === 0n ? 'NULL' : hex(v));
const returned = (r: TraceRecord): boolean => r.ret !== null && r.ret >= 0n;

/**
 * The parameters of a syscall whose buffer has a mode; `arg(i)`: argument i as the generic
 * decoder prints it. Undefined for other syscalls.
 */
export function modeParams(
  d: SyscallDef,
  r: TraceRecord,
  arg: (i: number) => string,
): string | undefined {
  const mode = d.buffer?.[3];
  if (!mode || !d.args) return undefined;
  const at = d.buffer![0];
  const item = r.items[d.items.indexOf(at)];
  const v = r.args[at] ?? 0n;
  let shown: string;
  let n = d.args.length;
  if (mode === MODE_IOV) {
    // preadv/pwritev: strace prints the 64-bit offset once (pos_h is for 32-bit callers)
    if (d.name === 'preadv' || d.name === 'pwritev') n = 4;
    const c = item && st.iovCopy(item);
    const count = BigInt.asUintN(64, r.args[d.buffer![1]] ?? 0n);
    if (v === 0n || !c) shown = ptr(v);
    else if (readAtEntry(d.name)) shown = st.iovecs(c, count, 1n << 62n);
    else shown = st.iovecs(c, count, returned(r) ? r.ret : null);
  } else if (mode === MODE_ARRAY) {
    const size = d.buffer![2] ?? 1;
    if (v === 0n || !item || !returned(r) || item.length % size) shown = ptr(v);
    else if (d.args[at]?.[1] === 'pollfd') {
      shown = st.pollfds(item, Number(BigInt.asUintN(32, r.args[d.buffer![1]] ?? 0n)), 'events');
    } else shown = st.epollEvents(item, Number(r.ret));
  } else if (mode === MODE_WINSIZE) {
    const req = Number(BigInt.asUintN(32, r.args[1] ?? 0n));
    if (req !== 0x5413 && req !== 0x5414) shown = arg(at);
    else shown = (returned(r) && item && st.winsize(item)) || ptr(v);
  } else if (mode === MODE_MSG) {
    let budget: bigint | null = 1n << 62n;
    if (!readAtEntry(d.name)) budget = returned(r) ? r.ret : null;
    shown = (v !== 0n && item && st.msghdr(item, budget)) || ptr(v);
  } else if (mode === MODE_SIGACT) {
    // the copy is the new action, or the old one (an output) when the call only asked
    const act = r.args[1] ?? 0n;
    const old = r.args[2] ?? 0n;
    const decoded = item?.length === 32 ? st.sigaction(item) : undefined;
    const parts = [
      arg(0),
      act === 0n ? 'NULL' : (decoded ?? hex(act)),
      old === 0n ? 'NULL' : (act === 0n && returned(r) && decoded) || hex(old),
    ];
    return [...parts, ...d.args.slice(3).map((_, i) => arg(i + 3))].join(', ');
  } else if (mode === MODE_PRCTL) {
    // the task name of PR_SET_NAME (input) and PR_GET_NAME (output); other options: named.ts
    const option = Number(BigInt.asUintN(32, r.args[0] ?? 0n));
    if (option === 15) return `${prctlOption(option)}, ${(item && st.taskName(item)) || ptr(v)}`;
    if (option === 16) {
      return `${prctlOption(option)}, ${(returned(r) && item && st.taskName(item)) || ptr(v)}`;
    }
    return undefined;
  } else if (mode === MODE_SIGMASK) {
    const ok = item?.length === 17 ? item[16]! : 0;
    const set = r.args[1] ?? 0n;
    const old = r.args[2] ?? 0n;
    const parts = [
      st.sigHow(Number(BigInt.asIntN(32, r.args[0] ?? 0n))),
      set === 0n ? 'NULL' : ok & 1 ? st.sigset(item!.readBigUInt64LE(0)) : hex(set),
      old === 0n ? 'NULL' : ok & 2 && returned(r) ? st.sigset(item!.readBigUInt64LE(8)) : hex(old),
    ];
    return [...parts, ...d.args.slice(3).map((_, i) => arg(i + 3))].join(', ');
  } else {
    return undefined;
  }
  return d.args
    .slice(0, n)
    .map((_, i) => (i === at ? shown : arg(i)))
    .join(', ');
}

/**
 * The parameters of the calls the kernel copies for by syscall number (program.bpf.c
 * TL_NR_*): getdents64's entry count, rt_sigreturn's restored mask. Undefined for others.
 */
export function nrParams(d: SyscallDef, r: TraceRecord): string | undefined {
  const item = r.items[0];
  if (d.name === 'rt_sigreturn') {
    return item?.length === 8 ? `{mask=${st.sigset(item.readBigUInt64LE(0))}}` : '';
  }
  if (d.name !== 'getdents64') return undefined;
  const fd = Number(BigInt.asIntN(32, r.args[0] ?? 0n));
  const count = Number(BigInt.asUintN(32, r.args[2] ?? 0n));
  const v = r.args[1] ?? 0n;
  // the count the kernel walked, only for a result it walked to its end
  const n =
    returned(r) && v !== 0n && item?.length === 4 ? ` /* ${item.readUInt32LE(0)} entries */` : '';
  return `${fd}, ${ptr(v)}${n}, ${count}`;
}

/**
 * The result as strace prints it when it says more than the number: poll's revents (or
 * Timeout), fcntl F_GETFD/F_GETFL's flags. Undefined: the plain number.
 */
export function retDetail(d: SyscallDef | undefined, r: TraceRecord): string | undefined {
  if (!d || r.ret === null || r.ret < 0n) return undefined;
  const ret = r.ret;
  if (d.name === 'fcntl') {
    const cmd = Number(BigInt.asUintN(32, r.args[1] ?? 0n));
    const h = ret === 0n ? '0' : hex(ret);
    if (cmd === 1 && ret !== 0n) {
      return `${h} (flags ${st.flagNames(Number(ret), [[1, 'FD_CLOEXEC']], '0')})`;
    }
    if (cmd === 3) return `${h} (flags ${openFlags(Number(BigInt.asUintN(32, ret)))})`;
    return undefined;
  }
  if (d.name === 'prctl') return prctlRet(Number(BigInt.asUintN(32, r.args[0] ?? 0n)), ret);
  if (d.buffer?.[3] !== MODE_ARRAY || d.args?.[0]?.[1] !== 'pollfd') return undefined;
  if (ret === 0n) return '0 (Timeout)';
  const item = r.items[d.items.indexOf(0)];
  if (!item || item.length % 8) return undefined;
  return `${ret} (${st.pollfds(item, Number(BigInt.asUintN(32, r.args[1] ?? 0n)), 'revents')})`;
}
