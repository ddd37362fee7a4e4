// The shared trace_exec: failed execs are dropped in the kernel only when every run asked
// --ignore-failed; a run that asked drops those another run wanted.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gadgetLayoutPath } from '../framework/paths.js';
import type { RecordLayout } from '../framework/types.js';
import { descriptor } from './gadget.js';

const layout = JSON.parse(readFileSync(gadgetLayoutPath('trace_exec'), 'utf8')) as RecordLayout;
const retOff = layout.fields.find((f) => f.name === 'ret')!.offset;
const sh = descriptor.shared!;

test('trace_exec shared globals: ignore_failed is the AND of the runs', () => {
  const yes = { 'ignore-failed': 'true' };
  const no = { 'ignore-failed': 'false' };
  assert.deepEqual(sh.globals([yes]), { ignore_failed: true });
  assert.deepEqual(sh.globals([yes, no]), { ignore_failed: false });
  assert.deepEqual(sh.globals([no]), { ignore_failed: false });
});

test('trace_exec record filter: only a run with --ignore-failed has one, and it drops ret < 0', () => {
  assert.equal(sh.recordFilter!({ 'ignore-failed': 'false' }, layout), undefined);
  const f = sh.recordFilter!({ 'ignore-failed': 'true' }, layout)!;
  const rec = Buffer.alloc(layout.size);
  rec.writeInt32LE(0, retOff);
  assert.equal(f(rec, 0, rec.length), true);
  rec.writeInt32LE(-2, retOff);
  assert.equal(f(rec, 0, rec.length), false);
});
