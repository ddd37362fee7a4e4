// Benchmark setup: builds what only the benchmark needs (the static workload, the floor object),
// finds bpftrace, and describes the machine and what else is loaded in the kernel.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../gadgets/framework/paths.js';

export const ROOT = packageRoot();
export const OUT = join(ROOT, 'build', 'bench');
export const TMP = join(OUT, 'tmp');
export const RUN_JS = join(ROOT, 'bin', 'run.js');
export const WORKLOAD = join(OUT, 'kg-workload');
export const FLOOR_OBJ = join(OUT, 'floor.bpf.o');

function newer(out: string, ...srcs: string[]): boolean {
  if (!existsSync(out)) return false;
  const t = statSync(out).mtimeMs;
  return srcs.every((s) => statSync(s).mtimeMs <= t);
}

/** Compiles the workload (static, like the tests') and the floor program when out of date. */
export function buildBenchArtifacts(): void {
  mkdirSync(TMP, { recursive: true });
  const need = [
    join(ROOT, 'build', 'gadgets', 'trace_open.bpf.o'),
    join(ROOT, 'build', 'gadgets', 'trace_exec.bpf.o'),
    join(ROOT, 'build', 'bpf', 'container_tracker.bpf.o'),
    join(ROOT, 'build', 'vmlinux.h'),
    join(ROOT, 'dist', 'plugin', 'src', 'commands', 'daemon.js'),
  ];
  const missing = need.filter((p) => !existsSync(p));
  if (missing.length)
    throw new Error(`run \`npm run build\` first (missing ${missing.join(', ')})`);

  const wsrc = join(ROOT, 'e2e', 'workloads', 'kg-workload.c');
  if (!newer(WORKLOAD, wsrc)) {
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-static', '-o', WORKLOAD, wsrc, '-lpthread'], {
      stdio: 'inherit',
    });
  }
  const fsrc = join(ROOT, 'e2e', 'bench', 'floor.bpf.c');
  if (!newer(FLOOR_OBJ, fsrc, join(ROOT, 'build', 'vmlinux.h'))) {
    execFileSync(
      'clang',
      ['-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-Wall', '-Werror'].concat([
        '-I',
        join(ROOT, 'build'),
        '-I',
        join(ROOT, 'bpf'),
        '-c',
        fsrc,
        '-o',
        FLOOR_OBJ,
      ]),
      { stdio: 'inherit' },
    );
  }
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** bpftrace's path, installing it with apt-get when missing; undefined if that fails. */
export function ensureBpftrace(): string | undefined {
  if (!has('bpftrace')) {
    process.stderr.write('bench: installing bpftrace (apt-get)\n');
    try {
      execFileSync('apt-get', ['install', '-y', 'bpftrace'], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch {
      return undefined;
    }
  }
  return has('bpftrace') ? 'bpftrace' : undefined;
}

export interface ProgInfo {
  id: number;
  name: string;
  type: string;
}

export function bpfPrograms(): ProgInfo[] {
  try {
    const out = execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
    return (JSON.parse(out) as Array<{ id: number; name?: string; type: string }>).map((p) => ({
      id: p.id,
      name: p.name ?? '',
      type: p.type,
    }));
  } catch {
    return [];
  }
}

/** Which processes hold a BPF program (an fd of it or of a link to it), from /proc/PID/fdinfo. */
export function holders(progId: number): string {
  const out: string[] = [];
  const re = new RegExp(`^prog_id:\\s+${progId}$`, 'm');
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const fds = readdirSync(`/proc/${pid}/fdinfo`);
      if (!fds.some((fd) => re.test(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')))) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push(`pid ${pid}: ${cmd.slice(0, 100)}`);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out.length ? `held by ${out.join('; ')}` : 'held by no process: pinned or leaked';
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  kernel: string;
  node: string;
  memMiB: number;
  loadavg: string;
  date: string;
}

export function machine(): Machine {
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    kernel: release(),
    node: process.version,
    memMiB: Math.round(Number(mem) / 1024),
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    date: new Date().toISOString(),
  };
}

/** The bpftrace equivalent of trace open: the same syscalls, printing the same fields. */
export const BPFTRACE_SCRIPT = `
tracepoint:syscalls:sys_enter_open,
tracepoint:syscalls:sys_enter_openat
{ @path[tid] = args->filename; @flags[tid] = args->flags; @mode[tid] = args->mode; }
tracepoint:syscalls:sys_enter_creat
{ @path[tid] = args->pathname; @flags[tid] = 0x241; @mode[tid] = args->mode; }
tracepoint:syscalls:sys_enter_openat2
{ @path[tid] = args->filename; @flags[tid] = 0; @mode[tid] = 0; }
tracepoint:syscalls:sys_exit_open,
tracepoint:syscalls:sys_exit_openat,
tracepoint:syscalls:sys_exit_creat,
tracepoint:syscalls:sys_exit_openat2
/@path[tid]/
{
  printf("%llu %llu %d %d %d %d %s %d %d %o %s\\n", nsecs, curtask->nsproxy->mnt_ns->ns.inum,
         pid, tid, uid, gid, comm, args->ret, @flags[tid], @mode[tid], str(@path[tid]));
  delete(@path[tid]); delete(@flags[tid]); delete(@mode[tid]);
}
`;
