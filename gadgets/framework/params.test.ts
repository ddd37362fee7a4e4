import assert from 'node:assert/strict';
import { test } from 'node:test';
import { descriptor as traceExec } from '../trace_exec/gadget.js';
import { descriptor as traceOpen } from '../trace_open/gadget.js';
import { gadgetConfig } from './params.js';

const ctx = { selfPid: 1 };

test('gadgetConfig: a bool param declared with rodata sets its global, from the value or the default', () => {
  assert.deepEqual(gadgetConfig(traceExec, {}, ctx).rodata, { ignore_failed: false });
  assert.deepEqual(gadgetConfig(traceExec, { 'ignore-failed': 'true' }, ctx).rodata, {
    ignore_failed: true,
  });
});

test("gadgetConfig: declared globals merge with what the gadget's configure() derives", () => {
  const c = gadgetConfig(traceOpen, { 'full-path': 'true', prefix: '["/etc/","/tmp/"]' }, ctx);
  assert.equal(c.rodata.failed_only, false);
  assert.equal(c.rodata.full_path, true);
  assert.equal(c.rodata.prefix_count, 2);
  const prefixes = c.rodata.prefixes as Uint8Array;
  assert.equal(
    Buffer.from(prefixes).toString('latin1').split('\0').filter(Boolean).join(','),
    '/etc/,/tmp/',
  );
});
