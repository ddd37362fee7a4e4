// Record rewriting: trace exec records and traceloop slots with the build's layouts, framed as the
// ring-buffer reader frames them, redacted, and decoded again as the CLI decodes them (no kernel).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { makeDecoder, splitNulStrings } from '../../../gadgets/framework/decode.js';
import { gadgetLayoutPath } from '../../../gadgets/framework/paths.js';
import type { RecordLayout } from '../../../gadgets/framework/types.js';
import {
  assemble,
  formatParams,
  parseSlot,
  SLOT,
  SLOT_SIZE,
} from '../../../gadgets/traceloop/format.js';
import { frameRecords, splitRecords } from '../../../proto/ts/records.js';
import type { RunMessage } from '../../../gadgets/framework/runtime.js';
import { parseUserPattern, Redactor } from './patterns.js';
import { recordRedaction } from './records.js';
import { RedactingRuntime } from './runtime.js';

const layout = (g: string): RecordLayout =>
  JSON.parse(readFileSync(gadgetLayoutPath(g), 'utf8')) as RecordLayout;
const EXEC = layout('trace_exec');
const off = (l: RecordLayout, name: string): number =>
  l.fields.find((f) => f.name === name)!.offset;
const ARGS = off(EXEC, 'args');

function execRecord(pid: number, args: string[]): Buffer {
  const a = Buffer.from(args.map((x) => `${x}\0`).join(''), 'latin1');
  const b = Buffer.alloc(ARGS + a.length);
  b.writeUInt32LE(pid, off(EXEC, 'pid'));
  b.write('sh', off(EXEC, 'comm'));
  b.writeUInt32LE(args.length, off(EXEC, 'args_count'));
  b.writeUInt32LE(a.length, off(EXEC, 'args_size'));
  b.write('/work', off(EXEC, 'cwd'));
  a.copy(b, ARGS);
  return b;
}

const decodeExec = makeDecoder(EXEC);
const argsOf = (records: Buffer): Array<[number, string[]]> =>
  splitRecords(records).map((r) => {
    const d = decodeExec(r, 0, r.length);
    const size = d.args_size as number;
    return [d.pid as number, splitNulStrings(r.subarray(ARGS, ARGS + size))];
  });

describe('trace exec records', () => {
  const red = recordRedaction('trace_exec', EXEC, new Redactor())!;

  it('a batch without secrets is passed through: the same Buffer', () => {
    const batch = frameRecords([execRecord(1, ['ls', '-l']), execRecord(2, ['echo', 'hi'])]);
    const out = red.batch(batch, 2);
    assert.equal(out.records, batch);
    assert.equal(out.count, 2);
    assert.equal(out.redacted, 0);
  });

  it('the secret record is rebuilt (args and args_size), its neighbours kept byte for byte', () => {
    const a = execRecord(1, ['ls']);
    const b = execRecord(2, ['sh', '-c', 'true --password=hunter2 x']);
    const c = execRecord(3, ['mysql', '-pS3cret']);
    const d = execRecord(4, ['cat', 'f']);
    const batch = frameRecords([a, b, c, d]);
    const out = red.batch(batch, 4);
    assert.equal(out.count, 4);
    assert.equal(out.redacted, 2);
    assert.deepEqual(argsOf(out.records), [
      [1, ['ls']],
      [2, ['sh', '-c', 'true --password=*** x']],
      [3, ['mysql', '-p***']],
      [4, ['cat', 'f']],
    ]);
    const recs = splitRecords(out.records);
    assert.deepEqual(recs[0], a);
    assert.deepEqual(recs[3], d);
    // everything before args is the kernel's, but args_size
    const b2 = recs[1]!;
    const sizeOff = off(EXEC, 'args_size');
    assert.deepEqual(b2.subarray(0, sizeOff), b.subarray(0, sizeOff));
    assert.deepEqual(b2.subarray(sizeOff + 4, ARGS), b.subarray(sizeOff + 4, ARGS));
    assert.equal(b2.readUInt32LE(sizeOff), Buffer.byteLength('sh\0-c\0true --password=*** x\0'));
    assert.equal(out.records.includes('hunter2'), false);
    assert.equal(out.records.includes('S3cret'), false);
  });

  it('a record cut by the end of the batch is dropped, not forwarded unread', () => {
    const batch = frameRecords([execRecord(1, ['ls']), execRecord(2, ['x', '--token=abc'])]);
    const cut = batch.subarray(0, batch.length - 20);
    const out = red.batch(cut, 2);
    assert.equal(out.count, 1);
    assert.deepEqual(argsOf(out.records), [[1, ['ls']]]);
  });

  it('a layout without the declared fields is refused', () => {
    assert.throws(
      () =>
        recordRedaction(
          'trace_exec',
          { ...EXEC, fields: EXEC.fields.filter((f) => f.name !== 'args') },
          new Redactor(),
        ),
      /^Error: redaction: the trace_exec layout has no args bytes with a u16\/u32 args_size: rebuild the gadgets \(npm run build\)$/,
    );
  });

  it('other gadgets have nothing to redact', () => {
    assert.equal(recordRedaction('trace_open', layout('trace_open'), new Redactor()), undefined);
  });
});

describe('traceloop slots', () => {
  const TL = layout('traceloop');
  const red = recordRedaction('traceloop', TL, new Redactor([parseUserPattern('zz+')]))!;
  function slot(seq: number, data: string): Buffer {
    const d = Buffer.from(data, 'latin1');
    const b = Buffer.alloc(SLOT_SIZE + d.length);
    b.writeBigUInt64LE(BigInt(seq) << 1n, SLOT.front);
    b.writeBigUInt64LE(BigInt(seq) << 1n, SLOT.back);
    b.writeUInt16LE(1, SLOT.nr);
    b[SLOT.kind] = 1;
    b.writeUInt16LE(d.length, SLOT.len);
    d.copy(b, SLOT.data);
    return b;
  }

  it('data items (argv, buffers) are redacted and len follows', () => {
    const batch = frameRecords([
      slot(1, '/bin/sh\0'),
      slot(2, 'sh\0-c\0true --password=hunter2\0'),
      slot(3, 'GET / HTTP/1.1\r\nAuthorization: Bearer abc123\r\n\r\n'),
      slot(4, 'a zzzz b'),
    ]);
    const out = red.batch(batch, 4);
    assert.equal(out.redacted, 3);
    const data = splitRecords(out.records).map((r) =>
      parseSlot(r, 0, r.length)!.data.toString('latin1'),
    );
    assert.deepEqual(data, [
      '/bin/sh\0',
      'sh\0-c\0true --password=***\0',
      'GET / HTTP/1.1\r\nAuthorization: Bearer ***\r\n\r\n',
      'a *** b',
    ]);
  });

  it('structures copied behind pointers (a connect sockaddr) are redacted like any item', () => {
    const path = Buffer.from('/run/app.sock?access_token=s3cr3t\0', 'latin1');
    const addr = Buffer.alloc(2 + path.length);
    addr.writeUInt16LE(1, 0); // AF_UNIX
    path.copy(addr, 2);
    const b = Buffer.alloc(SLOT_SIZE + addr.length);
    b.writeBigUInt64LE((1n << 1n) | 1n, SLOT.front);
    b.writeBigUInt64LE((1n << 1n) | 1n, SLOT.back);
    b.writeUInt16LE(42, SLOT.nr); // connect
    b[SLOT.kind] = 1;
    b[SLOT.flags] = 1; // returned
    b.writeBigUInt64LE(3n, SLOT.args);
    b.writeBigUInt64LE(0x7ffc0000n, SLOT.args + 8);
    b.writeBigUInt64LE(BigInt(addr.length), SLOT.args + 16);
    b.writeUInt16LE(addr.length, SLOT.len);
    addr.copy(b, SLOT.data);
    const out = red.batch(frameRecords([b]), 1);
    assert.equal(out.redacted, 1);
    const [rec] = assemble([parseSlot(splitRecords(out.records)[0]!, 0, SLOT_SIZE + 264)!]);
    assert.equal(
      formatParams(rec!),
      `3, {sa_family=AF_UNIX, sun_path="/run/app.sock?access_token=***"}, ${addr.length}`,
    );
  });

  it('iovec buffers (writev) are redacted and still decoded, each buffer on its side of the NUL', () => {
    // read_iov's layout: bases, lengths, count read, bytes copied, faults; buffer 0, NUL, buffer 1
    const b0 = Buffer.from('POST /login HTTP/1.1\r\n', 'latin1');
    const b1 = Buffer.from('user=bob&password=hunter2', 'latin1');
    const h = Buffer.alloc(36);
    h.writeBigUInt64LE(0x7ffc1000n, 0);
    h.writeBigUInt64LE(0x7ffc2000n, 8);
    h.writeBigUInt64LE(BigInt(b0.length), 16);
    h.writeBigUInt64LE(BigInt(b1.length), 24);
    h[32] = 2;
    h[33] = b0.length;
    h[34] = b1.length;
    const item = Buffer.concat([h, b0, Buffer.alloc(1), b1]);
    const b = Buffer.alloc(SLOT_SIZE + item.length);
    b.writeBigUInt64LE((1n << 1n) | 1n, SLOT.front);
    b.writeBigUInt64LE((1n << 1n) | 1n, SLOT.back);
    b.writeUInt16LE(20, SLOT.nr); // writev
    b[SLOT.kind] = 1;
    b[SLOT.flags] = 1; // returned
    b.writeBigUInt64LE(3n, SLOT.args);
    b.writeBigUInt64LE(0x7ffc0000n, SLOT.args + 8);
    b.writeBigUInt64LE(2n, SLOT.args + 16);
    b.writeBigInt64LE(BigInt(b0.length + b1.length), SLOT.ret);
    b.writeUInt16LE(item.length, SLOT.len);
    item.copy(b, SLOT.data);
    const r = recordRedaction('traceloop', TL, new Redactor())!;
    const out = r.batch(frameRecords([b]), 1);
    assert.equal(out.redacted, 1);
    const [rec] = assemble([parseSlot(splitRecords(out.records)[0]!, 0, SLOT_SIZE + 264)!]);
    const text = formatParams(rec!);
    assert.ok(!text.includes('hunter2'), text);
    assert.equal(
      text,
      '3, [{iov_base="POST /login HTTP/1.1\\r\\n", iov_len=22}, {iov_base="user=bob&password=***", iov_len=25}], 2',
    );
  });

  it('msghdr iovecs (sendmsg) are redacted; the name after them is still found', () => {
    // read_msg's layout: the msghdr, its iovec copy (as read_iov), the name, the name's length
    const data = Buffer.from('auth token=s3cr3t-value', 'latin1');
    const iov = Buffer.alloc(36);
    iov.writeBigUInt64LE(0x7ffc1000n, 0);
    iov.writeBigUInt64LE(BigInt(data.length), 16);
    iov[32] = 1;
    iov[33] = data.length;
    const name = Buffer.alloc(16);
    name.writeUInt16LE(2, 0); // AF_INET
    name.writeUInt16BE(9, 2);
    Buffer.from([127, 0, 0, 1]).copy(name, 4);
    const h = Buffer.alloc(56);
    h.writeBigUInt64LE(0x7ffc3000n, 0);
    h.writeUInt32LE(16, 8);
    h.writeBigUInt64LE(0x7ffc4000n, 16);
    h.writeBigUInt64LE(1n, 24);
    const item = Buffer.concat([h, iov, data, Buffer.alloc(1), name, Buffer.from([16])]);
    const b = Buffer.alloc(SLOT_SIZE + item.length);
    b.writeBigUInt64LE((1n << 1n) | 1n, SLOT.front);
    b.writeBigUInt64LE((1n << 1n) | 1n, SLOT.back);
    b.writeUInt16LE(46, SLOT.nr); // sendmsg
    b[SLOT.kind] = 1;
    b[SLOT.flags] = 1;
    b.writeBigUInt64LE(6n, SLOT.args);
    b.writeBigUInt64LE(0x7ffc0000n, SLOT.args + 8);
    b.writeBigInt64LE(BigInt(data.length), SLOT.ret);
    b.writeUInt16LE(item.length, SLOT.len);
    item.copy(b, SLOT.data);
    const r = recordRedaction('traceloop', TL, new Redactor())!;
    const out = r.batch(frameRecords([b]), 1);
    assert.equal(out.redacted, 1);
    const [rec] = assemble([parseSlot(splitRecords(out.records)[0]!, 0, SLOT_SIZE + 264)!]);
    assert.equal(
      formatParams(rec!),
      '6, {msg_name={sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, msg_namelen=16, msg_iov=[{iov_base="auth token=***", iov_len=23}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0',
    );
  });

  it('a result longer than the 264 bytes of a data item is cut there', () => {
    const long = `${'x'.repeat(259)} -pA`;
    const r = recordRedaction('traceloop', TL, new Redactor([parseUserPattern('-p(A)')]))!;
    const out = r.batch(frameRecords([slot(1, long)]), 1);
    const s = parseSlot(splitRecords(out.records)[0]!, 0, SLOT_SIZE + 264)!;
    assert.equal(s.data.length, 264);
    assert.equal(s.data.toString('latin1'), `${'x'.repeat(259)} -p**`);
  });
});

describe('RedactingRuntime', () => {
  it('rewrites run and traceloop show batches per header; the rest passes through', async () => {
    const batch = frameRecords([execRecord(7, ['x', '--token=abc'])]);
    const msgs: RunMessage[] = [
      {
        kind: 'header',
        header: { gadget: 'trace_exec', node: 'n1', layout: EXEC, bootToWallNs: 0n },
      },
      {
        kind: 'header',
        header: {
          gadget: 'trace_open',
          node: 'n2',
          layout: layout('trace_open'),
          bootToWallNs: 0n,
        },
      },
      { kind: 'batch', records: batch, count: 1, node: 'n1' },
      { kind: 'batch', records: batch, count: 1, node: 'n2' },
      { kind: 'done', reason: 'timeout' },
    ];
    const inner = {
      info: () => Promise.reject(new Error('unused')),
      listContainers: () => Promise.resolve([]),
      run: async function* () {
        yield* msgs;
      },
      close: () => Promise.resolve(),
    };
    const rt = new RedactingRuntime(inner, new Redactor());
    assert.equal(rt.traceloop, undefined, 'no recorder: none offered');
    assert.equal(rt.loads, undefined);
    assert.equal(
      new RedactingRuntime({ ...inner, loads: 3 } as typeof inner, new Redactor()).loads,
      3,
    );
    const out: RunMessage[] = [];
    for await (const m of rt.run(
      { gadget: 'trace_exec', params: {}, filter: {} as never, timeoutSeconds: 0 },
      new AbortController().signal,
    )) {
      out.push(m);
    }
    assert.equal(out.length, 5);
    const b1 = out[2] as Extract<RunMessage, { kind: 'batch' }>;
    assert.deepEqual(argsOf(b1.records), [[7, ['x', '--token=***']]]);
    assert.equal(b1.node, 'n1');
    // trace open's header governs node n2: its batch is not touched
    assert.equal((out[3] as Extract<RunMessage, { kind: 'batch' }>).records, batch);
    assert.deepEqual(out[4], msgs[4]);
  });
});
