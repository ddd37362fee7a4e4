import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { ColumnSpec } from '../../../gadgets/framework/types.js';
import {
  cellText,
  ColumnLayout,
  ColumnsSink,
  columnHeader,
  formatTable,
  selectColumns,
} from './columns.js';

const specs: ColumnSpec[] = [
  { name: 'node' },
  { name: 'namespace' },
  { name: 'pod' },
  { name: 'container' },
  { name: 'pid', width: 5, align: 'right' },
  { name: 'comm', width: 6 },
  { name: 'error', header: 'ERR' },
  { name: 'path', flex: true },
  { name: 'uid', hidden: true, align: 'right' },
];

function capture(): { out: PassThrough; text: () => string } {
  const out = new PassThrough();
  let got = '';
  out.on('data', (d: Buffer) => (got += d.toString()));
  return { out, text: () => got };
}

test('headers: K8S.* for Kubernetes columns, else header or upper-cased name', () => {
  assert.deepEqual(specs.map(columnHeader), [
    'K8S.NODE',
    'K8S.NAMESPACE',
    'K8S.PODNAME',
    'K8S.CONTAINER',
    'PID',
    'COMM',
    'ERR',
    'PATH',
    'UID',
  ]);
});

test('selectColumns: visible by default; columns=a,b picks and orders, hidden included', () => {
  assert.deepEqual(
    selectColumns(specs).map((c) => c.name),
    ['node', 'namespace', 'pod', 'container', 'pid', 'comm', 'error', 'path'],
  );
  assert.deepEqual(
    selectColumns(specs, ['uid', 'comm']).map((c) => c.name),
    ['uid', 'comm'],
  );
  assert.throws(
    () => selectColumns(specs, ['nope']),
    /unknown column "nope": valid columns are node, namespace/,
  );
});

test('piped stream: header once, widths grow with values, never cut', async () => {
  const { out, text } = capture();
  const sink = new ColumnsSink(out, selectColumns(specs, ['pid', 'comm', 'error', 'path']));
  await sink.write([
    { pid: 1, comm: 'sh', error: '', path: '/etc/passwd' },
    { pid: 12345, comm: 'cat', error: 'ENOENT', path: '/x' },
  ]);
  await sink.write([
    {
      pid: 1234567,
      comm: 'a-very-long-comm',
      error: '',
      path: '/a/much/longer/path/than/the/terminal/would/allow/'.repeat(3),
    },
  ]);
  await sink.end();
  assert.equal(
    text(),
    '  PID  COMM    ERR     PATH\n' +
      '    1  sh              /etc/passwd\n' +
      '12345  cat     ENOENT  /x\n' +
      '1234567  a-very-long-comm          ' +
      '/a/much/longer/path/than/the/terminal/would/allow/'.repeat(3) +
      '\n',
  );
});

test('an empty run still prints the header', async () => {
  const { out, text } = capture();
  const sink = new ColumnsSink(out, selectColumns(specs, ['pid', 'comm']));
  await sink.end();
  assert.equal(text(), '  PID  COMM\n');
});

test('on a terminal the flex column is truncated to the width', () => {
  const layout = new ColumnLayout(selectColumns(specs, ['pid', 'path', 'comm']));
  const cells = [['42', '/usr/lib/x86_64-linux-gnu/libc.so.6', 'cat']];
  layout.fit(cells);
  assert.equal(layout.row(cells[0]!), '   42  /usr/lib/x86_64-linux-gnu/libc.so.6  cat');
  assert.equal(layout.row(cells[0]!, 30), '   42  /usr/lib/x86_6…  cat');
  assert.equal(layout.header(30), '  PID  PATH             COMM');
  // a non-flex column wider than the terminal: the line itself is cut
  assert.equal(layout.row(cells[0]!, 10), '   42  /u…');
});

test('formatTable sizes to all rows', () => {
  const t = formatTable(selectColumns(specs, ['comm', 'pid']), [
    { comm: 'bash', pid: 1 },
    { comm: 'containerd-shim', pid: 100 },
  ]);
  assert.equal(t, 'COMM               PID\nbash                 1\ncontainerd-shim    100\n');
});

test('cellText: arrays joined, control characters escaped, bigint/bool/empty', () => {
  assert.equal(cellText(['ls', '-l', '/tmp']), 'ls -l /tmp');
  assert.equal(cellText('a\nb\tc\u0001'), 'a\\nb\\tc\\x01');
  assert.equal(cellText(2n ** 64n), '18446744073709551616');
  assert.equal(cellText(false), 'false');
  assert.equal(cellText(undefined), '');
  assert.equal(cellText(null), '');
  assert.equal(cellText(Buffer.from([1, 255])), '01ff');
});
