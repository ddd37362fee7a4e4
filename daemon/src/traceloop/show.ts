// Showing a recording: its container picked from a user's reference, and its slots read from
// the pinned maps in sequence order, framed for the wire as a run's batches.

import type { BpfMap } from '../bpf/index.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import { clip, RunError } from '../../../gadgets/framework/errors.js';
import { closeMatches } from '../../../gadgets/traceloop/table.js';
import {
  SLOT_BACK,
  SLOT_DATA_BYTES,
  SLOT_LEN,
  parseInfo,
  parseMeta,
  u32Key,
  type MapName,
  type Meta,
} from './maps.js';
import { matchesSpec } from '../../../gadgets/framework/container-spec.js';

/** A recording that may be picked: named (container) unless it is still being resolved. */
interface Named {
  gen: number;
  container?: ContainerInfo;
}

/** A recording evicted by the memory cap (what `show` and `delete` then report). */
export interface Tombstone {
  gen: number;
  container: ContainerInfo;
  evictedAt: number;
  why: string;
}

/**
 * The recording's slots in seq order, framed for the wire: each record is the 128-byte slot
 * header followed by its `len` data bytes. A slot with data is read header, data, header: the
 * data is kept only if the header did not change meanwhile (its writer would have changed
 * `back` before touching the data).
 */
export function* readSlots(
  maps: Partial<Record<MapName, BpfMap>>,
  nslots: number,
  r: { set: number; gen: number },
  m: Meta,
): Generator<{ records: Buffer; count: number }> {
  const info = parseInfo(maps.tl_info!.lookup(u32Key(r.set))!);
  let lo = m.base;
  if (info.gen === r.gen && info.base > lo) lo = info.base;
  const head = parseMeta(maps.tl_meta!.lookup(u32Key(r.set))!).head;
  if (head - lo > BigInt(nslots)) lo = head - BigInt(nslots);
  const slots = maps.tl_slots!;
  const data = maps.tl_data!;
  const PER_BATCH = 1024;
  let parts: Buffer[] = [];
  let n = 0;
  const key = Buffer.alloc(4);
  const lenPrefix = (len: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(len);
    return b;
  };
  for (let seq = lo + 1n; seq <= head; seq++) {
    key.writeUInt32LE(r.set * nslots + Number((seq - 1n) & BigInt(nslots - 1)));
    let rec: Buffer | null = null;
    for (let attempt = 0; attempt < 3 && !rec; attempt++) {
      const h = slots.lookup(key);
      if (!h) break;
      const front = h.readBigUInt64LE(0);
      if (front !== h.readBigUInt64LE(SLOT_BACK)) continue; // being written: read again
      if (front >> 1n !== seq) break; // overwritten by a newer record
      const len = Math.min(h.readUInt16LE(SLOT_LEN), SLOT_DATA_BYTES);
      if (len === 0) {
        rec = h;
        break;
      }
      const d = data.lookup(key);
      const again = slots.lookup(key);
      if (!d || !again || again.readBigUInt64LE(SLOT_BACK) !== front) continue;
      rec = Buffer.concat([h, d.subarray(0, len)]);
    }
    if (!rec) continue;
    const pad = (8 - ((4 + rec.length) % 8)) % 8;
    parts.push(lenPrefix(rec.length), rec);
    if (pad) parts.push(Buffer.alloc(pad));
    n++;
    if (n === PER_BATCH) {
      yield { records: Buffer.concat(parts), count: n };
      parts = [];
      n = 0;
    }
  }
  if (n > 0) yield { records: Buffer.concat(parts), count: n };
}

/** Recordings (named ones) matching a user's container reference (all instances). */
export function pick<R extends Named>(
  all: R[],
  tombstones: readonly Tombstone[],
  spec: string,
  instance: number,
  forDelete = false,
): R[] {
  const s = spec.trim();
  let hits = all.filter((r) => matchesSpec(s, r.container!));
  if (instance) hits = hits.filter((r) => r.gen === instance);
  if (hits.length) return hits;
  const evicted = tombstones.filter(
    (t) => matchesSpec(s, t.container) && (!instance || t.gen === instance),
  );
  if (evicted.length) {
    const t = evicted[evicted.length - 1]!;
    throw new RunError(
      'NOT_FOUND',
      `the recording of ${s} (instance ${t.gen}) was evicted at ${new Date(t.evictedAt).toISOString()}: ${t.why}`,
      'raise the cap with `traceloop start --max-memory`, or record fewer syscalls per container',
    );
  }
  if (instance && all.some((r) => matchesSpec(s, r.container!))) {
    const gens = all.filter((r) => matchesSpec(s, r.container!)).map((r) => r.gen);
    throw new RunError(
      'NOT_FOUND',
      `no instance ${instance} of ${s}: instances are ${gens.join(', ')}`,
    );
  }
  throw noRecordingError(
    s,
    all.map((r) => r.container!),
    forDelete,
  );
}

/** The newest instance (or the one asked for) of exactly one container, and its others. */
export function pickOne<R extends Named>(
  all: R[],
  tombstones: readonly Tombstone[],
  spec: string,
  instance: number,
): [R, R[]] {
  const hits = pick(all, tombstones, spec, instance);
  const groups = new Map<string, R[]>();
  for (const r of hits) {
    const k = identityKey(r.container!);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  if (groups.size > 1) {
    throw new RunError(
      'INVALID_ARGUMENT',
      `${spec} matches several containers: ${[...groups.keys()].join(', ')}`,
      'name one of them (pod/container, or a container id)',
    );
  }
  const list = [...groups.values()][0]!.sort((a, b) => b.gen - a.gen);
  return [list[0]!, list.slice(1)];
}

/** Instances of "the same container": a Kubernetes container of a pod, else the name (podman). */
function identityKey(c: ContainerInfo): string {
  if (c.k8s?.pod) return `${c.k8s.namespace}/${c.k8s.pod}/${c.k8s.container}`;
  return c.name || c.id;
}

/** "no recording for X", with the close matches among the recordings the caller may see. */
export function noRecordingError(
  s: string,
  containers: readonly ContainerInfo[],
  forDelete = false,
): RunError {
  const names = new Set<string>();
  for (const c of containers) {
    if (c.name) names.add(c.name);
    if (c.id) names.add(c.id.slice(0, 12));
    if (c.k8s?.pod) {
      names.add(c.k8s.pod);
      names.add(`${c.k8s.pod}/${c.k8s.container}`);
    }
  }
  const close = closeMatches(s, names, 5);
  return new RunError(
    'NOT_FOUND',
    `no recording for ${clip(s)}` +
      (close.length
        ? `; close matches: ${close.join(', ')}`
        : names.size
          ? `; recorded: ${[...names].slice(0, 8).join(', ')}`
          : ''),
    forDelete ? undefined : 'list recordings with `kubectl gadget traceloop list`',
  );
}

export { matchesSpec };
