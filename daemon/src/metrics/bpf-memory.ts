// Locked memory of the BPF maps and programs this process holds, from /proc/<pid>/fdinfo (the
// kernel's own memlock accounting, what bpftool prints), without bpftool. Each object is counted
// once, by its id, however many descriptors refer to it.

import { readdir, readFile } from 'node:fs/promises';

export interface BpfMemlock {
  maps: number;
  progs: number;
}

/** The memlock sums of the BPF objects open in `fdinfoDir` (default: this process's). */
export async function bpfMemlock(fdinfoDir = '/proc/self/fdinfo'): Promise<BpfMemlock> {
  const out: BpfMemlock = { maps: 0, progs: 0 };
  let fds: string[];
  try {
    fds = await readdir(fdinfoDir);
  } catch {
    return out;
  }
  const seen = new Set<string>();
  for (const fd of fds) {
    let text: string;
    try {
      text = await readFile(`${fdinfoDir}/${fd}`, 'utf8');
    } catch {
      continue; // closed since the listing
    }
    const o = parseFdinfo(text);
    if (!o) continue;
    const key = `${o.kind}:${o.id ?? `fd${fd}`}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (o.kind === 'map') out.maps += o.memlock;
    else out.progs += o.memlock;
  }
  return out;
}

/** A BPF map's or program's fdinfo: its kind, id (kernels since 4.13/4.19) and memlock. */
export function parseFdinfo(
  text: string,
): { kind: 'map' | 'prog'; id?: string; memlock: number } | undefined {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text)?.[1];
  const kind =
    field('map_type') !== undefined ? 'map' : field('prog_type') !== undefined ? 'prog' : undefined;
  if (!kind) return undefined;
  const memlock = Number(field('memlock') ?? 0);
  const id = field(kind === 'map' ? 'map_id' : 'prog_id');
  return { kind, ...(id ? { id } : {}), memlock: Number.isFinite(memlock) ? memlock : 0 };
}
