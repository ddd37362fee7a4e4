// The end-of-run drain: a flow's repeats are reported at most every report interval, so the
// last ones of a run are still in the kernel's `flows` map when it stops. drainFlows() turns
// the map's entries into ring-buffer records (the same `struct event` layout) carrying the
// counts not reported yet. The runtime (daemon/src/runtime/local.ts) reads the map before it
// closes the object, through the descriptor's `drain` (gadget.ts).

import type { RecordLayout } from '../framework/types.js';

/** struct flow_key (program.bpf.c) */
export const FLOW_KEY = {
  size: 28,
  netns: 0,
  direction: 4,
  proto: 5,
  family: 6,
  port: 8,
  raddr: 12,
} as const;
/** struct flow_val (program.bpf.c) */
export const FLOW_VAL = {
  size: 112,
  first_ns: 0,
  last_ns: 8,
  count: 24,
  reported: 32,
  mntns: 40,
  mntns_uid: 48,
  netns_uid: 56,
  pid: 64,
  lport: 68,
  rport: 70,
  laddr: 72,
  comm: 88,
  source: 104,
} as const;

/** Framed records (u32 length, payload, padding to 8) of the counts the map holds unreported. */
export function drainFlows(
  entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
  layout: RecordLayout,
): { records: Buffer; count: number } {
  const off = new Map(layout.fields.map((f) => [f.name, f.offset]));
  const at = (name: string): number => {
    const o = off.get(name);
    if (o === undefined) throw new Error(`layout ${layout.struct}: no field ${name}`);
    return o;
  };
  const size = layout.size;
  const frame = (4 + size + 7) & ~7;
  const parts: Buffer[] = [];
  for (const [kRaw, vRaw] of entries) {
    const k = Buffer.from(kRaw.buffer, kRaw.byteOffset, kRaw.byteLength);
    const v = Buffer.from(vRaw.buffer, vRaw.byteOffset, vRaw.byteLength);
    if (k.length < FLOW_KEY.size || v.length < FLOW_VAL.size) continue;
    const pending = v.readBigUInt64LE(FLOW_VAL.count) - v.readBigUInt64LE(FLOW_VAL.reported);
    if (pending <= 0n) continue;
    const out = Buffer.alloc(frame);
    out.writeUInt32LE(size, 0);
    const r = out.subarray(4, 4 + size);
    r.writeBigUInt64LE(v.readBigUInt64LE(FLOW_VAL.last_ns), at('timestamp'));
    r.writeBigUInt64LE(v.readBigUInt64LE(FLOW_VAL.mntns), at('mntns_id'));
    // the join key of records with one (a layout without it: an older object)
    const uidOff = off.get('mntns_uid');
    if (uidOff !== undefined) r.writeBigUInt64LE(v.readBigUInt64LE(FLOW_VAL.mntns_uid), uidOff);
    r.writeUInt32LE(v.readUInt32LE(FLOW_VAL.pid), at('pid'));
    r.writeUInt32LE(k.readUInt32LE(FLOW_KEY.netns), at('netns_id'));
    v.copy(r, at('comm'), FLOW_VAL.comm, FLOW_VAL.comm + 16);
    r.writeBigUInt64LE(v.readBigUInt64LE(FLOW_VAL.first_ns), at('first_seen'));
    r.writeBigUInt64LE(pending, at('count'));
    r[at('direction')] = k[FLOW_KEY.direction]!;
    r[at('proto')] = k[FLOW_KEY.proto]!;
    r[at('family')] = k[FLOW_KEY.family]!;
    r[at('source')] = v[FLOW_VAL.source]!;
    r.writeUInt16LE(k.readUInt16LE(FLOW_KEY.port), at('port'));
    r.writeUInt16LE(v.readUInt16LE(FLOW_VAL.lport), at('lport'));
    r.writeUInt16LE(v.readUInt16LE(FLOW_VAL.rport), at('rport'));
    v.copy(r, at('laddr'), FLOW_VAL.laddr, FLOW_VAL.laddr + 16);
    k.copy(r, at('raddr'), FLOW_KEY.raddr, FLOW_KEY.raddr + 16);
    parts.push(out);
  }
  return { records: Buffer.concat(parts), count: parts.length };
}
