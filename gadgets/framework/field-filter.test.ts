import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  compileFieldFilters,
  FilterSyntaxError,
  FilterTypeError,
  parseFieldFilter,
} from './field-filter.js';

const COLS = ['pid', 'comm', 'uid', 'mntns_id', 'args', 'args_truncated', 'error'];
const resolve = (n: string): string | undefined =>
  n === 'PID' ? 'pid' : COLS.includes(n) ? n : undefined;
const parse = (e: string) => parseFieldFilter(e, resolve, COLS);

/** Which of `events` pass all `exprs`. */
function pick(events: Record<string, unknown>[], ...exprs: string[]): Record<string, unknown>[] {
  const m = compileFieldFilters(exprs.map(parse))!;
  return events.filter(m);
}

const EVENTS: Record<string, unknown>[] = [
  { pid: 5, comm: 'bash', uid: 0, mntns_id: 4026531841n, args: 'bash -c x', error: '' },
  { pid: 55, comm: 'cat', uid: 1000, mntns_id: 4026532000n, args: 'cat /etc/passwd', error: '' },
  { pid: 100, comm: 'catatonic', uid: 1000, mntns_id: 18446744073709551615n, args: null },
  { pid: 1000, comm: 'Cat', uid: 65534, mntns_id: 1, args_truncated: true, error: 'ENOENT' },
];
const pids = (evs: Record<string, unknown>[]) => evs.map((e) => e['pid']);

describe('parseFieldFilter', () => {
  it('reads the column, negation, operator and value', () => {
    assert.deepEqual(parse('pid:55'), {
      column: 'pid',
      negate: false,
      op: '=',
      value: '55',
      text: 'pid:55',
    });
    assert.deepEqual(parse('PID:!>=7'), {
      column: 'pid',
      negate: true,
      op: '>=',
      value: '7',
      text: 'PID:!>=7',
    });
    assert.equal(parse('comm:~^ca').op, '~');
    assert.equal(parse('comm:<=b').op, '<=');
    assert.equal(parse('comm:<b').op, '<');
    assert.equal(parse('comm:>b').op, '>');
    // only the first colon separates: the value keeps the others
    assert.equal(parse('args:a:b').value, 'a:b');
    assert.equal(parse('comm:').value, '');
  });

  it('rejects unknown columns and bad expressions in one line listing the columns', () => {
    const cases: [string, RegExp][] = [
      ['nope:1', /^unknown column "nope" in --filter: valid columns are pid, comm, uid, /],
      ['pid', /^invalid --filter "pid": expected COLUMN:VALUE .* valid columns are pid, comm/],
      [':5', /^invalid --filter ":5": expected COLUMN:VALUE/],
      ['pid:>=', /^invalid --filter "pid:>=": nothing to compare after ">="/],
      ['pid:!<', /nothing to compare after "<"/],
      ['comm:~(', /^invalid --filter "comm:~\(": bad regular expression/],
    ];
    for (const [e, re] of cases) {
      assert.throws(
        () => parse(e),
        (err: unknown) => err instanceof FilterSyntaxError && re.test(err.message),
        e,
      );
      try {
        parse(e);
      } catch (err) {
        assert.ok(!(err as Error).message.includes('\n'), e);
      }
    }
  });
});

describe('compileFieldFilters', () => {
  it('no filters: no predicate', () => {
    assert.equal(compileFieldFilters([]), undefined);
  });

  it('numbers: = ! > >= < <=', () => {
    assert.deepEqual(pids(pick(EVENTS, 'pid:55')), [55]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:!55')), [5, 100, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:>55')), [100, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:>=55')), [55, 100, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:<55')), [5]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:<=55')), [5, 55]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:!<=55')), [100, 1000]);
    // numerically, not as text ("1000" < "55" as text)
    assert.deepEqual(pids(pick(EVENTS, 'pid:>99')), [100, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:55.0')), [55]);
  });

  it('bigints compare exactly, past 2^53', () => {
    assert.deepEqual(pids(pick(EVENTS, 'mntns_id:18446744073709551615')), [100]);
    assert.deepEqual(pids(pick(EVENTS, 'mntns_id:<18446744073709551615')), [5, 55, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'mntns_id:>4026531841.5')), [55, 100]);
  });

  it('strings: exact, case-sensitive, ordered as text', () => {
    assert.deepEqual(pids(pick(EVENTS, 'comm:cat')), [55]);
    assert.deepEqual(pids(pick(EVENTS, 'comm:!cat')), [5, 100, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'comm:>cat')), [100]);
    assert.deepEqual(pids(pick(EVENTS, 'comm:<b')), [1000]);
    assert.deepEqual(pids(pick(EVENTS, 'comm:<=bash')), [5, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'error:')), [5, 55, 100]);
    // a missing value equals "" but is neither above nor below anything
    assert.deepEqual(pids(pick(EVENTS, 'args:')), [100, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'args:<z')), [5, 55]);
    assert.deepEqual(pids(pick(EVENTS, 'args:!>a')), [100, 1000]);
  });

  it('regex: ~ and !~, on text, numbers and missing values', () => {
    assert.deepEqual(pids(pick(EVENTS, 'comm:~^cat')), [55, 100]);
    assert.deepEqual(pids(pick(EVENTS, 'comm:!~^cat')), [5, 1000]);
    assert.deepEqual(pids(pick(EVENTS, 'pid:~^5')), [5, 55]);
    assert.deepEqual(pids(pick(EVENTS, 'args:~passwd$')), [55]);
    assert.deepEqual(pids(pick(EVENTS, 'args:~^$')), [100, 1000]);
  });

  it('booleans read as true/false', () => {
    assert.deepEqual(pids(pick(EVENTS, 'args_truncated:true')), [1000]);
  });

  it('several filters must all match', () => {
    assert.deepEqual(pids(pick(EVENTS, 'uid:1000', 'comm:~^cat')), [55, 100]);
    assert.deepEqual(pids(pick(EVENTS, 'uid:1000', 'comm:~^cat', 'pid:!100')), [55]);
    assert.deepEqual(pids(pick(EVENTS, 'uid:0', 'uid:1000')), []);
  });

  it('a number column compared with text fails on the first event, naming both', () => {
    const m = compileFieldFilters([parse('pid:>abc')])!;
    assert.throws(
      () => m(EVENTS[0]!),
      (e: unknown) =>
        e instanceof FilterTypeError &&
        e.message === '-F pid:>abc: pid is a number, "abc" is not (e.g. -F pid:>=1000)',
    );
    // a regex on a number column is fine
    assert.equal(compileFieldFilters([parse('pid:~abc')])!(EVENTS[0]!), false);
  });

  it('input quoted in an error stays on one line (found by fuzzing the daemon)', () => {
    for (const bad of ['a\nb', 'co\nmm:1', 'comm:~(\n', 'pid:>\n']) {
      assert.throws(
        () => compileFieldFilters([parse(bad)])!(EVENTS[0]!),
        (e: unknown) => e instanceof Error && !/[\n\r]/.test(e.message),
        JSON.stringify(bad),
      );
    }
  });
});
