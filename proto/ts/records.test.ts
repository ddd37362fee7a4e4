// Pure unit tests (no kernel): the framing of RunMessage.records and its walk.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RecordCursor, forEachRecord, frameRecords, framedSize, splitRecords } from './records.js';

describe('batch framing', () => {
  it('pads every record to 8 bytes after a u32 length', () => {
    assert.equal(framedSize(0), 8);
    assert.equal(framedSize(4), 8);
    assert.equal(framedSize(5), 16);
    assert.equal(framedSize(96), 104);
    const recs = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('0123456789abcdef')];
    const batch = frameRecords(recs);
    assert.equal(batch.length, 8 + 8 + 24);
    assert.deepEqual([...batch.subarray(0, 8)], [1, 0, 0, 0, 'a'.charCodeAt(0), 0, 0, 0]);
    assert.deepEqual(
      splitRecords(batch).map((b) => b.toString()),
      ['a', '', '0123456789abcdef'],
    );
    let seen = 0;
    assert.equal(
      forEachRecord(batch, () => {
        seen++;
        return false;
      }),
      1,
    );
    assert.equal(seen, 1);
  });

  it('rejects a truncated batch', () => {
    const b = frameRecords([Buffer.from('abcdef')]);
    assert.throws(() => forEachRecord(b.subarray(0, 6), () => {}), /truncated record/);
  });

  it('walks a Uint8Array view at any offset of its buffer', () => {
    const framed = frameRecords([Buffer.from('xy'), Buffer.from('z')]);
    const backing = new Uint8Array(framed.length + 3);
    backing.set(framed, 3);
    const c = new RecordCursor(backing.subarray(3));
    const got: string[] = [];
    while (c.next()) got.push(c.batch.toString('latin1', c.offset, c.offset + c.length));
    assert.deepEqual(got, ['xy', 'z']);
  });
});

describe('RecordCursor', () => {
  const texts = (c: RecordCursor): string[] => {
    const out: string[] = [];
    while (c.next()) out.push(c.batch.toString('latin1', c.offset, c.offset + c.length));
    return out;
  };

  it('skips records shorter than the minimum and reports each', () => {
    const seen: Array<[number, number, number]> = [];
    const batch = frameRecords([Buffer.from('long1'), Buffer.from('ab'), Buffer.from('long2')]);
    const c = new RecordCursor(batch, 4, (len, min, left) => void seen.push([len, min, left]));
    assert.deepEqual(texts(c), ['long1', 'long2']);
    // 16 + 8 + 16 bytes; 'ab' starts at 16: its length word, then 40 - 20 bytes left
    assert.deepEqual(seen, [[2, 4, 20]]);
  });

  it('stops at a record cut by the end of the batch, after reporting it', () => {
    const seen: Array<[number, number, number]> = [];
    const batch = frameRecords([Buffer.from('one'), Buffer.from('twotwotwo')]);
    const c = new RecordCursor(
      batch.subarray(0, 14),
      0,
      (len, min, left) => void seen.push([len, min, left]),
    );
    assert.deepEqual(texts(c), ['one']);
    assert.deepEqual(seen, [[9, 0, 2]]);
    assert.equal(c.next(), false, 'stays at the end');
  });

  it('ignores trailing bytes too few for a length word', () => {
    const batch = Buffer.concat([frameRecords([Buffer.from('r')]), Buffer.alloc(3)]);
    assert.deepEqual(texts(new RecordCursor(batch)), ['r']);
  });
});
