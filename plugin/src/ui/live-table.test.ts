import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { selectColumns } from '../output/columns.js';
import { formatElapsed, renderLiveTable, statusLine } from './live-table.js';

test('status line: gadget, elapsed, events, events/s, lost', () => {
  assert.equal(formatElapsed(0), '00:00');
  assert.equal(formatElapsed(62_500), '01:02');
  assert.equal(formatElapsed(3_723_000), '1:02:03');
  assert.equal(
    statusLine('trace exec', 62_000, { events: 12345, lost: 7, dropped: 0 }, 1234.4),
    'trace exec  elapsed 01:02  events 12,345  1,234/s  lost 7',
  );
  assert.equal(
    statusLine('trace exec', 0, { events: 0, lost: 0, dropped: 3 }, 0),
    'trace exec  elapsed 00:00  events 0  0/s  lost 0  dropped 3 messages',
  );
});

test('renders the last rows that fit under the header', async () => {
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 60, rows: 8 });
  let got = '';
  stdout.on('data', (d: Buffer) => (got += d.toString()));
  const view = await renderLiveTable({
    title: 'trace exec',
    columns: selectColumns([{ name: 'pid', align: 'right' }, { name: 'comm' }]),
    stdout: stdout as unknown as NodeJS.WriteStream,
    fps: 100,
  });
  const events = Array.from({ length: 20 }, (_, i) => ({ pid: i, comm: `proc-${i}` }));
  view.write(events);
  view.totals?.({ events: 20, lost: 5, dropped: 0 });
  view.warn('5 events lost in the kernel (ring buffer full)');
  await view.end();
  // eslint-disable-next-line no-control-regex
  const text = got.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
  const last = text.slice(text.lastIndexOf('trace exec'));
  assert.match(last, /^trace exec {2}elapsed 00:00 {2}events 20 {2}0\/s {2}lost 5/);
  assert.match(last, /warning: 5 events lost/);
  assert.match(last, /PID {2}COMM/);
  // 8 rows: status, notice, header, 4 rows, a spare line
  assert.match(last, /16 {2}proc-16/);
  assert.match(last, /19 {2}proc-19/);
  assert.doesNotMatch(last, /proc-15\b/);
});

test('a warning quoting recorded data is shown escaped, never raw', async () => {
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 80, rows: 10 });
  let got = '';
  stdout.on('data', (d: Buffer) => (got += d.toString()));
  const view = await renderLiveTable({
    title: 'trace exec',
    columns: selectColumns([{ name: 'pid', align: 'right' }, { name: 'args' }]),
    stdout: stdout as unknown as NodeJS.WriteStream,
    fps: 100,
  });
  view.write([{ pid: 1, args: ['\u001b]0;row\u0007'] }]);
  view.log('warn', 'node n1: container "\u001b]0;pwned\u0007\u009b2J" gone');
  await view.end();
  assert.ok(!got.includes('\u001b]0;'), 'no raw OSC');
  assert.ok(!got.includes('\u009b'), 'no raw C1 CSI');
  assert.match(got, /warn: node n1: container "\\x1b\]0;pwned\\x07\\x9b2J" gone/);
  assert.match(got, /\\x1b\]0;row\\x07/);
});
