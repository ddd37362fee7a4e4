// Byte layouts of the traceloop maps' values (gadgets/traceloop/program.bpf.c) and small
// readers/writers over BpfMap. Sizes are checked against the kernel's maps when they are opened.

import type { BpfMap } from '../bpf/index.js';

export const MAP_NAMES = [
  'tl_slots',
  'tl_data',
  'tl_meta',
  'tl_ident',
  'tl_ns',
  'tl_cfg',
  'tl_info',
  'tl_session',
  'tl_epoch',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

export const VALUE_SIZES: Record<MapName, number> = {
  tl_slots: 128,
  tl_data: 264,
  tl_meta: 80,
  tl_ident: 352,
  tl_ns: 24,
  tl_cfg: 40,
  tl_info: 1024,
  tl_session: 1024,
  tl_epoch: 8,
};

/** a slot's header (tl_slots) and data (tl_data) */
export const SLOT_HEADER_BYTES = 128;
export const SLOT_DATA_BYTES = 264;
export const SLOT_BYTES = SLOT_HEADER_BYTES + SLOT_DATA_BYTES;
/** offsets in struct tl_slot */
export const SLOT_LEN = 94;
export const SLOT_BACK = 112;

export const STATE_FREE = 0;
export const STATE_CLAIMING = 1;
export const STATE_RUNNING = 2;
export const STATE_EXITED = 3;

export const NS_RECORD = 1;
export const NS_IGNORE = 2;
export const NS_NOSPACE = 3;

export interface Meta {
  head: bigint;
  base: bigint;
  gen: number;
  mntns: number;
  nsId: bigint;
  claimedTs: bigint;
  exitedTs: bigint;
  state: number;
  exitCode: number;
  initTgid: number;
  exits: number;
}

export function parseMeta(b: Buffer): Meta {
  return {
    head: b.readBigUInt64LE(0),
    base: b.readBigUInt64LE(8),
    gen: Number(b.readBigUInt64LE(16)),
    mntns: Number(b.readBigUInt64LE(24)),
    nsId: b.readBigUInt64LE(32),
    claimedTs: b.readBigUInt64LE(40),
    exitedTs: b.readBigUInt64LE(48),
    state: Number(b.readBigUInt64LE(56)),
    exitCode: b.readInt32LE(64),
    initTgid: b.readUInt32LE(68),
    exits: b.readUInt32LE(72),
  };
}

/** Only the state field is rewritten; the caller made sure no writer uses the set. */
export function metaWithState(b: Buffer, state: number): Buffer {
  const out = Buffer.from(b);
  out.writeBigUInt64LE(BigInt(state), 56);
  return out;
}

export interface Ident {
  gen: number;
  cgroup: string;
  cgroupParent: string;
  nodename: string;
  comm: string;
}

function cstr(b: Buffer, start: number, end: number): string {
  const nul = b.indexOf(0, start);
  return b.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
}

export function parseIdent(b: Buffer): Ident {
  return {
    gen: Number(b.readBigUInt64LE(0)),
    cgroup: cstr(b, 8, 136),
    cgroupParent: cstr(b, 136, 264),
    nodename: cstr(b, 264, 329),
    comm: cstr(b, 329, 345),
  };
}

export interface NsEntry {
  nsId: bigint;
  gen: number;
  set: number;
  kind: number;
}

export function parseNs(b: Buffer): NsEntry {
  return {
    nsId: b.readBigUInt64LE(0),
    gen: Number(b.readBigUInt64LE(8)),
    set: b.readUInt32LE(16),
    kind: b.readUInt32LE(20),
  };
}

export function encodeNs(e: NsEntry): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(e.nsId, 0);
  b.writeBigUInt64LE(BigInt(e.gen), 8);
  b.writeUInt32LE(e.set, 16);
  b.writeUInt32LE(e.kind, 20);
  return b;
}

export interface Counters {
  nextGen: number;
  claims: number;
  evictions: number;
  nospace: number;
  torn: number;
}

export function parseCfg(b: Buffer): Counters {
  return {
    nextGen: Number(b.readBigUInt64LE(0)),
    claims: Number(b.readBigUInt64LE(8)),
    evictions: Number(b.readBigUInt64LE(16)),
    nospace: Number(b.readBigUInt64LE(24)),
    torn: Number(b.readBigUInt64LE(32)),
  };
}

export interface Info {
  gen: number;
  exitedTs: bigint;
  base: bigint;
  json: string;
}

export const INFO_JSON_MAX = 992;

export function parseInfo(b: Buffer): Info {
  const len = Math.min(b.readUInt32LE(24), INFO_JSON_MAX);
  return {
    gen: Number(b.readBigUInt64LE(0)),
    exitedTs: b.readBigUInt64LE(8),
    base: b.readBigUInt64LE(16),
    json: b.toString('utf8', 32, 32 + len),
  };
}

export function encodeInfo(i: Info): Buffer {
  const b = Buffer.alloc(1024);
  b.writeBigUInt64LE(BigInt(i.gen), 0);
  b.writeBigUInt64LE(i.exitedTs, 8);
  b.writeBigUInt64LE(i.base, 16);
  const json = Buffer.from(i.json, 'utf8');
  if (json.length > INFO_JSON_MAX) throw new Error('traceloop: container metadata too large');
  b.writeUInt32LE(json.length, 24);
  json.copy(b, 32);
  return b;
}

export function encodeSession(json: string): Buffer {
  const b = Buffer.alloc(1024);
  const j = Buffer.from(json, 'utf8');
  if (j.length > 1020) throw new Error('traceloop: session too large to store');
  b.writeUInt32LE(j.length, 0);
  j.copy(b, 4);
  return b;
}

export function parseSession(b: Buffer): string {
  const len = Math.min(b.readUInt32LE(0), 1020);
  return b.toString('utf8', 4, 4 + len);
}

export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function u64Key(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Checks a map opened from a pin is the one this code knows. */
export function checkMap(name: MapName, m: BpfMap): void {
  if (m.valueSize !== VALUE_SIZES[name]) {
    throw new Error(
      `traceloop: pinned map ${name} has ${m.valueSize}-byte values, expected ${VALUE_SIZES[name]} (left by another version: delete it with \`traceloop delete\`)`,
    );
  }
}
