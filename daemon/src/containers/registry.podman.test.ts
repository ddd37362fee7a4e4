// Real containers: podman + runc from the busybox rootfs (e2e/fixtures). Needs root and podman.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';

import {
  cleanupTestContainers,
  ContainerPool,
  ensureRootfs,
  mntnsOf,
  podmanAvailable,
  waitFor,
  type TestContainer,
} from '../../../e2e/fixtures/podman.js';
import { emptyFilter } from '../../../gadgets/framework/filter.js';
import { ContainerRegistry } from './registry.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';

const skip = podmanAvailable() ? false : 'needs root and podman';

/** Resolves with the first `event` payload satisfying pred, or rejects after ms. */
function waitEvent(
  reg: ContainerRegistry,
  event: 'added' | 'removed' | 'expired' | 'updated',
  pred: (c: ContainerInfo) => boolean,
  ms: number,
): Promise<{ c: ContainerInfo; at: number }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      reg.off(event, on);
      reject(new Error(`no '${event}' event within ${ms} ms`));
    }, ms);
    const on = (c: ContainerInfo): void => {
      if (!pred(c)) return;
      clearTimeout(t);
      reg.off(event, on);
      resolve({ c, at: performance.now() });
    };
    reg.on(event, on);
  });
}

function assertMatches(c: ContainerInfo | undefined, t: TestContainer): void {
  assert.ok(c, `container ${t.name} not found`);
  assert.equal(c.runtime, 'podman');
  assert.equal(c.id, t.id);
  assert.equal(c.name, t.name);
  assert.equal(c.pid, t.pid);
  assert.equal(c.mntnsId, t.mntns);
  assert.equal(c.mntnsId, mntnsOf(t.pid));
  assert.equal(c.state, 'running');
  assert.equal(c.k8s, undefined);
  assert.equal(c.annotations['io.container.manager'], 'libpod');
}

describe('ContainerRegistry with real podman containers', { skip }, () => {
  const pool = new ContainerPool();
  const registries: ContainerRegistry[] = [];
  let sleeper: TestContainer;
  let looper: TestContainer;
  let reg: ContainerRegistry;
  const mntnsAdded: number[] = [];
  const mntnsRemoved: number[] = [];
  const order: string[] = [];

  const newRegistry = (
    o: ConstructorParameters<typeof ContainerRegistry>[0],
  ): ContainerRegistry => {
    const r = new ContainerRegistry(o);
    registries.push(r);
    return r;
  };

  before(async () => {
    await cleanupTestContainers();
    ensureRootfs();
    sleeper = await pool.start('sleep', ['sleep', '1000']);
    looper = await pool.start('loop', ['sh', '-c', 'while true; do sleep 0.2; done']);
    reg = newRegistry({ pollMs: 1000 });
    reg.on('mntns-added', (n) => {
      mntnsAdded.push(n);
      order.push(`mntns:${n}`);
    });
    reg.on('mntns-removed', (n) => mntnsRemoved.push(n));
    reg.on('added', (c) => order.push(`added:${c.mntnsId}`));
    const t0 = performance.now();
    await reg.start();
    console.log(
      `# initial scan: ${(performance.now() - t0).toFixed(1)} ms, ` +
        `${[...reg.knownMntns()].length} mount namespaces, ${reg.list().length} containers`,
    );
  });

  after(async () => {
    for (const r of registries) r.close();
    await pool.cleanup();
  });

  it('finds containers running before start, with name, id, pid, mntns', () => {
    assertMatches(reg.byName(sleeper.name), sleeper);
    assertMatches(reg.byName(looper.name), looper);
    assertMatches(reg.byMntns(sleeper.mntns), sleeper);
    assertMatches(reg.byId(looper.id.slice(0, 12)), looper);
    assertMatches(reg.byId(looper.id), looper);
    const s = reg.byName(sleeper.name);
    const l = reg.byName(looper.name);
    assert.notEqual(s?.generation, l?.generation);
    assert.ok(Math.abs((s?.startedAt ?? 0) - Date.now()) < 120_000, 'startedAt is recent');
    assert.ok(reg.list().some((c) => c.id === sleeper.id));
  });

  it('tracks host and container mount namespaces; the container is added before its mntns', () => {
    const known = new Set(reg.knownMntns());
    assert.ok(known.has(sleeper.mntns));
    assert.ok(known.has(looper.mntns));
    assert.ok(known.has(mntnsOf(process.pid)), 'host namespace of this process');
    let pid1: number | null = null;
    try {
      pid1 = mntnsOf(1);
    } catch {
      // pid 1 may be in another user namespace (EACCES even for root), as on the dev sandbox
    }
    if (pid1 !== null) assert.ok(known.has(pid1), 'namespace of pid 1');
    assert.ok(mntnsAdded.includes(sleeper.mntns));
    assert.equal(reg.byMntns(mntnsOf(process.pid)), undefined);
    const a = order.indexOf(`added:${sleeper.mntns}`);
    const n = order.indexOf(`mntns:${sleeper.mntns}`);
    assert.ok(a >= 0 && n > a, `'added' before 'mntns-added' (${a}, ${n})`);
  });

  it('classifies host pids as null and exec processes as the container', async () => {
    assert.equal(reg.resolvePid(process.pid), null);
    assert.equal(reg.resolvePid(1), null);
    const r = await pool.exec(looper, ['sh', '-c', 'readlink /proc/self/ns/mnt']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `mnt:[${looper.mntns}]`);
  });

  it('matches() applies a ContainerFilter', () => {
    const s = reg.byName(sleeper.name) ?? null;
    assert.ok(reg.matches({ ...emptyFilter(), containerNames: [sleeper.name] }, s));
    assert.ok(!reg.matches({ ...emptyFilter(), containerNames: [looper.name] }, s));
    assert.ok(reg.matches({ ...emptyFilter(), containerIds: [sleeper.id.slice(0, 8)] }, s));
    assert.ok(!reg.matches({ ...emptyFilter(), podsOnly: true }, s));
    assert.ok(reg.matches({ ...emptyFilter(), host: true }, null));
  });

  it('adds a container started later within one poll (< 1.5 s)', async () => {
    const added = waitEvent(reg, 'added', (c) => c.name.includes('-late-'), 3000);
    const t0 = performance.now();
    const late = await pool.start('late', ['sleep', '1000']);
    const tRun = performance.now();
    const { c, at } = await added;
    console.log(
      `# podman run+inspect: ${(tRun - t0).toFixed(0)} ms; 'added' ${(at - tRun).toFixed(0)} ms after it returned`,
    );
    assert.ok(at - tRun < 1500, `added ${at - tRun} ms after podman run returned`);
    assertMatches(c, late);
    assert.ok(new Set(reg.knownMntns()).has(late.mntns));
  });

  it('resolvePid registers a new container at once', async () => {
    const r2 = newRegistry({ pollMs: 0 });
    await r2.start(); // no timer: only resolvePid can find it
    const quick = await pool.start('quick', ['sh', '-c', 'while true; do sleep 1; done']);
    assert.equal(r2.byId(quick.id), undefined);
    let addedEvent: ContainerInfo | undefined;
    let nsEvent = 0;
    r2.on('added', (c) => (addedEvent = c));
    r2.on('mntns-added', (n) => (nsEvent = n));
    const t0 = performance.now();
    const c = r2.resolvePid(quick.pid);
    const dt = performance.now() - t0;
    console.log(`# resolvePid of a new container: ${dt.toFixed(2)} ms`);
    assertMatches(c ?? undefined, quick);
    assert.equal(addedEvent, c);
    assert.equal(nsEvent, quick.mntns);
    assert.equal(r2.byMntns(quick.mntns), c);
    assert.ok(new Set(r2.knownMntns()).has(quick.mntns));
    // a second call is a map lookup
    assert.equal(r2.resolvePid(quick.pid), c);
  });

  it('a 2 ms poll during start-up registers the right init, name and namespace', async () => {
    // Exercises the start-up windows: runc's parent stage in the container cgroup with the
    // host's namespace, and runc init in the container namespace before state.json exists.
    const r5 = newRegistry({ pollMs: 0 });
    await r5.start();
    const seen: ContainerInfo[] = [];
    const updates: ContainerInfo[] = [];
    r5.on('added', (c) => seen.push({ ...c }));
    r5.on('updated', (c) => updates.push({ ...c }));
    const timer = setInterval(() => r5.poll(), 2);
    let t: TestContainer;
    try {
      t = await pool.start('tight', ['sleep', '1000']);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      clearInterval(timer);
    }
    const mine = seen.filter((c) => c.id === t.id);
    assert.equal(mine.length, 1, 'added once');
    const first = mine[0] as ContainerInfo;
    console.log(
      `# tight poll: first seen pid ${first.pid} (init ${t.pid}), name ${first.name}, ${updates.length} update(s)`,
    );
    assert.equal(first.mntnsId, t.mntns);
    assertMatches(r5.byId(t.id), t);
  });

  it('resolvePid on every new pid during start-up (as kernel events would) ends with the right init', async () => {
    const r7 = newRegistry({ pollMs: 0 });
    await r7.start();
    const added: ContainerInfo[] = [];
    r7.on('added', (c) => added.push({ ...c }));
    const { readdirSync } = await import('node:fs');
    const tried = new Set<number>();
    let early: ContainerInfo | null = null;
    const timer = setInterval(() => {
      for (const name of readdirSync('/proc')) {
        const pid = Number(name);
        if (!Number.isInteger(pid) || tried.has(pid)) continue;
        const c = r7.resolvePid(pid);
        if (c) {
          tried.add(pid);
          if (c.name.includes('-eager-')) early ??= { ...c };
        }
      }
    }, 1);
    let t: TestContainer;
    try {
      t = await pool.start('eager', ['sleep', '1000']);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      clearInterval(timer);
    }
    r7.poll(); // the poll puts the real init in place if a setup stage was taken for it
    const e = early as ContainerInfo | null;
    console.log(
      `# eager resolvePid: first answer pid ${e?.pid} (init ${t.pid}), mntns ok: ${e?.mntnsId === t.mntns}`,
    );
    assert.equal(added.filter((c) => c.id === t.id).length, 1, 'added once');
    assertMatches(r7.byId(t.id), t);
  });

  it('marks a stopped container exited and drops its mount namespace', async () => {
    const before = reg.byName(sleeper.name);
    assert.ok(before);
    const gen = before.generation;
    const exited = waitEvent(reg, 'removed', (c) => c.id === sleeper.id, 4000);
    const t0 = performance.now();
    await pool.stop(sleeper);
    const tStop = performance.now();
    const { c, at } = await exited;
    console.log(
      `# podman stop: ${(tStop - t0).toFixed(0)} ms; 'removed' ${(at - tStop).toFixed(0)} ms after it returned`,
    );
    assert.ok(at - tStop < 1500);
    assert.equal(c.state, 'exited');
    assert.equal(c.pid, 0);
    assert.equal(c.generation, gen);
    assert.ok(c.exitedAt && Math.abs(c.exitedAt - Date.now()) < 5000);
    assert.ok(mntnsRemoved.includes(sleeper.mntns), 'mntns-removed emitted');
    assert.ok(!new Set(reg.knownMntns()).has(sleeper.mntns));
    // kept for post-mortem listing and late events
    assert.ok(reg.list().some((x) => x.id === sleeper.id && x.state === 'exited'));
    assert.equal(reg.byMntns(sleeper.mntns)?.id, sleeper.id);
  });

  it('a restarted or reused namespace gets a new generation', async () => {
    const old = reg.byName(sleeper.name);
    assert.ok(old && old.state === 'exited');
    const next = await pool.start('reuse', ['sleep', '1000']);
    const c = await waitFor(() => reg.resolvePid(next.pid) ?? undefined, 2000);
    assert.ok(c.generation > old.generation);
    if (next.mntns === old.mntnsId) console.log('# mntns inode reused by the next container');
    assert.equal(reg.byMntns(next.mntns)?.id, next.id);
  });

  it('a reused inode retires the old container before adding the new one', async () => {
    const r6 = newRegistry({ pollMs: 0 });
    await r6.start();
    const events: string[] = [];
    r6.on('added', (c) => events.push(`added:${c.name}`));
    r6.on('removed', (c) => events.push(`removed:${c.name}`));
    const a = await pool.start('reuse-a', ['sleep', '1000']);
    assertMatches(r6.resolvePid(a.pid) ?? undefined, a);
    await pool.stop(a);
    const b = await pool.start('reuse-b', ['sleep', '1000']);
    const cb = r6.resolvePid(b.pid); // before any poll noticed that a exited
    assertMatches(cb ?? undefined, b);
    if (b.mntns !== a.mntns) {
      console.log('# (inode not reused this time)');
      return;
    }
    assert.deepEqual(events, [`added:${a.name}`, `removed:${a.name}`, `added:${b.name}`]);
    assert.equal(r6.byId(a.id)?.state, 'exited');
    assert.equal(r6.byMntns(b.mntns), cb);
  });

  it('a host process that entered a container namespace belongs to the container', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn('nsenter', ['-t', String(looper.pid), '-m', 'sleep', '30'], {
      stdio: 'ignore',
    });
    try {
      const c = await waitFor(() => {
        try {
          return mntnsOf(child.pid ?? 0) === looper.mntns ? reg.resolvePid(child.pid ?? 0) : false;
        } catch {
          return false;
        }
      }, 3000);
      assert.equal(c?.id, looper.id);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('drops exited containers after the retention', async () => {
    const r3 = newRegistry({ pollMs: 0, exitedRetentionMs: 0 });
    await r3.start();
    const short = await pool.start('short', ['sleep', '1000']);
    assertMatches(r3.resolvePid(short.pid) ?? undefined, short);
    const removed: ContainerInfo[] = [];
    const expired: ContainerInfo[] = [];
    r3.on('removed', (c) => removed.push(c));
    r3.on('expired', (c) => expired.push(c));
    await pool.stop(short);
    r3.poll();
    assert.equal(removed.length, 1);
    assert.equal(removed[0]?.id, short.id);
    assert.equal(expired.length, 1);
    assert.equal(expired[0], removed[0]);
    assert.equal(r3.byId(short.id), undefined);
    assert.equal(r3.byMntns(short.mntns), undefined);
  });

  it('close() stops the timer', async () => {
    const r4 = newRegistry({ pollMs: 50 });
    await r4.start();
    r4.close();
    const polled = once(r4, 'added').then(() => true);
    const c = await pool.start('afterclose', ['sleep', '1000']);
    const got = await Promise.race([polled, new Promise((r) => setTimeout(() => r(false), 300))]);
    assert.equal(got, false);
    assert.equal(r4.byId(c.id), undefined);
  });
});
