// ObjectSpec.loadAsync against the real kernel (root; build first): the verifier runs on a worker
// thread while the event loop keeps running, the object refuses other calls meanwhile, a close
// during the load frees everything once it is over, and .bss globals written after load reach
// the kernel's copy (what a shared gadget's filter changes rely on).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { ObjectSpec, isBpfError, packageRoot, type Collection } from './index.js';

const OBJ = path.join(packageRoot(), 'build/gadgets/trace_open.bpf.o');
const isRoot = process.getuid?.() === 0;

/** Ids of the kernel's programs named like trace_open's. */
function openProgIds(): number[] {
  const all = JSON.parse(
    execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }),
  ) as Array<{
    id: number;
    name?: string;
  }>;
  return all.filter((p) => p.name === 'trace_open_exit').map((p) => p.id);
}

describe('ObjectSpec.loadAsync', { skip: !isRoot && 'needs root' }, () => {
  it('loads off the event loop: timers keep firing while the verifier runs', async () => {
    const spec = ObjectSpec.open(OBJ);
    spec.setMapMaxEntries('events', 4096);
    let ticks = 0;
    let worst = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
      ticks++;
    }, 2);
    const t0 = performance.now();
    const p = spec.loadAsync();
    // the object belongs to the worker until the load settles
    assert.throws(() => spec.setGlobal('full_path', true), { code: 'EBUSY' });
    const coll = await p;
    const took = performance.now() - t0;
    clearInterval(timer);
    try {
      assert.ok(coll.programs().some((x) => x.name === 'trace_open_exit'));
      // the load took long enough to matter; the loop was never held for long meanwhile
      assert.ok(
        worst < Math.max(50, took / 2),
        `event loop held ${worst.toFixed(1)} ms of ${took.toFixed(1)}`,
      );
      assert.ok(ticks > 0);
    } finally {
      coll.close();
    }
  });

  it('close() during the load: rejects with ECANCELED, nothing stays loaded', async () => {
    const before = new Set(openProgIds());
    const spec = ObjectSpec.open(OBJ);
    spec.setMapMaxEntries('events', 4096);
    const p = spec.loadAsync();
    spec.close();
    await assert.rejects(p, (e) => isBpfError(e) && e.code === 'ECANCELED');
    await sleep(50);
    assert.deepEqual(
      openProgIds().filter((id) => !before.has(id)),
      [],
      'a program of the cancelled load is left',
    );
  });

  it('a load the verifier refuses rejects with the errno and the log as detail', async () => {
    const spec = ObjectSpec.open(path.join(packageRoot(), 'build/native/test/bad_prog.bpf.o'));
    await assert.rejects(spec.loadAsync(), (e) => {
      assert.ok(isBpfError(e), String(e));
      assert.match(e.message, /^load bad_prog: /);
      assert.ok(e.detail && e.detail.length > 0, 'the verifier log');
      return true;
    });
  });

  it('.bss globals written after load reach the kernel copy; .rodata stays frozen', async () => {
    const spec = ObjectSpec.open(OBJ);
    spec.setMapMaxEntries('events', 4096);
    const info = spec.globals().find((g) => g.name === 'prefix_count')!;
    assert.equal(info.section, '.bss');
    const coll = await spec.loadAsync();
    try {
      coll.setGlobal('prefix_count', 5);
      const bss = kernelBss(coll);
      assert.ok(bss, 'the .bss map');
      assert.equal(bss.readUInt32LE(info.offset), 5);
      assert.throws(() => coll.setGlobal('gadget_self_tgid', 1), { code: 'EBUSY' });
    } finally {
      coll.close();
    }
  });
});

/** The kernel's value of the object's .bss map (libbpf 1.1 names it "<8 chars of the object>.bss"). */
function kernelBss(coll: Collection): Buffer | undefined {
  const name = coll.name.slice(0, 8) + '.bss';
  return coll.map(name).lookup(Buffer.alloc(4)) ?? undefined;
}

describe('Collection.detachProgramAsync', { skip: !isRoot && 'needs root' }, () => {
  it('reads as detached at once, the links go on a worker thread, the program stays loaded', async () => {
    const spec = ObjectSpec.open(path.join(packageRoot(), 'build/bpf/container_tracker.bpf.o'));
    const coll = spec.load();
    try {
      const hooks = ['tracker_unshare_enter', 'tracker_unshare_exit'];
      const progIds = hooks.map((h) => coll.programInfo(h).id);
      const linked = (): number[] =>
        (
          JSON.parse(execFileSync('bpftool', ['-j', 'perf'], { encoding: 'utf8' })) as Array<{
            pid?: number;
            prog_id?: number;
          }>
        )
          .filter((e) => e.pid === process.pid && progIds.includes(e.prog_id ?? -1))
          .map((e) => e.prog_id!)
          .sort();
      for (const h of hooks) coll.attachProgram(h);
      assert.deepEqual(linked(), [...progIds].sort());
      const p = hooks.map((h) => coll.detachProgramAsync(h));
      // detached as far as the object knows: it attaches again without EEXIST
      coll.attachProgram(hooks[0]!);
      assert.deepEqual(await Promise.all(p), [true, true]);
      assert.deepEqual(linked(), [progIds[0]]);
      assert.equal(await coll.detachProgramAsync(hooks[1]!), false, 'not attached');
      assert.equal(await coll.detachProgramAsync(hooks[0]!), true);
      assert.deepEqual(linked(), []);
    } finally {
      coll.close();
    }
  });
});
