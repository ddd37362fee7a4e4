import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { drained, writeChunk } from './write.js';

function slow(): Writable {
  // never calls back: the buffer fills and stays full
  return new Writable({ highWaterMark: 4, write: () => {} });
}

test('writeChunk asks to wait only when the buffer is full, and resolves on drain', async () => {
  let pending: (() => void) | undefined;
  const out = new Writable({
    highWaterMark: 4,
    write: (_c, _e, cb) => {
      pending = cb;
    },
  });
  const p = writeChunk(out, 'hello');
  assert.ok(p instanceof Promise);
  pending!();
  await p;
});

test('a destroyed stream (closed pipe) never blocks the writer', async () => {
  const out = slow();
  out.on('error', () => {});
  const p = writeChunk(out, 'hello');
  assert.ok(p instanceof Promise);
  out.destroy(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }));
  await p;
  // after the error and close events were emitted: still no wait
  await new Promise((r) => setImmediate(r));
  assert.equal(writeChunk(out, 'more'), undefined);
  await drained(out);
});
