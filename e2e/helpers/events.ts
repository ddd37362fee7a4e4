// Assertions on the CLI's NDJSON events: the exact key set, exact fields, the timestamp format
// and range, and an independent oracle for how bytes that are not UTF-8 must be escaped.

import assert from 'node:assert/strict';
import type { GadgetDescriptor } from '../../gadgets/framework/types.js';
import type { Ev } from './cli.js';

export const COMMON_KEYS = [
  'timestamp',
  'node',
  'namespace',
  'pod',
  'container',
  'container_id',
  'runtime',
  'mntns_id',
  'pid',
  'tid',
  'uid',
  'gid',
  'comm',
];

/**
 * The keys of a gadget's JSON events: its declared columns (hidden ones included), which are the
 * common fields plus the gadget's own. Asserting them checks the transform against the columns.
 */
export function eventKeys(descriptor: Pick<GadgetDescriptor, 'columns'>): string[] {
  const keys = descriptor.columns.map((c) => c.name);
  for (const k of COMMON_KEYS) assert.ok(keys.includes(k), `common field ${k} has no column`);
  return keys;
}

/** The event has exactly these keys (order not checked). */
export function assertKeys(ev: Ev, keys: readonly string[]): void {
  assert.deepEqual(Object.keys(ev).sort(), [...keys].sort(), `keys of ${JSON.stringify(ev)}`);
}

/** The fields of `expected` are exactly equal in `ev` (others ignored). */
export function assertFields(ev: Ev, expected: Record<string, unknown>, what = 'event'): void {
  const got: Record<string, unknown> = {};
  for (const k of Object.keys(expected)) got[k] = ev[k];
  assert.deepEqual(got, expected, `${what}: ${JSON.stringify(ev)}`);
}

const RFC3339_NS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{9})Z$/;

/** Nanoseconds since the epoch of an RFC 3339 timestamp with exactly 9 fractional digits (UTC). */
export function timestampNs(ts: unknown): bigint {
  const m = RFC3339_NS.exec(String(ts));
  assert.ok(m, `timestamp ${String(ts)} is not RFC 3339 with 9 fractional digits (UTC)`);
  const secs = Date.parse(m[1] + 'Z');
  assert.ok(Number.isFinite(secs), `timestamp ${String(ts)}: bad date`);
  return BigInt(secs) * 1_000_000n + BigInt(m[2]!);
}

/**
 * The timestamp is well-formed and inside [fromMs - slack, toMs + slack] (wall clock, taken
 * around the workload that caused the event).
 */
export function assertTimestamp(ev: Ev, fromMs: number, toMs: number, slackMs = 1000): bigint {
  const ns = timestampNs(ev.timestamp);
  const lo = BigInt(fromMs - slackMs) * 1_000_000n;
  const hi = BigInt(toMs + slackMs) * 1_000_000n;
  assert.ok(
    ns >= lo && ns <= hi,
    `timestamp ${String(ev.timestamp)} outside [${new Date(fromMs - slackMs).toISOString()}, ${new Date(toMs + slackMs).toISOString()}]`,
  );
  return ns;
}

/** Timestamps of the events do not go backwards. */
export function assertOrdered(evs: readonly Ev[]): void {
  for (let i = 1; i < evs.length; i++) {
    assert.ok(
      timestampNs(evs[i - 1]!.timestamp) <= timestampNs(evs[i]!.timestamp),
      `events out of order: ${JSON.stringify(evs[i - 1])} then ${JSON.stringify(evs[i])}`,
    );
  }
}

/** Length of the valid UTF-8 sequence at i, or 0 (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
function utf8SeqLen(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean =>
    j < b.length && b[j]! >= lo && b[j]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/** What the tracer must print for these bytes: valid UTF-8 as is, each other byte as \xNN. */
export function escaped(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let out = '';
  for (let i = 0; i < b.length;) {
    const n = utf8SeqLen(b, i);
    if (n === 0) {
      out += '\\x' + b[i]!.toString(16).padStart(2, '0');
      i++;
    } else {
      out += Buffer.from(b.subarray(i, i + n)).toString('utf8');
      i += n;
    }
  }
  return out;
}

/** Events of one process (pid), in output order. */
export function byPid(evs: readonly Ev[], pid: number): Ev[] {
  return evs.filter((e) => e.pid === pid);
}

export function describe(evs: readonly Ev[]): string {
  return evs.map((e) => JSON.stringify(e)).join('\n');
}

/** `list-containers -o json` output lists each of these running podman containers exactly once. */
export function assertListsContainers(
  stdout: string,
  containers: ReadonlyArray<{ name: string; id: string; pid: number; mntns: number }>,
): void {
  const list = JSON.parse(stdout) as Array<Record<string, unknown>>;
  for (const c of containers) {
    const got = list.filter((x) => x.name === c.name);
    assert.equal(got.length, 1, stdout);
    assertFields(got[0]!, {
      runtime: 'podman',
      id: c.id,
      name: c.name,
      pid: c.pid,
      mntnsId: c.mntns,
      state: 'running',
    });
  }
}
