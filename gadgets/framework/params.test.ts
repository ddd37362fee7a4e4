import assert from 'node:assert/strict';
import { test } from 'node:test';
import { descriptor as traceOpen } from '../trace_open/gadget.js';
import { boolParam, fieldOffset, gadgetConfig } from './params.js';
import type { GadgetDescriptor } from './types.js';

const ctx = { selfPid: 1 };

/** A gadget loaded per run (no `shared`): its params set `const volatile` globals. */
const perRun: GadgetDescriptor = {
  command: ['trace', 'x'],
  name: 'trace_x',
  description: 'x',
  params: [
    { name: 'quiet', type: 'bool', default: 'false', description: 'q', rodata: 'quiet' },
    { name: 'depth', type: 'int', default: '3', description: 'd', rodata: 'depth' },
    { name: 'names', type: 'string[]', description: 'n' },
  ],
  columns: [],
  configure: (params) => ({ rodata: { name_count: params.names ? 1 : 0, depth: 9 } }),
  transform: () => ({}),
};

test('gadgetConfig: params declared with rodata set their global, from the value or the default', () => {
  assert.deepEqual(gadgetConfig({ ...perRun, configure: undefined }, {}, ctx).rodata, {
    quiet: false,
    depth: 3,
  });
  assert.deepEqual(
    gadgetConfig({ ...perRun, configure: undefined }, { quiet: 'true', depth: '5' }, ctx).rodata,
    { quiet: true, depth: 5 },
  );
});

test("gadgetConfig: declared globals merge with what the gadget's configure() derives, which wins", () => {
  assert.deepEqual(gadgetConfig(perRun, { names: '["a"]' }, ctx).rodata, {
    quiet: false,
    depth: 9,
    name_count: 1,
  });
});

test('a shared gadget declares no rodata params: its globals come from shared.globals', () => {
  assert.deepEqual(gadgetConfig(traceOpen, { 'full-path': 'true' }, ctx).rodata, {});
  assert.ok(traceOpen.shared);
});

test('boolParam and fieldOffset', () => {
  assert.equal(boolParam({ a: 'true', b: 'false' }, 'a'), true);
  assert.equal(boolParam({ a: 'true', b: 'false' }, 'b'), false);
  assert.equal(boolParam({}, 'c'), false);
  const layout = {
    struct: 'event',
    size: 8,
    fields: [{ name: 'ret', kind: 's32' as const, offset: 4, size: 4 }],
  };
  assert.equal(fieldOffset(layout, 'ret'), 4);
  assert.throws(() => fieldOffset(layout, 'nope'), /layout event: no field nope/);
});
