// Builds traceloop's test aids into build/traceloop/: the static fidelity and loop workloads and
// the benchmark's floor object. Idempotent (rebuilt when a source is newer).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../framework/paths.js';

export const ROOT = packageRoot();
export const OUT = join(ROOT, 'build', 'traceloop');
const SRC = join(ROOT, 'gadgets', 'traceloop', 'testdata');

function stale(out: string, ...srcs: string[]): boolean {
  if (!existsSync(out)) return true;
  const t = statSync(out).mtimeMs;
  return srcs.some((s) => statSync(s).mtimeMs > t);
}

function staticProgram(name: string): string {
  const out = join(OUT, name);
  const src = join(SRC, `${name}.c`);
  if (stale(out, src)) {
    mkdirSync(OUT, { recursive: true });
    execFileSync('cc', ['-O1', '-Wall', '-Werror', '-static', '-pthread', '-o', out, src], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return out;
}

/** build/traceloop/fidelity */
export const buildFidelity = (): string => staticProgram('fidelity');
/** build/traceloop/loop */
export const buildLoop = (): string => staticProgram('loop');

/** build/traceloop/floor.bpf.o: empty tp_btf sys_enter/sys_exit programs */
export const buildFloor = (): string => bpfObject('floor');

/** build/traceloop/helper-cost.bpf.o: helpers called in loops (e2e/bench/helper-cost.ts) */
export const buildHelperCost = (): string => bpfObject('helper-cost');

function bpfObject(name: string): string {
  const out = join(OUT, `${name}.bpf.o`);
  const src = join(SRC, `${name}.bpf.c`);
  const vmlinux = join(ROOT, 'build', 'vmlinux.h');
  if (stale(out, src, vmlinux)) {
    mkdirSync(OUT, { recursive: true });
    execFileSync(
      'clang',
      [
        '-O2',
        '-g',
        '-target',
        'bpf',
        '-D__TARGET_ARCH_x86',
        '-Wall',
        '-Werror',
        '-I',
        join(ROOT, 'build'),
        '-c',
        src,
        '-o',
        out,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }
  return out;
}

/** build/traceloop/structs: the calls whose structures `show` decodes */
export const buildStructs = (): string => staticProgram('structs');
