// ContainerRegistry.resolveUid on a hand-made procfs, scripted unique ids and kernel records:
// a mount namespace is named by its unique id, never by a reused inode alone.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { ContainerRegistry } from './registry.js';
import type { MntnsRecord } from './kernel-record.js';
import type { MetadataSource, RuntimeMeta } from './sources.js';

const HOST_NS = 4026531841;
const REUSED = 4026532500;
const idOf = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);

class FakeProc {
  readonly root = mkdtempSync(join(tmpdir(), 'kg-fakeproc-'));
  constructor() {
    writeFileSync(join(this.root, 'uptime'), '1000.00 2000.00\n');
  }
  add(pid: number, mntns: number, cgroup = '0::/\n', ppid = 1): void {
    const d = join(this.root, String(pid));
    rmSync(d, { recursive: true, force: true });
    mkdirSync(join(d, 'ns'), { recursive: true });
    symlinkSync(`mnt:[${mntns}]`, join(d, 'ns', 'mnt'));
    writeFileSync(join(d, 'cgroup'), cgroup);
    const f = ['S', String(ppid), ...Array<string>(17).fill('0'), String(pid)];
    writeFileSync(join(d, 'stat'), `${pid} (sh) ${f.join(' ')} 0 0\n`);
    writeFileSync(join(d, 'status'), `Name:\tsh\nNSpid:\t${pid}\t1\n`);
  }
  remove(pid: number): void {
    rmSync(join(this.root, String(pid)), { recursive: true, force: true });
  }
  close(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

class Source implements MetadataSource {
  readonly name = 'scripted';
  readonly metas = new Map<string, RuntimeMeta>();
  set(id: string, name: string, initPid = 0): void {
    this.metas.set(id, {
      runtime: 'podman',
      id,
      name,
      image: 'img',
      initPid,
      annotations: {},
      sandbox: false,
      bundle: '',
      containerdNamespace: '',
    });
  }
  lookup(id: string): RuntimeMeta | null {
    return this.metas.get(id) ?? null;
  }
}

const record = (id: string, inode: number, pid: number): MntnsRecord => ({
  cgroup: `libpod-${id}`,
  cgroupParent: 'libpod_parent',
  inode,
  firstExecNs: 5_000_000_000n,
  pid,
});

describe('ContainerRegistry.resolveUid', () => {
  let proc: FakeProc;
  let src: Source;
  let reg: ContainerRegistry;
  /** pid -> its namespace's unique id (what ioctl NS_GET_MNTNS_ID would say) */
  let uids: Map<number, number>;
  let records: Map<number, MntnsRecord>;
  let recordLookups: number;

  beforeEach(async () => {
    proc = new FakeProc();
    src = new Source();
    uids = new Map([[1, 1]]);
    records = new Map();
    recordLookups = 0;
    proc.add(1, HOST_NS, '0::/\n', 0);
    reg = new ContainerRegistry({
      procRoot: proc.root,
      pollMs: 0,
      sources: [src],
      mntnsUid: (pid) => uids.get(pid) ?? null,
      kernelRecord: (uid) => {
        recordLookups++;
        return records.get(uid) ?? null;
      },
    });
    await reg.start();
  });
  afterEach(() => {
    reg.close();
    proc.close();
  });

  it('a container scanned from /proc carries its namespace unique id, and is found by it', () => {
    const id = idOf(1);
    src.set(id, 'web', 200);
    uids.set(200, 40);
    proc.add(200, REUSED, `0::/libpod_parent/libpod-${id}\n`);
    reg.poll();
    const c = reg.byId(id)!;
    assert.equal(c.mntnsUid, 40);
    assert.equal(reg.resolveUid(40, REUSED, 999), c);
    assert.equal(recordLookups, 0, 'no kernel record needed');
  });

  it('a container gone before any scan: named from the kernel record, listed as exited', () => {
    const id = idOf(2);
    src.set(id, 'oneshot');
    records.set(41, record(id, REUSED, 300));
    const c = reg.resolveUid(41, REUSED, 300)!;
    assert.ok(c);
    assert.equal(c.id, id);
    assert.equal(c.name, 'oneshot');
    assert.equal(c.state, 'exited');
    assert.equal(c.mntnsUid, 41);
    assert.equal(c.mntnsId, REUSED);
    assert.deepEqual(
      reg.list().map((x) => x.name),
      ['oneshot'],
    );
    // its name is kept: the metadata is gone, the answer stays
    src.metas.clear();
    assert.equal(reg.resolveUid(41, REUSED, 300)?.name, 'oneshot');
  });

  it('two short-lived containers with the same inode each get their own name, never the other', () => {
    const a = idOf(3);
    const b = idOf(4);
    src.set(a, 'first');
    src.set(b, 'second');
    records.set(50, record(a, REUSED, 400));
    records.set(51, record(b, REUSED, 401));
    assert.equal(reg.resolveUid(51, REUSED, 401)?.name, 'second');
    assert.equal(reg.resolveUid(50, REUSED, 400)?.name, 'first');
    assert.equal(reg.resolveUid(51, REUSED, 401)?.name, 'second');
  });

  it('an inode a running container had: a new namespace on it is not taken for that container', () => {
    const id = idOf(5);
    src.set(id, 'old', 500);
    uids.set(500, 60);
    proc.add(500, REUSED, `0::/libpod_parent/libpod-${id}\n`);
    reg.poll();
    assert.equal(reg.byMntns(REUSED)?.name, 'old');
    // a namespace with another unique id on the same inode, no record, process gone
    assert.equal(reg.resolveUid(61, REUSED, 501), null);
    // with its record: its own container
    const n = idOf(6);
    src.set(n, 'new');
    records.set(62, record(n, REUSED, 502));
    assert.equal(reg.resolveUid(62, REUSED, 502)?.name, 'new');
  });

  it('a live process in a namespace created inside a container: the container, under that id too', () => {
    const id = idOf(7);
    src.set(id, 'outer', 600);
    uids.set(600, 70);
    proc.add(600, REUSED, `0::/libpod_parent/libpod-${id}\n`);
    reg.poll();
    uids.set(601, 71);
    proc.add(601, REUSED + 1, `0::/libpod_parent/libpod-${id}\n`, 600);
    const c = reg.resolveUid(71, REUSED + 1, 601);
    assert.equal(c?.name, 'outer');
    assert.equal(reg.byMntnsUid(71)?.name, 'outer');
  });

  it('a host namespace: null, remembered', () => {
    uids.set(700, 80);
    proc.add(700, HOST_NS + 5);
    assert.equal(reg.resolveUid(80, HOST_NS + 5, 700), null);
    proc.remove(700);
    assert.equal(reg.resolveUid(80, HOST_NS + 5, 700), null);
    assert.equal(recordLookups, 0);
  });
});
