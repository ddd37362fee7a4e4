import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gadgetLayoutPath } from '../framework/paths.js';
import type { RecordLayout } from '../framework/types.js';
import {
  assemble,
  durationNs,
  durationText,
  errorName,
  exitCode,
  exitText,
  formatArg,
  formatParams,
  KIND_CONT,
  KIND_EXIT,
  KIND_SIGNAL,
  KIND_SYSCALL,
  F_DONE,
  F_HAS_CONT,
  F_NORETURN,
  parseSlot,
  quote,
  recordObject,
  retText,
  SLOT,
  SLOT_SIZE,
  type Slot,
  type TraceRecord,
} from './format.js';
import {
  closeMatches,
  infoWord,
  parseSyscallFilter,
  SC_AT_ENTER,
  SC_ITEMS_SHIFT,
  SC_KEEP,
  SC_NORETURN,
  scInfoBytes,
  syscallByName,
  SyscallFilterError,
} from './table.js';

test('the slot offsets match the layout derived from the program BTF', (t) => {
  const p = gadgetLayoutPath('traceloop');
  if (!existsSync(p)) return t.skip('build/gadgets/traceloop.layout.json missing (bpf/build.sh)');
  const layout = JSON.parse(readFileSync(p, 'utf8')) as RecordLayout;
  assert.equal(layout.size, SLOT_SIZE);
  const off = Object.fromEntries(layout.fields.map((f) => [f.name, f.offset]));
  assert.equal(off.front, SLOT.front);
  assert.equal(off.ts, SLOT.ts);
  assert.equal(off.args, SLOT.args);
  assert.equal(off.ret, SLOT.ret);
  assert.equal(off.exit_ts, SLOT.exitTs);
  assert.equal(off.pid, SLOT.pid);
  assert.equal(off.tid, SLOT.tid);
  assert.equal(off.nr, SLOT.nr);
  assert.equal(off.cpu, SLOT.cpu);
  assert.equal(off.kind, SLOT.kind);
  assert.equal(off.flags, SLOT.flags);
  assert.equal(off.len, SLOT.len);
  assert.equal(off.comm, SLOT.comm);
  assert.equal(off.back, SLOT.back);
  assert.equal(off.data, SLOT.data);
});

test('info words: strings, buffers, argv, no-return, at-entry', () => {
  const w = (n: string): number => infoWord(syscallByName(n)!);
  assert.equal(w('openat') & 0x3f, 0b10); // filename is argument 1
  assert.equal((w('openat') >> SC_ITEMS_SHIFT) & 3, 1);
  assert.equal(w('rename') & 0x3f, 0b11);
  assert.equal((w('rename') >> SC_ITEMS_SHIFT) & 3, 2);
  assert.equal((w('read') >> 6) & 7, 2, 'read: buffer is argument 1');
  assert.equal((w('read') >> 9) & 7, 0, 'read: length is the return value');
  assert.equal((w('write') >> 9) & 7, 3, 'write: length is argument 2');
  assert.ok(w('execve') & SC_AT_ENTER);
  assert.equal((w('execve') >> SC_ITEMS_SHIFT) & 3, 2, 'filename and argv');
  assert.ok(w('exit_group') & SC_NORETURN);
  assert.ok(w('exit') & SC_NORETURN);
  assert.equal(w('getppid'), 0);
});

test('sc_info: SC_KEEP on every syscall, or only on the filter', () => {
  const all = Buffer.from(scInfoBytes());
  assert.ok(all.readUInt32LE(257 * 4) & SC_KEEP);
  const some = Buffer.from(scInfoBytes(parseSyscallFilter(['openat,execve'])));
  assert.ok(some.readUInt32LE(257 * 4) & SC_KEEP);
  assert.ok(some.readUInt32LE(59 * 4) & SC_KEEP);
  assert.equal(some.readUInt32LE(0) & SC_KEEP, 0);
});

test('a bad --syscall-filter names the bad syscall and close ones', () => {
  assert.throws(
    () => parseSyscallFilter(['openat', 'opn']),
    (e: unknown) =>
      e instanceof SyscallFilterError &&
      e.syscall === 'opn' &&
      /unknown syscall "opn" in --syscall-filter/.test(e.message) &&
      e.suggestions.includes('open'),
  );
  assert.deepEqual([...parseSyscallFilter(['read, write'])].sort(), [0, 1]);
  assert.ok(closeMatches('exeve', ['execve', 'exit', 'read']).includes('execve'));
});

function slotBuf(f: {
  seq: number;
  done?: boolean;
  kind: number;
  nr: number;
  args?: bigint[];
  ret?: bigint;
  flags?: number;
  data?: string;
  ts?: bigint;
  exitTs?: bigint;
  torn?: boolean;
}): Buffer {
  const data = Buffer.from(f.data ?? '', 'latin1');
  const b = Buffer.alloc(SLOT_SIZE + data.length);
  const marker = (BigInt(f.seq) << 1n) | (f.done === false ? 0n : 1n);
  b.writeBigUInt64LE(marker, SLOT.front);
  b.writeBigUInt64LE(f.torn ? marker + 2n : marker, SLOT.back);
  b.writeBigUInt64LE(f.ts ?? BigInt(1000 + f.seq), SLOT.ts);
  (f.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, a), SLOT.args + i * 8));
  b.writeBigInt64LE(f.ret ?? 0n, SLOT.ret);
  b.writeBigUInt64LE(f.exitTs ?? 0n, SLOT.exitTs);
  b.writeUInt32LE(10, SLOT.pid);
  b.writeUInt32LE(11, SLOT.tid);
  b.writeUInt16LE(f.nr, SLOT.nr);
  b.writeUInt16LE(1, SLOT.cpu);
  b[SLOT.kind] = f.kind;
  b[SLOT.flags] = f.flags ?? F_DONE;
  b.writeUInt16LE(data.length, SLOT.len);
  b.write('prog', SLOT.comm);
  data.copy(b, SLOT.data);
  return b;
}

const slot = (f: Parameters<typeof slotBuf>[0]): Slot => {
  const b = slotBuf(f);
  return parseSlot(b, 0, b.length)!;
};

test('torn and empty slots are dropped', () => {
  assert.equal(parseSlot(Buffer.alloc(SLOT_SIZE)), null);
  const b = slotBuf({ seq: 1, kind: KIND_SYSCALL, nr: 39, torn: true });
  assert.equal(parseSlot(b, 0, b.length), null);
});

test('records: strace-like params, errno names, continuation merged, time order', () => {
  const recs = assemble([
    slot({
      seq: 3,
      kind: KIND_SYSCALL,
      nr: 82, // rename
      args: [0x1000n, 0x2000n],
      flags: F_DONE | F_HAS_CONT,
      data: '/tmp/a\0',
    }),
    slot({ seq: 4, kind: KIND_CONT, nr: 82, args: [3n], data: '/tmp/b\0' }),
    slot({
      seq: 1,
      kind: KIND_SYSCALL,
      nr: 257, // openat
      args: [BigInt.asUintN(64, -100n), 0x1000n, 0o2000000n, 0n],
      ret: -2n,
      data: '/etc/missing\0',
    }),
    slot({ seq: 5, kind: KIND_SYSCALL, nr: 231, args: [7n], flags: F_NORETURN }),
    slot({ seq: 6, kind: KIND_SIGNAL, nr: 11, args: [1n, 0n, 0n, 0n, 0n] }),
    slot({ seq: 7, kind: KIND_EXIT, nr: 0, ret: 139n }),
    slot({ seq: 2, kind: KIND_SYSCALL, nr: 0, args: [3n, 0x5000n, 64n], ret: 3n, data: 'hi\n' }),
    slot({ seq: 8, kind: KIND_SYSCALL, nr: 0, args: [0n, 0x5000n, 64n], flags: 0, done: false }),
  ]);
  assert.deepEqual(
    recs.map((r) => r.seq),
    [1n, 2n, 3n, 5n, 6n, 7n, 8n],
  );
  const [open, read, rename, exitGroup, sig, exit, inflight] = recs as [
    (typeof recs)[number],
    ...(typeof recs)[number][],
  ];
  assert.equal(formatParams(open), 'AT_FDCWD, "/etc/missing", O_RDONLY|O_CLOEXEC');
  assert.equal(retText(open), 'ENOENT');
  assert.equal(errorName(open), 'ENOENT');
  assert.equal(formatParams(read!), '3, "hi\\n", 64');
  assert.equal(retText(read!), '3');
  assert.equal(formatParams(rename!), '"/tmp/a", "/tmp/b"');
  assert.equal(retText(exitGroup!), '?');
  assert.equal(recordObject(exitGroup!, 0n).ret, null);
  assert.match(
    formatParams(sig!),
    /si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL\} fatal, core dump/,
  );
  assert.equal(formatParams(exit!), 'killed by SIGSEGV (core dumped)');
  assert.equal(retText(inflight!), '? (unfinished)');
  const o = recordObject(open, 5n);
  assert.equal(o.timestamp, 1006n);
  assert.equal(o.syscall, 'openat');
  assert.equal(o.ret, -2);
  assert.equal(o.error, 'ENOENT');
  assert.equal(o.comm, 'prog');
});

test('durations (--durations) follow the return value as strace -T prints them', () => {
  const [nano, fail, inflight, plain] = assemble([
    // nanosleep of 1.5 ms that took 1.5623459 s... entry ts 1001, exit 1001 + 1_562_345_999 ns
    slot({ seq: 1, kind: KIND_SYSCALL, nr: 35, ts: 1001n, exitTs: 1001n + 1_562_345_999n }),
    slot({ seq: 2, kind: KIND_SYSCALL, nr: 257, ret: -2n, ts: 2000n, exitTs: 2123_000n }),
    slot({ seq: 3, kind: KIND_SYSCALL, nr: 0, flags: 0, done: false, ts: 3000n }),
    slot({ seq: 4, kind: KIND_SYSCALL, nr: 39, ret: 7n, ts: 4000n }),
  ]) as [TraceRecord, TraceRecord, TraceRecord, TraceRecord];
  assert.equal(durationText(1_562_345_999n), '<1.562345>');
  assert.equal(durationText(999n), '<0.000000>');
  assert.equal(retText(nano), '0 <1.562345>');
  assert.equal(recordObject(nano, 0n).duration_ns, 1_562_345_999);
  assert.equal(retText(fail), 'ENOENT <0.002121>');
  // not returned, or recorded without --durations: no duration, and no key in -o json
  assert.equal(retText(inflight), '? (unfinished)');
  assert.equal(durationNs(inflight), null);
  assert.equal(retText(plain), '7');
  assert.ok(!('duration_ns' in recordObject(plain, 0n)));
});

test('ioctl requests by name (what a shell does at start), unknown ones in hex', () => {
  assert.equal(formatArg('ioctl', 0x5401n), 'TCGETS');
  assert.equal(formatArg('ioctl', 0x5413n), 'TIOCGWINSZ');
  assert.equal(formatArg('ioctl', 0x80045430n), 'TIOCGPTN');
  assert.equal(formatArg('ioctl', 0xc0186201n), '0xc0186201');
});

test('exit statuses as the shell reports them', () => {
  assert.equal(exitText(3 << 8), 'exited with 3');
  assert.equal(exitText(9), 'killed by SIGKILL');
  assert.equal(exitText(0x80 | 11), 'killed by SIGSEGV (core dumped)');
  assert.equal(exitCode(3 << 8), 3);
  assert.equal(exitCode(11), 139);
});

test('quote escapes like strace', () => {
  assert.equal(quote(Buffer.from('a"b\\c\n\x01'), false), '"a\\"b\\\\c\\n\\1"');
  assert.equal(quote(Buffer.from('abc'), true), '"abc"...');
});
