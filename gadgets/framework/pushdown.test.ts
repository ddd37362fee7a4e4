import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { compileFieldFilters, FilterSyntaxError, parseFieldFilter } from './field-filter.js';
import type { FieldFilter } from './field-filter.js';
import {
  KERNEL_FILTER_FIELDS,
  KERNEL_FILTER_SLOT_SIZE,
  KERNEL_FILTER_SLOTS,
  kernelFilterGlobals,
  kernelFilterText,
  parseKernelFilters,
  pushdown,
} from './pushdown.js';

const COLS = ['pid', 'tid', 'uid', 'gid', 'comm', 'ppid', 'args', 'mntns_id'];
const parse = (e: string): FieldFilter =>
  parseFieldFilter(e, (n) => (n === 'PID' ? 'pid' : COLS.includes(n) ? n : undefined), COLS);
const pushed = (...exprs: string[]): string[] =>
  pushdown(exprs.map(parse), KERNEL_FILTER_FIELDS).map(kernelFilterText);

interface Ev {
  pid: number;
  tid: number;
  uid: number;
  gid: number;
  comm: string;
}

/** The kernel's gadget_fields_filtered_out (bpf/gadget.h) over the packed globals, for the property below. */
function kernelPasses(g: { gadget_ff_count: number; gadget_ff: Uint8Array }, ev: Ev): boolean {
  if (g.gadget_ff_count === 0) return true;
  const b = Buffer.from(g.gadget_ff);
  const comm = Buffer.alloc(16);
  comm.write(ev.comm, 0, 15);
  const v = [ev.pid, ev.tid, ev.uid, ev.gid];
  for (let i = 0; i < g.gadget_ff_count; i++) {
    const o = i * KERNEL_FILTER_SLOT_SIZE;
    let ok = v.every((x, k) => {
      if (x < b.readUInt32LE(o + 4 * k) || x > b.readUInt32LE(o + 16 + 4 * k)) return false;
      return !((b.readUInt32LE(o + 48) >> k) & 1 && x === b.readUInt32LE(o + 32 + 4 * k));
    });
    const op = b.readUInt32LE(o + 52);
    if (ok && op !== 0) {
      let eq = true;
      for (let j = 0; j < 16; j++) eq &&= (comm[j]! & b[o + 72 + j]!) === b[o + 56 + j];
      ok = eq === (op === 1);
    }
    if (ok) return true;
  }
  return false;
}

describe('pushdown: which -F run in the kernel', () => {
  it('pushes numbers on pid, tid, uid, gid with every comparison and negation', () => {
    assert.deepEqual(pushed('PID:42', 'tid:!7', 'uid:>=1000', 'gid:<5', 'pid:!>9'), [
      'pid:42',
      'tid:!7',
      'uid:>=1000',
      'gid:<5',
      'pid:!>9',
    ]);
    assert.deepEqual(pushed('pid:4294967295', 'uid:+3'), ['pid:4294967295', 'uid:+3']);
  });

  it('pushes comm = and != only', () => {
    assert.deepEqual(pushed('comm:cat', 'comm:!sh', 'comm:'), ['comm:cat', 'comm:!sh', 'comm:']);
    assert.deepEqual(pushed('comm:~^ca', 'comm:>b', 'comm:<=z'), []);
  });

  it('never pushes a regex, another column, or a value the kernel cannot compare', () => {
    assert.deepEqual(
      pushed(
        'pid:~^4',
        'ppid:1',
        'args:x',
        'mntns_id:5',
        'pid:4294967296',
        'pid:-1',
        'pid:1.5',
        'pid:1e3',
        'comm:abcdefghijklmnop', // 16 bytes: no comm is that long
        'comm:a\\x80', // the decoder shows invalid bytes as \xNN
        'comm:ññññññññ', // 8 chars, 16 bytes
      ),
      [],
    );
    assert.deepEqual(pushdown([parse('pid:1')], undefined), []);
  });

  it('the daemon re-parses the texts and refuses what the kernel cannot run, in one line', () => {
    const f = parseKernelFilters(['pid:!>9', 'comm:cat'], KERNEL_FILTER_FIELDS);
    assert.deepEqual(f.map(kernelFilterText), ['pid:!>9', 'comm:cat']);
    for (const bad of ['args:x', 'pid:~1', 'pid:abc', 'comm:>a', 'nocolon']) {
      assert.throws(
        () => parseKernelFilters([bad], KERNEL_FILTER_FIELDS),
        (e: Error) => e instanceof FilterSyntaxError && !e.message.includes('\n'),
        bad,
      );
    }
    assert.throws(
      () => parseKernelFilters(['pid:1'], undefined),
      /this gadget filters no column in the kernel/,
    );
    assert.deepEqual(parseKernelFilters([], undefined), []);
  });
});

describe('kernelFilterGlobals: the union of the runs', () => {
  const g = (...runs: string[][]) => kernelFilterGlobals(runs.map((r) => r.map(parse)));
  const ev = (o: Partial<Ev>): Ev => ({ pid: 100, tid: 100, uid: 0, gid: 0, comm: 'bash', ...o });

  it('is off with no run, or when one run has no kernel filter', () => {
    assert.equal(g().gadget_ff_count, 0);
    assert.equal(g(['pid:1'], []).gadget_ff_count, 0);
    assert.equal(g(['pid:1']).gadget_ff.length, KERNEL_FILTER_SLOTS * KERNEL_FILTER_SLOT_SIZE);
  });

  it('one slot per distinct run filter; off past the slots', () => {
    assert.equal(g(['pid:1'], ['pid:1'], ['comm:cat']).gadget_ff_count, 2);
    const many = Array.from({ length: KERNEL_FILTER_SLOTS + 1 }, (_, i) => [`pid:${i}`]);
    assert.equal(g(...many).gadget_ff_count, 0);
    assert.equal(g(...many.slice(1)).gadget_ff_count, KERNEL_FILTER_SLOTS);
  });

  it('passes what any run passes, and drops the rest', () => {
    const k = g(['pid:42'], ['comm:cat', 'uid:>=1000']);
    assert.equal(kernelPasses(k, ev({ pid: 42 })), true);
    assert.equal(kernelPasses(k, ev({ comm: 'cat', uid: 1000 })), true);
    assert.equal(kernelPasses(k, ev({ comm: 'cat', uid: 999 })), false);
    assert.equal(kernelPasses(k, ev({ comm: 'catx', uid: 1000 })), false);
    assert.equal(kernelPasses(k, ev({ pid: 43 })), false);
  });

  it('edges: > max and < 0 pass nothing, != and a negated range', () => {
    assert.equal(kernelPasses(g(['pid:>4294967295']), ev({ pid: 4294967295 })), false);
    assert.equal(kernelPasses(g(['pid:<0']), ev({ pid: 0 })), false);
    assert.equal(kernelPasses(g(['pid:!100']), ev({})), false);
    assert.equal(kernelPasses(g(['pid:!100']), ev({ pid: 101 })), true);
    assert.equal(kernelPasses(g(['pid:!>=100']), ev({ pid: 99 })), true);
    assert.equal(kernelPasses(g(['pid:!>=100']), ev({})), false);
    assert.equal(kernelPasses(g(['comm:!bash']), ev({})), false);
    assert.equal(kernelPasses(g(['comm:!bash']), ev({ comm: 'bas' })), true);
  });

  it('never drops an event a run passes in user space (random filters and events)', () => {
    const num = fc.oneof(fc.constantFrom(0, 1, 99, 100, 101, 4294967295), fc.nat());
    const expr = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('pid', 'tid', 'uid', 'gid'),
          fc.constantFrom('', '!'),
          fc.constantFrom('', '>', '>=', '<', '<='),
          num,
        )
        .map(([c, n, o, v]) => `${c}:${n}${o}${v}`),
      fc
        .tuple(fc.constantFrom('', '!'), fc.constantFrom('bash', 'cat', 'ca', '', 'b'))
        .map(([n, v]) => `comm:${n}${v}`),
    );
    const event = fc.record({
      pid: num,
      tid: num,
      uid: num,
      gid: num,
      comm: fc.constantFrom('bash', 'cat', 'ca', '', 'b', 'bashful'),
    });
    fc.assert(
      fc.property(
        fc.array(fc.array(expr, { maxLength: 4 }), { maxLength: 4 }),
        event,
        (runs, e) => {
          const filters = runs.map((r) => r.map(parse));
          const k = kernelFilterGlobals(filters.map((f) => pushdown(f, KERNEL_FILTER_FIELDS)));
          const anyRun = filters.some((f) => (compileFieldFilters(f) ?? (() => true))({ ...e }));
          if (anyRun) assert.equal(kernelPasses(k, e), true);
          // a single run with everything pushed: the kernel is exact
          if (runs.length === 1 && k.gadget_ff_count === 1) {
            const dedupe = new Set(runs[0]!.map((x) => x.split(':')[0]));
            if (dedupe.size === runs[0]!.length) assert.equal(kernelPasses(k, e), anyRun);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
