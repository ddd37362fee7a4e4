// The container tracker's kernel record and fresh-namespace handling, in the real kernel (root;
// bash bpf/build.sh and daemon/native/build.sh first). Real podman containers for the cgroup.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { bpfObjectPath } from '../../../gadgets/framework/paths.js';
import { ObjectSpec, mntnsUid, type Collection } from '../bpf/index.js';
import { decodeMntnsRecord, recordCgroupMatch, type MntnsRecord } from './kernel-record.js';
import {
  ensureRootfs,
  podmanSkip,
  runContainer,
  uniqueName,
} from '../../../e2e/fixtures/podman.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const key = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

const inodeOf = (pid: number): number =>
  Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/mnt`))![1]);

/** `unshare -m` running `sleep`: a new mount namespace with an exec in it. */
async function unshared(): Promise<{ p: ChildProcess; pid: number; inode: number; uid: number }> {
  const p = spawn('unshare', ['-m', '/bin/sleep', '30'], { stdio: 'ignore' });
  const pid = p.pid!;
  // unshare execs sleep in the new namespace: wait for it
  for (let i = 0; i < 200; i++) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep') break;
    } catch {
      /* not yet */
    }
    await sleep(5);
  }
  return { p, pid, inode: inodeOf(pid), uid: mntnsUid(pid)! };
}

async function kill(p: ChildProcess): Promise<void> {
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

describe('container tracker: kernel record', { skip: !isRoot && 'needs root' }, () => {
  let coll: Collection;
  const spec = (): ObjectSpec => ObjectSpec.open(bpfObjectPath('container_tracker'));
  const record = (uid: number): MntnsRecord | null => {
    const v = coll.map('gadget_mntns_cgroup').lookup(key(uid));
    return v ? decodeMntnsRecord(v) : null;
  };
  before(() => {
    const s = spec();
    try {
      coll = s.load();
      coll.attach();
    } finally {
      s.close();
    }
  });
  after(() => coll?.close());

  it('keys the first exec of a namespace by its unique id, the same value ioctl(NS_GET_MNTNS_ID) gives', async () => {
    const a = await unshared();
    try {
      assert.ok(a.uid > 0);
      const r = record(a.uid);
      assert.ok(r, 'a record for the new namespace');
      assert.equal(r.inode, a.inode);
      assert.equal(r.pid, a.pid);
      // a host process: its cgroup names are the host's (no container id in them)
      assert.equal(recordCgroupMatch(r), null, `${r.cgroupParent}/${r.cgroup}`);
    } finally {
      await kill(a.p);
    }
  });

  it('an inode reused by a new namespace gets a record of its own, and leaves gadget_mntns_known at once', async () => {
    const known = coll.map('gadget_mntns_known');
    const one = Buffer.from([1]);
    // inodes come from an allocator that hands out the lowest free one: a namespace freed is
    // mostly reused by the next; retry until that happened
    for (let attempt = 0; attempt < 20; attempt++) {
      const a = await unshared();
      known.update(key(a.inode), one); // user space classified it
      await kill(a.p);
      await sleep(20); // the namespace is freed after the last reference goes
      const b = await unshared();
      try {
        if (b.inode !== a.inode) {
          known.delete(key(a.inode));
          continue;
        }
        assert.notEqual(b.uid, a.uid, 'unique ids are never reused');
        const ra = record(a.uid);
        const rb = record(b.uid);
        assert.ok(ra && rb, 'both namespaces have their record');
        assert.equal(ra.inode, rb.inode);
        assert.equal(ra.pid, a.pid);
        assert.equal(rb.pid, b.pid);
        assert.equal(
          known.lookup(key(b.inode)),
          null,
          'the new namespace is not taken for the classified one',
        );
        return;
      } finally {
        await kill(b.p);
      }
    }
    assert.fail('no inode was reused in 20 attempts');
  });

  it(
    'a podman container: the record names its cgroup, which gives its id, after it is gone',
    {
      skip: podmanSkip(),
    },
    async () => {
      ensureRootfs();
      const dir = mkdtempSync(join(tmpdir(), 'kg-record-'));
      try {
        const name = uniqueName('record');
        const cidfile = join(dir, 'cid');
        const r = await runContainer(name, ['/bin/busybox', 'true'], {
          args: ['--rm', '--cidfile', cidfile],
        });
        assert.equal(r.code, 0, r.stderr);
        const id = readFileSync(cidfile, 'utf8').trim();
        const found: MntnsRecord[] = [];
        for (const [, v] of coll.map('gadget_mntns_cgroup').entries()) {
          const rec = decodeMntnsRecord(v);
          if (recordCgroupMatch(rec)?.id === id) found.push(rec);
        }
        assert.equal(found.length, 1, 'one record: the container namespace');
        assert.match(found[0]!.cgroup, new RegExp(`^(libpod-)?${id}(\\.scope)?$`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
