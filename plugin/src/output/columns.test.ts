import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { ColumnSpec } from '#gadgets/framework/types.js';
import {
  cellText,
  ColumnLayout,
  ColumnsSink,
  columnHeader,
  findColumn,
  formatTable,
  rowCells,
  selectColumns,
  singleNodeColumns,
} from './columns.js';
import { descriptor as openDescriptor } from '#gadgets/trace_open/gadget.js';

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

test('piped stream: widths fixed at the minimums, a longer value pushes only its own row', async () => {
  const { out, text } = capture();
  const sink = new ColumnsSink(out, selectColumns(specs, ['pid', 'comm', 'error', 'path']));
  await sink.write([
    { pid: 1, comm: 'sh', error: '', path: '/etc/passwd' },
    { pid: 12345, comm: 'cat', error: 'ENOENT', path: '/x' },
  ]);
  const long = '/a/much/longer/path/than/the/terminal/would/allow/'.repeat(3);
  await sink.write([{ pid: 1234567, comm: 'a-very-long-comm', error: '', path: long }]);
  await sink.write([{ pid: 7, comm: 'ls', error: '', path: '/y' }]);
  await sink.end();
  assert.equal(
    text(),
    '  PID  COMM    ERR  PATH\n' +
      '    1  sh           /etc/passwd\n' +
      '12345  cat     ENOENT  /x\n' +
      '1234567  a-very-long-comm       ' +
      long +
      '\n' +
      // after the wider values, rows line up with the header again
      '    7  ls           /y\n',
  );
});

test('an empty run still prints the header', async () => {
  const { out, text } = capture();
  const sink = new ColumnsSink(out, selectColumns(specs, ['pid', 'comm']));
  await sink.end();
  assert.equal(text(), '  PID  COMM\n');
});

test('-o columns= names: the field or the printed header, in any case', () => {
  assert.deepEqual(
    selectColumns(specs, ['PID', 'K8S.NODE', 'err', 'K8S.PodName', 'Path']).map((c) => c.name),
    ['pid', 'node', 'error', 'pod', 'path'],
  );
  assert.equal(findColumn(specs, 'k8s.container')?.name, 'container');
  assert.equal(findColumn(specs, 'PIDS'), undefined);
});

/** Real `trace open` rows (from a run on the node cluster), with the gadget's own columns. */
const OPEN_ROWS = [
  {
    node: 'kg-node-1',
    namespace: 'kgtest-trace',
    pod: 'web-7d9c8b5f6d-x2k4q',
    container: 'web',
    pid: 25702,
    comm: 'node',
    fd: 18,
    error: '',
    path: '/work/main/gadgets/advise_network_policy/drain.ts',
  },
  {
    node: 'kg-node-1',
    namespace: 'kgtest-trace',
    pod: 'web-7d9c8b5f6d-x2k4q',
    container: 'web',
    pid: 25731,
    comm: 'cat',
    fd: -1,
    error: 'ENOENT',
    path: '/etc/nonexistent.conf',
  },
];

function visible(maxWidth: number, kubernetes = true): { header: string; rows: string[] } {
  const cols = selectColumns(
    kubernetes ? openDescriptor.columns : singleNodeColumns(openDescriptor.columns),
  );
  const layout = new ColumnLayout(cols);
  const cells = OPEN_ROWS.map((r) => rowCells(cols, r));
  layout.fit(cells);
  return {
    header: layout.header(maxWidth),
    rows: cells.map((c) => layout.row(c, maxWidth)),
  };
}

test('80 columns, Kubernetes mode: K8s columns shortened and dropped first, FD ERR PATH kept', () => {
  const { header, rows } = visible(80);
  assert.equal(header, 'POD               PID  COMM               FD  ERR     PATH');
  assert.equal(
    rows[0],
    'web-7d9c8b5…    25702  node               18          /work/main/gadgets/advise…',
  );
  assert.equal(
    rows[1],
    'web-7d9c8b5…    25731  cat                -1  ENOENT  /etc/nonexistent.conf',
  );
  for (const l of [header, ...rows]) assert.ok(l.length <= 80, `${l.length}: ${l}`);
  // wide enough: every column, full headers, nothing cut
  const wide = visible(200);
  assert.match(wide.header, /^K8S\.NODE +K8S\.NAMESPACE +K8S\.PODNAME +K8S\.CONTAINER +PID/);
  assert.match(wide.rows[0]!, /web-7d9c8b5f6d-x2k4q +web .*advise_network_policy\/drain\.ts$/);
  // in between: shortened but all there
  const mid = visible(120);
  assert.match(mid.header, /^NODE +NAMESPACE +POD +CONTAINER +PID +COMM +FD +ERR +PATH$/);
});

test('80 columns, --local: every column of trace open fits', () => {
  const { header, rows } = visible(80, false);
  assert.equal(header, 'CONTAINER      PID  COMM               FD  ERR     PATH');
  assert.equal(
    rows[0],
    'web          25702  node               18          /work/main/gadgets/advise_ne…',
  );
  assert.equal(rows[1], 'web          25731  cat                -1  ENOENT  /etc/nonexistent.conf');
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
