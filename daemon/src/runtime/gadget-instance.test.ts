// The union of the runs' container filters that a shared gadget's kernel runs (FilterUnion), and
// the fan-out's per-run filter (filterBatch with a record filter).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FILTER_EXCLUDE, FILTER_INCLUDE, FILTER_NONE } from '../containers/admit.js';
import { frameRecords, splitRecords } from '../../../proto/ts/records.js';
import { FilterUnion, sameGlobals, type KernelFilterSink } from './gadget-instance.js';
import { filterBatch } from './local.js';

/** What the kernel holds, and every write in order. */
function kernel(): KernelFilterSink & { mode: number; map: Set<number>; log: string[] } {
  const k = {
    mode: -1,
    map: new Set<number>(),
    log: [] as string[],
    setMode(m: number) {
      k.mode = m;
      k.log.push(`mode ${m}`);
    },
    update(n: number) {
      assert.ok(!k.map.has(n), `update of ${n}, already there`);
      k.map.add(n);
      k.log.push(`+${n}`);
    },
    delete(n: number) {
      assert.ok(k.map.has(n), `delete of ${n}, not there`);
      k.map.delete(n);
      k.log.push(`-${n}`);
    },
  };
  return k;
}

const key = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

test('INCLUDE runs: the kernel map is the union of their namespaces, written once each', () => {
  const u = new FilterUnion();
  const a = u.join(FILTER_INCLUDE);
  a.update(key(10));
  a.update(key(11));
  const k = kernel();
  u.attach(k); // loaded after the first run admitted its containers
  // through NONE: the map is written while the kernel passes everything
  assert.deepEqual(k.log, [`mode ${FILTER_NONE}`, '+10', '+11', `mode ${FILTER_INCLUDE}`]);
  const b = u.join(FILTER_INCLUDE);
  b.update(key(11));
  b.update(key(12));
  b.update(key(12)); // admitted again: no second write
  assert.deepEqual([...k.map].sort(), [10, 11, 12]);
  a.delete(key(11)); // still b's
  assert.ok(k.map.has(11));
  u.leave(b);
  assert.deepEqual([...k.map].sort(), [10]);
  assert.equal(k.mode, FILTER_INCLUDE);
});

test('a run that wants everything switches the kernel to NONE; its end back to INCLUDE, map first', () => {
  const u = new FilterUnion();
  const k = kernel();
  u.attach(k);
  const a = u.join(FILTER_INCLUDE);
  a.update(key(1));
  const all = u.join(FILTER_NONE);
  assert.equal(k.mode, FILTER_NONE);
  assert.deepEqual([...k.map], []); // not read in NONE
  a.update(key(2)); // not written while NONE: the map is rebuilt on the way back
  k.log.length = 0;
  u.leave(all);
  assert.deepEqual(k.log, ['+1', '+2', `mode ${FILTER_INCLUDE}`]);
  assert.deepEqual([...k.map].sort(), [1, 2]);
});

test('EXCLUDE runs: the kernel drops only namespaces every one of them excludes', () => {
  const u = new FilterUnion();
  const k = kernel();
  u.attach(k);
  const a = u.join(FILTER_EXCLUDE);
  a.update(key(5));
  a.update(key(6));
  assert.equal(k.mode, FILTER_EXCLUDE);
  assert.deepEqual([...k.map].sort(), [5, 6]);
  const b = u.join(FILTER_EXCLUDE);
  assert.deepEqual([...k.map], []); // b excludes nothing yet
  b.update(key(6));
  assert.deepEqual([...k.map], [6]);
  u.leave(b);
  assert.deepEqual([...k.map].sort(), [5, 6]);
  // INCLUDE and EXCLUDE together: nothing can be dropped in the kernel
  const c = u.join(FILTER_INCLUDE);
  c.update(key(9));
  assert.equal(k.mode, FILTER_NONE);
  assert.deepEqual([...k.map], []);
  u.leave(a);
  assert.equal(k.mode, FILTER_INCLUDE);
  assert.deepEqual([...k.map], [9]);
  u.leave(c);
  assert.deepEqual([...k.map], []);
});

test('sameGlobals compares values and bytes', () => {
  assert.ok(sameGlobals({ a: 1, b: Buffer.from([1, 2]) }, { b: new Uint8Array([1, 2]), a: 1 }));
  assert.ok(!sameGlobals({ a: 1 }, { a: 2 }));
  assert.ok(!sameGlobals({ a: Buffer.from([1]) }, { a: Buffer.from([2]) }));
  assert.ok(!sameGlobals({ a: true }, { a: true, b: false }));
});

// records: [u32 pid][u32 pad][u64 mntns] + tag bytes
function rec(pid: number, mntns: number, tag: string): Buffer {
  const b = Buffer.alloc(16 + tag.length);
  b.writeUInt32LE(pid, 0);
  b.writeBigUInt64LE(BigInt(mntns), 8);
  b.write(tag, 16);
  return b;
}

test('filterBatch: the container decision, then the record filter: keep, drop or rewrite', () => {
  const recs = [rec(1, 7, 'a'), rec(2, 8, 'bb'), rec(3, 7, 'ccc'), rec(4, 7, 'dddd')];
  const batch = frameRecords(recs);
  const keepNs = (mntns: number): boolean => mntns === 7;
  // no record filter, nothing dropped: the same buffer
  const all = filterBatch(batch, 4, 8, 0, () => true);
  assert.equal(all.records, batch);
  // the record filter sees only records the container decision kept
  const seen: number[] = [];
  const out = filterBatch(batch, 4, 8, 0, keepNs, -1, (b, off) => {
    const pid = b.readUInt32LE(off);
    seen.push(pid);
    if (pid === 1) return true;
    if (pid === 3) return false;
    return Buffer.concat([b.subarray(off, off + 16), Buffer.from('X')]); // pid 4, shortened
  });
  assert.deepEqual(seen, [1, 3, 4]);
  assert.equal(out.count, 2);
  assert.deepEqual(splitRecords(out.records), [recs[0], rec(4, 7, 'X')]);
  // a filter that keeps everything: the batch untouched
  const same = filterBatch(
    batch,
    4,
    8,
    0,
    () => true,
    -1,
    () => true,
  );
  assert.equal(same.records, batch);
});

test('filterBatch: random keeps, drops and rewrites (shorter and longer) match the records picked', () => {
  // a small deterministic generator: the same cases every run
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const n = 1 + rnd(12);
    const recs = Array.from({ length: n }, (_, i) => rec(i, 7 + rnd(2), 'x'.repeat(rnd(20))));
    const batch = frameRecords(recs);
    const action = recs.map(() => rnd(4)); // 0 keep, 1 drop, 2 shorter, 3 longer
    const want: Buffer[] = [];
    const out = filterBatch(
      batch,
      n,
      8,
      0,
      (mntns) => mntns === 7,
      -1,
      (b, off, len) => {
        const pid = b.readUInt32LE(off);
        const r = b.subarray(off, off + len);
        if (action[pid] === 0) return true;
        if (action[pid] === 1) return false;
        return action[pid] === 2
          ? Buffer.from(r.subarray(0, 16))
          : Buffer.concat([r, Buffer.from('y'.repeat(1 + rnd(30)))]);
      },
    );
    // the expected records, from the record filter's own answers (re-run: rnd is consumed
    // above, so the longer payloads are read back from the output)
    const got = splitRecords(out.records);
    let j = 0;
    for (const [i, r] of recs.entries()) {
      if (r.readBigUInt64LE(8) !== 7n || action[i] === 1) continue;
      if (action[i] === 0) want.push(r);
      else if (action[i] === 2) want.push(r.subarray(0, 16));
      else want.push(Buffer.concat([r, got[j]!.subarray(r.length)]));
      j++;
    }
    assert.equal(out.count, want.length, `round ${round}`);
    assert.deepEqual(got, want, `round ${round}`);
  }
});
