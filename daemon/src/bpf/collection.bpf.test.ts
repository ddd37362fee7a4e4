// Integration tests of the addon + wrapper against the real kernel (root; build first with
// daemon/native/build.sh). Test object: daemon/native/test/wrapper_test.bpf.c.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import {
  BPF_NOEXIST,
  Collection,
  ObjectSpec,
  clockOffsetNs,
  isBpfError,
  isPinnedLink,
  numPossibleCpus,
  openPinnedLink,
  openPinnedMap,
  readLost,
  unpinLink,
  type ReaderOptions,
  forEachRecord,
  framedSize,
  packageRoot,
  splitRecords,
} from './index.js';

const root = packageRoot();
const OBJ = path.join(root, 'build/native/test/wrapper_test.bpf.o');
const BAD = path.join(root, 'build/native/test/bad_prog.bpf.o');
const LOADGEN = path.join(root, 'build/native/test/loadgen');
const ITER = path.join(root, 'build/native/test/iter_test.bpf.o');
const isRoot = process.getuid?.() === 0;
const execFileP = promisify(execFile);

const EVENT_SIZE = 96;
const FNAME_OFF = 32;

interface Ev {
  ts: bigint;
  pid: number;
  tag: number;
  copy: number;
  flags: number;
  mntns: bigint;
  fname: string;
}

function decode(b: Buffer): Ev {
  const end = b.indexOf(0, FNAME_OFF);
  return {
    ts: b.readBigUInt64LE(0),
    pid: b.readUInt32LE(8),
    tag: b.readUInt32LE(12),
    copy: b.readUInt32LE(16),
    flags: b.readInt32LE(20),
    mntns: b.readBigUInt64LE(24),
    fname: b.toString('utf8', FNAME_OFF, end < 0 ? b.length : end),
  };
}

let markerSeq = 0;
/** A unique path prefix (<= 16 bytes, the `marker` global) for this test process. */
function newMarker(): string {
  return `/tmp/wt${process.pid % 100000}${String.fromCharCode(97 + (markerSeq++ % 26))}`;
}

/** openat(2) of a path that does not exist: the tracepoint fires, nothing is created. */
function touch(p: string, flags = 'r'): void {
  try {
    closeSync(openSync(p, flags));
  } catch {
    /* ENOENT expected */
  }
}

function selfMntns(): bigint {
  const m = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/mnt'));
  assert.ok(m?.[1]);
  return BigInt(m[1]);
}

interface Loaded {
  coll: Collection;
  batches: Array<{ batch: Buffer; count: number }>;
  records: () => Buffer[];
  reader: ReturnType<Collection['reader']>;
}

function loadTest(
  globals: Record<string, number | bigint | boolean | string | Uint8Array>,
  opts: { ring?: number; reader?: ReaderOptions; onBatch?: (b: Buffer, n: number) => void } = {},
): Loaded {
  const spec = ObjectSpec.open(OBJ);
  for (const [k, v] of Object.entries(globals)) spec.setGlobal(k, v);
  spec.setMapMaxEntries('events', opts.ring ?? 1 << 20);
  const coll = spec.load();
  spec.close(); // no-op after load
  const batches: Array<{ batch: Buffer; count: number }> = [];
  const reader = coll.reader(
    'events',
    opts.onBatch ?? ((batch, count) => batches.push({ batch, count })),
    opts.reader,
  );
  assert.equal(coll.attach(), 2);
  return { coll, batches, reader, records: () => batches.flatMap((b) => splitRecords(b.batch)) };
}

function bpftool(kind: 'prog' | 'map' | 'link'): Array<Record<string, unknown>> {
  return JSON.parse(execFileSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8' })) as Array<
    Record<string, unknown>
  >;
}

function liveIds(kind: 'prog' | 'map'): Set<number> {
  return new Set(bpftool(kind).map((e) => e['id'] as number));
}

function linkProgIds(): Set<number> {
  return new Set(bpftool('link').map((e) => e['prog_id'] as number));
}

function idsOf(coll: Collection): { progs: number[]; maps: number[] } {
  return {
    progs: ['wt_openat', 'wt_sys_enter'].map((p) => coll.programInfo(p).id),
    maps: ['events', 'gadget_lost', 'gadget_mntns_filter', 'wt_syscalls'].map(
      (m) => coll.map(m).id,
    ),
  };
}

async function waitGone(ids: { progs: number[]; maps: number[] }, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const progs = liveIds('prog');
    const maps = liveIds('map');
    const links = linkProgIds();
    const left = [
      ...ids.progs.filter((i) => progs.has(i) || links.has(i)).map((i) => `prog ${i}`),
      ...ids.maps.filter((i) => maps.has(i)).map((i) => `map ${i}`),
    ];
    if (left.length === 0) return;
    if (Date.now() > deadline) assert.fail(`still in the kernel: ${left.join(', ')}`);
    await sleep(50);
  }
}

function bpffsListing(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const n of readdirSync(d)) {
      const p = path.join(d, n);
      out.push(p);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk('/sys/fs/bpf');
  return out.sort();
}

const open: Collection[] = [];
after(() => {
  for (const c of open) c.close();
});
function track(l: Loaded): Loaded {
  open.push(l.coll);
  return l;
}

describe('bpf wrapper (kernel)', { skip: !isRoot && 'needs root' }, () => {
  it('loads, sets const volatile globals, attaches, delivers exact records in order', async () => {
    const marker = newMarker();
    const l = track(loadTest({ target_tgid: process.pid, tag: 0xabcd, tag_offset: -5n, marker }));
    const wallBefore = BigInt(Date.now()) * 1_000_000n;
    const paths = Array.from({ length: 5 }, (_, i) => `${marker}-${i}-file`);
    paths.forEach((p, i) => touch(p, i % 2 ? 'r+' : 'r'));
    touch('/tmp/not-the-marker'); // filtered out by `marker`
    await l.reader.flush();
    const wallAfter = BigInt(Date.now()) * 1_000_000n;

    const recs = l.records();
    assert.equal(recs.length, 5);
    assert.equal(
      l.batches.reduce((s, b) => s + b.count, 0),
      5,
    );
    const off = clockOffsetNs();
    const mntns = selfMntns();
    recs.forEach((r, i) => {
      assert.equal(r.length, EVENT_SIZE);
      const e = decode(r);
      assert.equal(e.fname, paths[i]);
      assert.equal(e.pid, process.pid);
      assert.equal(e.tag, 0xabcd - 5); // tag + tag_offset, both set before load
      assert.equal(e.copy, 0);
      assert.equal(e.flags & 3, i % 2 ? 2 : 0); // O_RDWR for 'r+'
      assert.equal(e.mntns, mntns);
      const wall = e.ts + off;
      assert.ok(wall >= wallBefore - 5_000_000n && wall <= wallAfter + 5_000_000n, `ts ${wall}`);
    });
    // framing: [u32 len][96 bytes][4 bytes zero pad] per record
    const first = l.batches[0]?.batch;
    assert.ok(first);
    assert.equal(first.readUInt32LE(0), EVENT_SIZE);
    assert.equal(first.length % 8, 0);
    assert.equal(first.readUInt32LE(4 + EVENT_SIZE), 0);

    await l.reader.stop();
    assert.equal(l.reader.running, false);
    l.coll.close();
    l.coll.close(); // idempotent
    assert.throws(() => l.coll.map('events'), { code: 'EBADF' });
  });

  it('frames variable-length records with zero padding', async () => {
    const marker = newMarker();
    const l = track(loadTest({ target_tgid: process.pid, marker, variable_len: true }));
    const paths = [`${marker}`, `${marker}x`, `${marker}xy`, `${marker}xyz`, `${marker}-abcdefgh`];
    paths.forEach((p) => touch(p));
    await l.reader.flush();
    const total = l.batches.reduce((s, b) => s + b.batch.length, 0);
    const lens: number[] = [];
    for (const { batch } of l.batches) {
      forEachRecord(batch, (b, o, len) => {
        lens.push(len);
        for (let i = o + len; i < o - 4 + framedSize(len); i++) assert.equal(b[i], 0, 'pad byte');
      });
    }
    assert.deepEqual(
      lens,
      paths.map((p) => FNAME_OFF + p.length + 1),
    );
    assert.equal(
      total,
      lens.reduce((s, n) => s + framedSize(n), 0),
    );
    assert.deepEqual(
      l.records().map((r) => decode(r).fname),
      paths,
    );
    l.coll.close();
    await l.reader.done;
  });

  it('splits bursts into budget-sized batches, in order, with backpressure', async () => {
    const marker = newMarker();
    const l = track(
      loadTest(
        { target_tgid: process.pid, marker, copies: 64 },
        { ring: 4 << 20, reader: { budgetBytes: 1024, maxQueued: 2, intervalMs: 5 } },
      ),
    );
    const files = 50;
    for (let i = 0; i < files; i++) touch(`${marker}.${i}`);
    await l.reader.flush();
    const recs = l.records().map(decode);
    assert.equal(recs.length, files * 64);
    recs.forEach((e, k) => {
      assert.equal(e.fname, `${marker}.${Math.floor(k / 64)}`);
      assert.equal(e.copy, k % 64);
    });
    assert.ok(l.batches.length >= (files * 64 * 104) / 1104, `${l.batches.length} batches`);
    for (const b of l.batches) assert.ok(b.batch.length <= 1024 + 104);
    assert.equal(readLost(l.coll), 0);
    const st = l.reader.stats();
    assert.equal(st.records, files * 64);
    assert.equal(st.queued, 0);
    l.coll.close();
  });

  it('stop() drains the ring and delivers the rest before done; onError catches handler errors', async () => {
    const marker = newMarker();
    const errors: unknown[] = [];
    let calls = 0;
    const got: string[] = [];
    const l = track(
      loadTest(
        { target_tgid: process.pid, marker },
        {
          reader: {
            intervalMs: 60_000, // never polls on its own: only stop() drains
            onError: (e) => errors.push(e),
          },
          onBatch: (b) => {
            calls++;
            got.push(...splitRecords(b).map((r) => decode(r).fname));
            throw new Error('handler failed');
          },
        },
      ),
    );
    assert.throws(() => l.coll.reader('events', () => {}), {
      message: 'reader events: already being read',
      code: 'EBUSY',
    });
    for (let i = 0; i < 3; i++) touch(`${marker}${i}`);
    const done = l.reader.stop();
    assert.equal(l.reader.running, false);
    assert.equal(got.length, 0, 'delivered asynchronously, after stop() returns');
    await done;
    assert.deepEqual(
      got,
      [0, 1, 2].map((i) => `${marker}${i}`),
    );
    assert.equal(errors.length, calls);
    assert.match(String(errors[0]), /handler failed/);
    await l.reader.flush(); // resolves at once on a stopped reader
    // a new reader can take over the map
    const again: Buffer[] = [];
    const r2 = l.coll.reader('events', (b) => again.push(...splitRecords(b)));
    touch(`${marker}after`);
    await r2.flush();
    assert.deepEqual(
      again.map((r) => decode(r).fname),
      [`${marker}after`],
    );
    l.coll.close();
    await r2.done;
  });

  it('runs iter/task programs', () => {
    const spec = ObjectSpec.open(ITER);
    spec.setGlobal('target_tgid', process.pid);
    const c = spec.load();
    open.push(c);
    assert.equal(c.attach(), 1);
    assert.equal(c.iterRead('it_tasks').toString(), `${process.pid} node\n`);
    c.close();
  });

  it('runs a raw_tp program once on this thread (testRun), and says why another cannot be', () => {
    const spec = ObjectSpec.open(ITER);
    spec.setGlobal('target_tgid', process.pid);
    spec.setAutoload('it_test_run', true);
    const c = spec.load();
    open.push(c);
    assert.equal(c.testRun('it_test_run'), process.pid);
    assert.throws(() => c.testRun('it_tasks'), /^Error: test run: /);
    assert.throws(() => c.testRun('nope'), /nope/);
    c.close();
  });

  it('names the program that fails to attach and attaches nothing then', () => {
    const spec = ObjectSpec.open(ITER);
    spec.setAutoload('it_bad_attach', true); // SEC("?kprobe/...") is not autoloaded by default
    const c = spec.load();
    open.push(c);
    let err: unknown;
    try {
      c.attach();
    } catch (e) {
      err = e;
    }
    assert.ok(isBpfError(err), String(err));
    assert.match(err.message, /^attach it_bad_attach: /);
    assert.equal(err.program, 'it_bad_attach');
    assert.ok(['ENOENT', 'EOPNOTSUPP', 'EINVAL'].includes(err.code), err.code);
    assert.deepEqual(
      c.programs().map((p) => p.attached),
      [false, false, false],
    );
    c.attachProgram('it_tasks');
    assert.match(c.iterRead('it_tasks').toString(), new RegExp(`^${process.pid} node$`, 'm'));
    c.close();
  });

  it('pins a map only when asked, and opens it by path', () => {
    const pin = `/sys/fs/bpf/wt_test_${process.pid}`;
    const l = track(loadTest({ target_tgid: process.pid, marker: newMarker() }));
    const filter = l.coll.map('gadget_mntns_filter');
    l.coll.pinMap('gadget_mntns_filter', pin);
    try {
      const pinned = openPinnedMap(pin);
      assert.equal(pinned.id, filter.id);
      assert.equal(pinned.name, 'gadget_mntns_fi'); // kernel names are 15 chars
      pinned.update(5n, 1);
      assert.deepEqual(filter.lookup(5n), Buffer.from([1]));
      l.coll.close();
      assert.deepEqual(pinned.lookup(5n), Buffer.from([1]), 'pinned map outlives the collection');
      pinned.close();
      pinned.close();
      assert.throws(() => pinned.lookup(5n), { code: 'EBADF' });
    } finally {
      rmSync(pin, { force: true });
    }
    assert.throws(() => openPinnedMap(pin), {
      code: 'ENOENT',
      message: `open pinned ${pin}: No such file or directory`,
    });
  });

  it('pins links: programs stay attached after close, until unpinLink', async () => {
    const dir = `/sys/fs/bpf/wt_links_${process.pid}`;
    mkdirSync(dir);
    try {
      const l = track(loadTest({ target_tgid: process.pid, marker: newMarker() }));
      const progId = l.coll.programInfo('wt_sys_enter').id;
      const counter = l.coll.map('wt_syscalls');
      assert.throws(() => l.coll.pinLink('nope', `${dir}/x`), {
        code: 'ENOENT',
        message: 'pin link nope: no such program in wrapper_test',
      });
      const paths = l.coll.pinLinks(dir, 'wt_link_');
      assert.deepEqual(paths, [`${dir}/wt_link_wt_openat`, `${dir}/wt_link_wt_sys_enter`]);

      // another collection cannot take the same pin; one not attached has no link to pin
      const spec2 = ObjectSpec.open(OBJ);
      spec2.setGlobal('target_tgid', process.pid);
      const c2 = spec2.load();
      open.push(c2);
      assert.throws(() => c2.pinLink('wt_sys_enter', `${dir}/x`), {
        code: 'ENOENT',
        message: 'pin link wt_sys_enter: not attached',
      });
      c2.attachProgram('wt_sys_enter');
      assert.throws(() => c2.pinLinks(dir, 'wt_link_'), {
        code: 'EEXIST',
        message: `pin link wt_sys_enter at ${dir}/wt_link_wt_sys_enter: File exists`,
      });
      c2.close();

      // detect and open by path; a map pin is not a link
      l.coll.pinMap('wt_syscalls', `${dir}/wt_map`);
      assert.equal(isPinnedLink(paths[1]!), true);
      assert.equal(isPinnedLink(`${dir}/wt_map`), false);
      assert.equal(isPinnedLink(`${dir}/nothing`), false);
      assert.throws(() => openPinnedLink(`${dir}/wt_map`), {
        code: 'EINVAL',
        message: `open pinned link ${dir}/wt_map: not a link`,
      });
      assert.throws(() => openPinnedLink(`${dir}/nothing`), {
        code: 'ENOENT',
        message: `open pinned link ${dir}/nothing: No such file or directory`,
      });
      assert.throws(() => unpinLink(`${dir}/wt_map`), {
        code: 'EINVAL',
        message: `unpin link ${dir}/wt_map: not a link`,
      });
      const link = openPinnedLink(paths[1]!);
      assert.equal(link.progId, progId);
      const prog = link.program();
      assert.equal(prog.name, 'wt_sys_enter');
      assert.ok(prog.mapIds.includes(counter.id), `map ids ${prog.mapIds.join(',')}`);
      link.close();
      link.close();
      assert.throws(() => link.program(), { code: 'EBADF' });

      // the collection (and its fds) goes: the pinned links keep both programs counting
      const linkIds = bpftool('link')
        .filter((e) => e['prog_id'] === progId)
        .map((e) => e['id'] as number);
      assert.equal(linkIds.length, 1);
      l.coll.close();
      const counted = openPinnedMap(`${dir}/wt_map`);
      const before = counted.perCpuSum(0);
      for (let i = 0; i < 10; i++) statSync('/');
      assert.ok(counted.perCpuSum(0) >= before + 10, 'still attached after close');
      assert.ok(linkProgIds().has(progId));

      // unpinned with no other holder: detached when the call returns
      assert.equal(unpinLink(paths[1]!), true);
      assert.equal(unpinLink(paths[1]!), false);
      assert.ok(!bpftool('link').some((e) => linkIds.includes(e['id'] as number)), 'link gone');
      const after = counted.perCpuSum(0);
      for (let i = 0; i < 10; i++) statSync('/');
      assert.equal(counted.perCpuSum(0), after, 'no longer counting');
      counted.close();
      assert.equal(openPinnedLink(paths[0]!).unpin(), true);
      await waitGone({ progs: [progId], maps: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts kernel-side losses when the ring is tiny', async () => {
    const marker = newMarker();
    let received = 0;
    const l = track(
      loadTest(
        { target_tgid: process.pid, marker, copies: 64 },
        {
          ring: 4096,
          reader: { intervalMs: 1000 },
          onBatch: (_b, n) => {
            received += n;
          },
        },
      ),
    );
    const files = 20;
    for (let i = 0; i < files; i++) touch(`${marker}${i}`);
    await l.reader.flush();
    const lost = readLost(l.coll);
    assert.ok(lost > 0, 'some records lost');
    assert.ok(received > 0, 'some records received');
    assert.equal(received + lost, files * 64);
    l.coll.close();
  });

  it('sums per-CPU counters of a raw_tp program', async () => {
    const l = track(loadTest({ target_tgid: process.pid, marker: newMarker() }));
    const m = l.coll.map('wt_syscalls');
    assert.equal(m.perCpu, true);
    const a = m.perCpuSum(0);
    for (let i = 0; i < 100; i++) touch('/tmp/x-not-matching');
    const b = m.perCpuSum(0);
    assert.ok(b - a >= 100, `${a} -> ${b}`);
    const per = m.lookupPerCpu(0);
    assert.equal(per?.length, numPossibleCpus());
    assert.deepEqual(
      m.keys().map((k) => k.readUInt32LE(0)),
      [0],
    );
    assert.throws(() => m.lookup(0), /per-CPU map/);
    l.coll.close();
  });

  it('updates maps the program reads (container filter) and shares maps by fd', async () => {
    const marker = newMarker();
    const l = track(loadTest({ target_tgid: process.pid, marker, gadget_filter_mode: 2 }));
    const filter = l.coll.map('gadget_mntns_filter');
    const mntns = selfMntns();
    filter.update(mntns, 1, BPF_NOEXIST);
    assert.throws(() => filter.update(mntns, 1, BPF_NOEXIST), { code: 'EEXIST' });
    assert.deepEqual(filter.lookup(mntns), Buffer.from([1]));
    assert.deepEqual(
      filter.keys().map((k) => k.readBigUInt64LE(0)),
      [mntns],
    );
    touch(`${marker}excluded`);
    await l.reader.flush();
    assert.equal(l.records().length, 0, 'own mntns excluded');
    assert.equal(filter.delete(mntns), true);
    assert.equal(filter.delete(mntns), false);
    assert.equal(filter.lookup(mntns), null);
    touch(`${marker}included`);
    await l.reader.flush();
    assert.deepEqual(
      l.records().map((r) => decode(r).fname),
      [`${marker}included`],
    );

    // a second object reusing the first one's map sees the same kernel map
    const spec2 = ObjectSpec.open(OBJ);
    assert.equal(spec2.hasMap('gadget_mntns_filter'), true);
    spec2.reuseMap('gadget_mntns_filter', filter);
    const c2 = spec2.load();
    open.push(c2);
    const f2 = c2.map('gadget_mntns_filter');
    assert.equal(f2.id, filter.id);
    f2.update(42n, 7);
    assert.deepEqual(filter.lookup(42n), Buffer.from([7]));
    c2.close();
    assert.deepEqual(filter.lookup(42n), Buffer.from([7]), 'map outlives the second object');
    l.coll.close();
  });

  it('honours setAutoload and attaches programs one by one', () => {
    const spec = ObjectSpec.open(OBJ);
    spec.setAutoload('wt_sys_enter', false);
    const c = spec.load();
    open.push(c);
    assert.throws(() => c.programInfo('wt_sys_enter'), { code: 'ENOENT' });
    assert.equal(c.attach(), 1);
    assert.equal(c.attach(), 0, 'already attached');
    assert.equal(c.detachProgram('wt_openat'), true);
    c.attachProgram('wt_openat');
    assert.throws(() => c.attachProgram('wt_openat'), { code: 'EEXIST' });
    assert.deepEqual(
      c.programs().map((p) => [p.name, p.autoload, p.attached]),
      [
        ['wt_openat', true, true],
        ['wt_sys_enter', false, false],
      ],
    );
    c.close();
  });

  it('reports errors with context, errno code and libbpf log', () => {
    assert.throws(() => ObjectSpec.open('/nonexistent/x.bpf.o'), {
      message: 'open /nonexistent/x.bpf.o: No such file or directory',
      code: 'ENOENT',
    });
    const spec = ObjectSpec.open(OBJ);
    assert.throws(() => spec.setGlobal('nope', 1), {
      message: 'set global nope: no such variable in wrapper_test',
      code: 'ENOENT',
    });
    assert.throws(() => spec.setGlobal('tag', new Uint8Array(8)), {
      message: 'set global tag: value has 8 bytes, variable has 4',
    });
    assert.throws(() => spec.setGlobal('gadget_filter_mode', 300), { code: 'ERANGE' });
    assert.throws(() => spec.setMapMaxEntries('nomap', 1), {
      message: 'set max entries nomap: no such map in wrapper_test',
      code: 'ENOENT',
    });
    const c = spec.load();
    open.push(c);
    assert.throws(() => spec.setGlobal('tag', 1), { code: 'EBUSY' });
    assert.throws(() => c.map('nomap'), { message: 'map nomap: no such map in wrapper_test' });
    assert.throws(() => c.reader('gadget_lost', () => {}), {
      message: 'reader gadget_lost: not a ring buffer',
    });
    assert.throws(() => c.map('wt_syscalls').update(0, 1), /per-CPU values must be given as bytes/);
    assert.throws(
      () => c.map('gadget_mntns_filter').update(new Uint8Array(4), 1),
      /key has 4 bytes/,
    );
    c.close();

    const bad = ObjectSpec.open(BAD);
    let err: unknown;
    try {
      bad.load();
    } catch (e) {
      err = e;
    }
    assert.ok(isBpfError(err), String(err));
    assert.equal(err.message, 'load bad_prog: Permission denied');
    assert.equal(err.code, 'EACCES');
    assert.equal(err.program, 'bad_openat');
    assert.match(err.detail ?? '', /invalid mem access|map_value_or_null/);
    bad.close(); // already closed by the failed load
  });

  it('releases every kernel object on close and on GC', async () => {
    const pinsBefore = bpffsListing();
    const l = loadTest({ target_tgid: process.pid, marker: newMarker() });
    const ids = idsOf(l.coll);
    const progs = liveIds('prog');
    const maps = liveIds('map');
    const links = linkProgIds();
    for (const p of ids.progs) assert.ok(progs.has(p) && links.has(p), `prog ${p} loaded+linked`);
    for (const m of ids.maps) assert.ok(maps.has(m), `map ${m} exists`);
    l.coll.close();
    await l.reader.done;
    await waitGone(ids);
    assert.deepEqual(bpffsListing(), pinsBefore, 'nothing pinned');

    // a collection dropped without close() is released by the handle's finalizer
    const code = `
      const { ObjectSpec } = await import(process.env.BPF_MOD);
      const { execFileSync } = await import('node:child_process');
      let c = ObjectSpec.open(process.env.OBJ).load();
      c.attach();
      const ids = [c.programInfo('wt_openat').id, c.map('events').id];
      c = undefined;
      const live = () => {
        const p = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })).map((e) => e.id);
        const m = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })).map((e) => e.id);
        return [p.includes(ids[0]), m.includes(ids[1])];
      };
      const before = live();
      let after = before;
      for (let i = 0; i < 40 && (after[0] || after[1]); i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 50));
        after = live();
      }
      console.log(JSON.stringify({ before, after }));
    `;
    const { stdout } = await execFileP(
      process.execPath,
      ['--expose-gc', '--input-type=module', '-e', code],
      { env: { ...process.env, BPF_MOD: new URL('./index.js', import.meta.url).href, OBJ } },
    );
    assert.deepEqual(JSON.parse(stdout), { before: [true, true], after: [false, false] });
  });

  it('leaves nothing behind when a process with a running reader is SIGKILLed or exits', async () => {
    const pinsBefore = bpffsListing();
    const mod = new URL('./index.js', import.meta.url).href;
    const code = `
      const { ObjectSpec } = await import(process.env.BPF_MOD);
      const { openSync } = await import('node:fs');
      const spec = ObjectSpec.open(process.env.OBJ);
      spec.setGlobal('target_tgid', process.pid);
      spec.setGlobal('copies', 8);
      const c = spec.load();
      let n = 0;
      c.reader('events', (_b, k) => { n += k; }, { maxQueued: 1, keepAlive: process.env.MODE !== 'natural' });
      c.attach();
      const ids = {
        progs: ['wt_openat', 'wt_sys_enter'].map((p) => c.programInfo(p).id),
        maps: ['events', 'gadget_lost', 'gadget_mntns_filter', 'wt_syscalls'].map((m) => c.map(m).id),
      };
      // keep the reader busy: batches are in flight when the process ends
      const spin = () => { for (let i = 0; i < 2000; i++) { try { openSync('/tmp/wt-child-' + i); } catch {} } };
      spin();
      console.log(JSON.stringify(ids));
      if (process.env.MODE === 'exit') { spin(); setTimeout(() => process.exit(0), 30); }
      else if (process.env.MODE === 'natural') spin(); // unref'd reader: the process just ends
      else setInterval(spin, 1);
    `;
    const runChild = (
      mode: 'kill' | 'exit' | 'natural',
    ): Promise<{
      ids: { progs: number[]; maps: number[] };
      code: number | null;
      signal: string | null;
    }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
          env: { ...process.env, BPF_MOD: mod, OBJ, MODE: mode },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        let ids: { progs: number[]; maps: number[] } | undefined;
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (!ids && out.includes('\n')) {
            ids = JSON.parse(out.split('\n')[0] ?? '') as { progs: number[]; maps: number[] };
            const progs = liveIds('prog');
            for (const p of ids.progs) if (!progs.has(p)) reject(new Error(`prog ${p} not live`));
            if (mode === 'kill') setTimeout(() => child.kill('SIGKILL'), 200);
          }
        });
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          if (!ids) reject(new Error(`child exited (${code ?? signal}) before reporting`));
          else resolve({ ids, code, signal });
        });
      });

    const killed = await runChild('kill');
    assert.equal(killed.signal, 'SIGKILL');
    await waitGone(killed.ids);

    const exited = await runChild('exit');
    assert.equal(exited.code, 0, 'clean exit with a running reader');
    await waitGone(exited.ids);

    const natural = await runChild('natural');
    assert.equal(natural.code, 0, 'an unref()ed running reader lets the process end');
    await waitGone(natural.ids);
    assert.deepEqual(bpffsListing(), pinsBefore, 'nothing pinned');
  });

  it('measures reader throughput with an external load generator', async (t) => {
    assert.ok(existsSync(LOADGEN), `${LOADGEN} missing: run daemon/native/build.sh`);
    // copies = records per openat: 1 mirrors a real gadget (the syscall dominates),
    // 64 makes the reader + JS the bottleneck (delivery ceiling)
    const bench = async (N: number, copies: number): Promise<string> => {
      const marker = newMarker();
      const target = `${marker}-bench`;
      const base = await execFileP(LOADGEN, [target, String(N)]);
      const baseNs = Number(base.stdout.trim().split(' ')[1]);
      let received = 0;
      let pidSum = 0;
      let lastAt = 0n;
      const l = track(
        loadTest(
          { marker, copies },
          {
            ring: 16 << 20,
            onBatch: (batch, n) => {
              received += n;
              forEachRecord(batch, (b, o) => {
                pidSum += b.readUInt32LE(o + 8); // touch every record, as a decoder would
              });
              lastAt = process.hrtime.bigint();
            },
          },
        ),
      );
      const start = process.hrtime.bigint();
      const run = await execFileP(LOADGEN, [target, String(N)]);
      const tracedNs = Number(run.stdout.trim().split(' ')[1]);
      await l.reader.flush();
      const lost = readLost(l.coll);
      const st = l.reader.stats();
      l.coll.close();
      assert.ok(pidSum > 0);
      assert.equal(received + lost, N * copies);
      const secs = Number(lastAt - start) / 1e9;
      return (
        `copies=${copies}: ${received} events in ${secs.toFixed(3)} s = ` +
        `${(received / secs / 1e6).toFixed(2)}M events/s delivered to JS, lost ${lost}, ` +
        `${st.batches} batches; loadgen ${(baseNs / N).toFixed(0)} ns/call untraced, ` +
        `${(tracedNs / N).toFixed(0)} ns/call traced (${(tracedNs / baseNs).toFixed(2)}x)`
      );
    };
    for (const msg of [await bench(1_000_000, 1), await bench(50_000, 64)]) {
      t.diagnostic(`throughput ${msg}`);
      console.log(`throughput ${msg}`);
    }
  });
});
