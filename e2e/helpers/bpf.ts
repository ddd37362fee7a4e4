// Leak checks: which BPF objects (programs, maps, links, BTF) a process holds, read from
// /proc/<pid>/fdinfo, and whether they are gone from the kernel (bpftool -j ... show) after the
// process ended its run or died. Object ids are allocated cyclically and not reused soon, so
// "every id this run held is gone" is exact even while other processes load BPF objects.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './cli.js';

export type Kind = 'prog' | 'map' | 'link' | 'btf';
export const KINDS: readonly Kind[] = ['prog', 'map', 'link', 'btf'];

export type BpfIds = Record<Kind, Set<number>>;

export function emptyIds(): BpfIds {
  return { prog: new Set(), map: new Set(), link: new Set(), btf: new Set() };
}

export function bpftoolAvailable(): boolean {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface ProgInfo {
  id: number;
  name?: string;
  map_ids?: number[];
  btf_id?: number;
}
interface MapInfo {
  id: number;
  name?: string;
  btf_id?: number;
}
interface LinkInfo {
  id: number;
  prog_id?: number;
}

function bpftool<T>(what: string): T[] {
  const out = execFileSync('bpftool', ['-j', what, 'show'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return out.trim() ? (JSON.parse(out) as T[]) : [];
}

/** Every BPF object the kernel has now. */
export function liveObjects(): {
  progs: ProgInfo[];
  maps: MapInfo[];
  links: LinkInfo[];
  btf: number[];
} {
  return {
    progs: bpftool<ProgInfo>('prog'),
    maps: bpftool<MapInfo>('map'),
    links: bpftool<LinkInfo>('link'),
    btf: bpftool<{ id: number }>('btf').map((b) => b.id),
  };
}

export function liveIds(): BpfIds {
  const o = liveObjects();
  return {
    prog: new Set(o.progs.map((p) => p.id)),
    map: new Set(o.maps.map((m) => m.id)),
    link: new Set(o.links.map((l) => l.id)),
    btf: new Set(o.btf),
  };
}

/** The BPF objects a process holds through its file descriptors (empty once it is gone). */
export function heldBy(pid: number): BpfIds {
  const ids = emptyIds();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return ids;
  }
  for (const fd of fds) {
    let target: string;
    let info: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (!target.startsWith('anon_inode:')) continue;
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const field = (name: string): number | undefined => {
      const m = new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(info);
      return m ? Number(m[1]) : undefined;
    };
    const link = field('link_id');
    if (link !== undefined) {
      ids.link.add(link);
      const p = field('prog_id');
      if (p !== undefined) ids.prog.add(p);
      continue;
    }
    const prog = field('prog_id');
    if (prog !== undefined) ids.prog.add(prog);
    const map = field('map_id');
    if (map !== undefined) ids.map.add(map);
    const btf = field('btf_id');
    if (btf !== undefined && target.includes('btf')) ids.btf.add(btf);
  }
  return ids;
}

/**
 * heldBy(pid) plus what its programs and maps reference (maps only a program holds, such as
 * .rodata, and the BTF objects), read from bpftool.
 */
export function heldClosure(pid: number): BpfIds {
  const ids = heldBy(pid);
  const o = liveObjects();
  for (const p of o.progs) {
    if (!ids.prog.has(p.id)) continue;
    for (const m of p.map_ids ?? []) ids.map.add(m);
    if (p.btf_id) ids.btf.add(p.btf_id);
  }
  for (const m of o.maps) if (ids.map.has(m.id) && m.btf_id) ids.btf.add(m.btf_id);
  return ids;
}

export function union(a: BpfIds, b: BpfIds): BpfIds {
  const out = emptyIds();
  for (const k of KINDS) for (const s of [a[k], b[k]]) for (const v of s) out[k].add(v);
  return out;
}

export function minus(a: BpfIds, b: BpfIds): BpfIds {
  const out = emptyIds();
  for (const k of KINDS) for (const v of a[k]) if (!b[k].has(v)) out[k].add(v);
  return out;
}

export function intersect(a: BpfIds, b: BpfIds): BpfIds {
  const out = emptyIds();
  for (const k of KINDS) for (const v of a[k]) if (b[k].has(v)) out[k].add(v);
  return out;
}

export function count(ids: BpfIds): number {
  return KINDS.reduce((n, k) => n + ids[k].size, 0);
}

export function fmt(ids: BpfIds): string {
  return KINDS.filter((k) => ids[k].size)
    .map((k) => `${k} ${[...ids[k]].sort((x, y) => x - y).join(',')}`)
    .join('; ');
}

/** Waits until none of `ids` exists in the kernel; throws naming the survivors. */
export async function waitReleased(
  ids: BpfIds,
  timeoutMs = 10_000,
  what = 'objects',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = intersect(ids, liveIds());
    if (count(left) === 0) return;
    if (Date.now() >= deadline)
      throw new Error(`${what}: still loaded ${timeoutMs} ms later: ${fmt(left)}`);
    await sleep(100);
  }
}

/** Every entry under /sys/fs/bpf (the bpffs pins), recursively. */
export function bpffsEntries(root = '/sys/fs/bpf'): string[] {
  const out: string[] = [];
  if (!existsSync(root)) return out;
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      out.push(p);
      try {
        if (statSync(p).isDirectory()) walk(p);
      } catch {
        /* removed meanwhile */
      }
    }
  };
  walk(root);
  return out.sort();
}

/** Names our objects use (gadget programs, the tracker, the shared maps). */
export const OUR_PROG_NAMES = /^(trace_|tracker_)/;
export const OUR_MAP_NAMES =
  /^(events|gadget_|open_scratch|unshare_mntns|exec_scratch|trace_|containe)/;

/**
 * Programs and maps with our names, created after `since`, that nothing keeps alive: no process
 * holds an fd, no link points at the program, no live program uses the map. Such an object is
 * a leak (a pin, or an attachment without a link).
 */
export function orphans(since: BpfIds): BpfIds {
  const o = liveObjects();
  const heldAnywhere = emptyIds();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const h = heldBy(Number(p));
    for (const k of KINDS) for (const v of h[k]) heldAnywhere[k].add(v);
  }
  const linked = new Set(o.links.map((l) => l.prog_id));
  const usedMaps = new Set(o.progs.flatMap((p) => p.map_ids ?? []));
  const out = emptyIds();
  for (const p of o.progs) {
    if (since.prog.has(p.id) || !OUR_PROG_NAMES.test(p.name ?? '')) continue;
    if (!heldAnywhere.prog.has(p.id) && !linked.has(p.id)) out.prog.add(p.id);
  }
  for (const m of o.maps) {
    if (since.map.has(m.id) || !OUR_MAP_NAMES.test(m.name ?? '')) continue;
    if (!heldAnywhere.map.has(m.id) && !usedMaps.has(m.id)) out.map.add(m.id);
  }
  return out;
}

/**
 * Before/after bookkeeping for one test: the kernel's objects and pins before, the objects each
 * watched process held while it ran; after: all of those gone, no new pins, no new orphans.
 */
export class LeakCheck {
  readonly before: BpfIds;
  readonly pinsBefore: string[];
  readonly tracked = emptyIds();

  constructor() {
    this.before = liveIds();
    this.pinsBefore = bpffsEntries();
  }

  /** Records what `pid` holds now (call while its run is attached); returns that. */
  track(pid: number): BpfIds {
    const h = heldClosure(pid);
    for (const k of KINDS) for (const v of h[k]) this.tracked[k].add(v);
    return h;
  }

  /**
   * Everything tracked is gone from the kernel, and nothing new is pinned or orphaned. Objects
   * pinned on purpose (traceloop's recordings, which outlive the daemon) are the exception:
   * the new-pin check below still catches a pin of ours.
   */
  async assertClean(timeoutMs = 10_000): Promise<void> {
    if (count(this.tracked) === 0) throw new Error('LeakCheck: nothing was tracked');
    await waitReleased(minus(this.tracked, pinnedIds()), timeoutMs, 'objects held by the run');
    await this.assertNothingNew();
  }

  /** No new pins of our objects under /sys/fs/bpf, and no new objects of ours nobody holds. */
  async assertNothingNew(): Promise<void> {
    // an orphan may be an object of a process that is closing right now: confirm it persists
    let left = orphans(this.before);
    for (let i = 0; i < 20 && count(left) > 0; i++) {
      await sleep(150);
      left = intersect(left, orphans(this.before));
    }
    if (count(left) > 0) throw new Error(`BPF objects nobody holds: ${fmt(left)}`);
    // other components' tests may pin their own objects meanwhile: only ours count
    const pins = bpffsEntries()
      .filter((p) => !this.pinsBefore.includes(p))
      .filter((p) => pinnedName(p) !== undefined);
    if (pins.length)
      throw new Error(`new pins of our objects under /sys/fs/bpf: ${pins.join(', ')}`);
  }
}

/** Objects kept alive by a pin under /sys/fs/bpf, with the maps and BTF they reference. */
export function pinnedIds(): BpfIds {
  const ids = emptyIds();
  for (const path of bpffsEntries()) {
    for (const kind of ['prog', 'map', 'link'] as const) {
      let info: { id?: number; map_ids?: number[]; btf_id?: number; prog_id?: number };
      try {
        info = JSON.parse(
          execFileSync('bpftool', ['-j', kind, 'show', 'pinned', path], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
          }),
        ) as typeof info;
      } catch {
        continue;
      }
      if (info.id === undefined) continue;
      ids[kind].add(info.id);
      if (info.prog_id !== undefined) ids.prog.add(info.prog_id);
      for (const m of info.map_ids ?? []) ids.map.add(m);
      if (info.btf_id) ids.btf.add(info.btf_id);
      break;
    }
  }
  if (ids.prog.size || ids.map.size) {
    const o = liveObjects();
    for (const p of o.progs) {
      if (!ids.prog.has(p.id)) continue;
      for (const m of p.map_ids ?? []) ids.map.add(m);
      if (p.btf_id) ids.btf.add(p.btf_id);
    }
    for (const m of o.maps) if (ids.map.has(m.id) && m.btf_id) ids.btf.add(m.btf_id);
  }
  return ids;
}

/** The name of our program or map (or a link to our program) pinned at `path`, if it is one. */
export function pinnedName(path: string): string | undefined {
  for (const kind of ['prog', 'map', 'link']) {
    let info: { name?: string; prog_id?: number };
    try {
      info = JSON.parse(
        execFileSync('bpftool', ['-j', kind, 'show', 'pinned', path], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }),
      ) as { name?: string; prog_id?: number };
    } catch {
      continue;
    }
    if (kind === 'prog' && OUR_PROG_NAMES.test(info.name ?? '')) return info.name;
    if (kind === 'map' && OUR_MAP_NAMES.test(info.name ?? '')) return info.name;
    if (kind === 'link' && info.prog_id !== undefined) {
      const prog = liveObjects().progs.find((p) => p.id === info.prog_id);
      if (prog && OUR_PROG_NAMES.test(prog.name ?? '')) return prog.name;
    }
  }
  return undefined;
}
