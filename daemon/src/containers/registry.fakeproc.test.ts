// Registry logic on a hand-made procfs (procRoot option) and a scripted metadata source:
// deterministic coverage of the races the real-container tests can only hit by chance
// (runc setup stages, inode reuse before a poll, the guessed init dying, sandboxes, grace).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { emptyFilter } from '../../../gadgets/framework/filter.js';
import { ContainerRegistry } from './registry.js';
import type { RuntimeName } from './cgroup.js';
import { emptyK8s } from '../../../gadgets/framework/containers.js';
import type { MetadataSource, RuntimeMeta } from './sources.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';

const HOST_NS = 4026531841;
const idOf = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);
const podmanCg = (id: string): string => `0::/libpod_parent/libpod-${id}\n`;

interface FakePid {
  mntns: number;
  cgroup?: string;
  ppid?: number;
  comm?: string;
  start?: number;
  nspid?: number[];
}

class FakeProc {
  readonly root = mkdtempSync(join(tmpdir(), 'kg-fakeproc-'));
  constructor() {
    writeFileSync(join(this.root, 'uptime'), '1000.00 2000.00\n');
  }
  add(pid: number, p: FakePid): void {
    const d = join(this.root, String(pid));
    rmSync(d, { recursive: true, force: true });
    mkdirSync(join(d, 'ns'), { recursive: true });
    symlinkSync(`mnt:[${p.mntns}]`, join(d, 'ns', 'mnt'));
    writeFileSync(join(d, 'cgroup'), p.cgroup ?? '0::/\n');
    const f = ['S', String(p.ppid ?? 1), ...Array<string>(17).fill('0'), String(p.start ?? pid)];
    writeFileSync(join(d, 'stat'), `${pid} (${p.comm ?? 'proc'}) ${f.join(' ')} 0 0\n`);
    writeFileSync(
      join(d, 'status'),
      `Name:\t${p.comm ?? 'proc'}\nNSpid:\t${(p.nspid ?? [pid]).join('\t')}\n`,
    );
  }
  remove(pid: number): void {
    rmSync(join(this.root, String(pid)), { recursive: true, force: true });
  }
  close(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

class ScriptedSource implements MetadataSource {
  readonly name = 'scripted';
  readonly metas = new Map<string, RuntimeMeta>();
  lookups = 0;
  set(id: string, over: Partial<RuntimeMeta> = {}): void {
    this.metas.set(id, {
      runtime: 'podman',
      id,
      name: `ctr-${id.slice(0, 4)}`,
      image: 'img',
      initPid: 0,
      annotations: {},
      sandbox: false,
      bundle: '',
      containerdNamespace: '',
      ...over,
    });
  }
  lookup(id: string, _hint: RuntimeName): RuntimeMeta | null {
    this.lookups++;
    return this.metas.get(id) ?? null;
  }
}

describe('ContainerRegistry on a fake procfs', () => {
  let proc: FakeProc;
  let src: ScriptedSource;
  let reg: ContainerRegistry;
  let log: string[];

  const make = async (o: { metadataGraceMs?: number; exitedRetentionMs?: number } = {}) => {
    reg = new ContainerRegistry({ procRoot: proc.root, pollMs: 0, sources: [src], ...o });
    log = [];
    reg.on('added', (c) => log.push(`added:${c.name}:${c.pid}`));
    reg.on('updated', (c) => log.push(`updated:${c.name}`));
    reg.on('removed', (c) => log.push(`removed:${c.name}`));
    reg.on('expired', (c) => log.push(`expired:${c.name}`));
    reg.on('mntns-added', (n) => log.push(`ns+:${n}`));
    reg.on('mntns-removed', (n) => log.push(`ns-:${n}`));
    await reg.start();
  };

  beforeEach(() => {
    proc = new FakeProc();
    src = new ScriptedSource();
    proc.add(1, { mntns: HOST_NS, ppid: 0 });
    proc.add(100, { mntns: HOST_NS, comm: 'conmon' });
  });
  afterEach(() => {
    reg?.close();
    proc.close();
  });

  it('host pids: known namespaces, no container; start() is a settled promise', async () => {
    await make();
    assert.deepEqual([...reg.knownMntns()], [HOST_NS]);
    assert.deepEqual(log, [`ns+:${HOST_NS}`]);
    assert.equal(reg.resolvePid(1), null);
    assert.equal(reg.list().length, 0);
  });

  it('a container: added before its namespace, init from the runtime state', async () => {
    const id = idOf(1);
    src.set(id, { initPid: 201 });
    proc.add(201, { mntns: 5001, cgroup: podmanCg(id), ppid: 100, nspid: [201, 1] });
    proc.add(202, { mntns: 5001, cgroup: podmanCg(id), ppid: 201, nspid: [202, 7] });
    await make();
    const c = reg.byId(id.slice(0, 6));
    assert.ok(c);
    assert.equal(c.pid, 201);
    assert.equal(c.mntnsId, 5001);
    assert.equal(c.runtime, 'podman');
    assert.equal(c.startedAt, Math.round(c.startedAt)); // integer ms
    assert.deepEqual(log, [`ns+:${HOST_NS}`, `added:ctr-0101:201`, 'ns+:5001']);
    assert.equal(reg.resolvePid(202), c);
    assert.equal(reg.byMntns(5001), c);
  });

  it("skips runc's parent stage (container cgroup, parent's namespace) until it enters", async () => {
    const id = idOf(2);
    src.set(id); // no init pid yet (before runc wrote state.json)
    await make();
    proc.add(300, { mntns: HOST_NS, comm: 'runc' });
    proc.add(301, { mntns: HOST_NS, cgroup: podmanCg(id), ppid: 300, comm: 'runc:[0:PARENT]' });
    reg.poll();
    assert.equal(reg.list().length, 0, 'parent stage is not the container');
    // the CHILD stage has the new namespace but is not the init either
    proc.add(302, { mntns: 5002, cgroup: podmanCg(id), ppid: 301, comm: 'runc:[1:CHILD]' });
    reg.poll();
    assert.equal(reg.list().length, 0, 'child stage is not the init');
    assert.ok(!new Set(reg.knownMntns()).has(5002), 'its namespace stays unknown for now');
    proc.add(303, {
      mntns: 5002,
      cgroup: podmanCg(id),
      ppid: 100,
      comm: 'runc:[2:INIT]',
      nspid: [303, 1],
    });
    reg.poll();
    const c = reg.byId(id);
    assert.equal(c?.pid, 303);
    assert.equal(c?.mntnsId, 5002);
    assert.ok(new Set(reg.knownMntns()).has(5002));
  });

  it('resolvePid takes a setup stage for the init at once, and the poll re-homes it', async () => {
    const id = idOf(3);
    src.set(id);
    await make();
    proc.add(302, { mntns: 5003, cgroup: podmanCg(id), ppid: 100, comm: 'runc:[1:CHILD]' });
    const early = reg.resolvePid(302);
    assert.equal(early?.pid, 302);
    proc.add(303, { mntns: 5003, cgroup: podmanCg(id), ppid: 100, nspid: [303, 1] });
    reg.poll(); // 303 joins the container
    proc.remove(302); // the setup stage is gone before the runtime state names the init
    reg.poll();
    assert.equal(reg.byId(id)?.pid, 303, 're-homed to the pid-namespace init');
    src.set(id, { initPid: 303 }); // state.json appears
    reg.poll();
    const c = reg.byId(id);
    assert.equal(c, early, 'the same entry, re-homed');
    assert.equal(c?.pid, 303);
    assert.equal(c?.state, 'running');
    assert.ok(!log.some((l) => l.startsWith('removed:')), `no removal: ${log.join(' ')}`);
    assert.equal(log.filter((l) => l.startsWith('added:')).length, 1);
  });

  it('exit: removed, namespace dropped, kept listed; retention then expires it', async () => {
    const id = idOf(4);
    src.set(id, { initPid: 400 });
    proc.add(400, { mntns: 5004, cgroup: podmanCg(id), ppid: 100, nspid: [400, 1] });
    await make({ exitedRetentionMs: 60_000 });
    const c = reg.byId(id);
    proc.remove(400);
    reg.poll();
    assert.equal(c?.state, 'exited');
    assert.equal(c?.pid, 0);
    assert.ok(c?.exitedAt);
    assert.deepEqual(log.slice(-2), ['removed:ctr-0404', 'ns-:5004']);
    assert.equal(reg.list().length, 1);
    assert.equal(reg.byMntns(5004), c, 'late events still resolve');
    assert.ok(c);
    c.exitedAt = Date.now() - 61_000;
    reg.poll();
    assert.equal(log.at(-1), 'expired:ctr-0404');
    assert.equal(reg.list().length, 0);
    assert.equal(reg.byMntns(5004), undefined);
  });

  it('a pid reused with the same start time is not taken for the old init', async () => {
    const id = idOf(5);
    src.set(id, { initPid: 500 });
    proc.add(500, { mntns: 5005, cgroup: podmanCg(id), ppid: 100, nspid: [500, 1], start: 10 });
    await make();
    proc.add(500, { mntns: HOST_NS, start: 99 }); // reused by a host process
    reg.poll();
    assert.equal(reg.byId(id)?.state, 'exited');
    assert.equal(reg.resolvePid(500), null);
  });

  it('a reused inode: the old container is removed before the new one is added', async () => {
    const a = idOf(6);
    const b = idOf(7);
    src.set(a, { initPid: 600, name: 'a' });
    src.set(b, { initPid: 700, name: 'b' });
    proc.add(600, { mntns: 5006, cgroup: podmanCg(a), ppid: 100, nspid: [600, 1] });
    await make();
    proc.remove(600);
    proc.add(700, { mntns: 5006, cgroup: podmanCg(b), ppid: 100, nspid: [700, 1] });
    const cb = reg.resolvePid(700); // before any poll
    assert.equal(cb?.name, 'b');
    assert.deepEqual(log.slice(-2), ['removed:a', 'added:b:700']);
    assert.equal(reg.byMntns(5006), cb);
    const ga = reg.byId(a)?.generation ?? 0;
    assert.ok((cb?.generation ?? 0) > ga);
    reg.poll();
    assert.ok(new Set(reg.knownMntns()).has(5006), 'still in use by b');
  });

  it('the kernel notes a new namespace on a mapped inode: the old container goes at once', async () => {
    const a = idOf(11);
    const b = idOf(12);
    src.set(a, { initPid: 610, name: 'a' });
    src.set(b, { initPid: 710, name: 'b' });
    proc.add(610, { mntns: 5016, cgroup: podmanCg(a), ppid: 100, nspid: [610, 1] });
    await make();
    // a's last process exits; b's runc creates a namespace that gets the same inode
    proc.remove(610);
    proc.add(710, { mntns: 5016, cgroup: podmanCg(b), ppid: 100, nspid: [710, 1] });
    reg.namespaceCreated(5016);
    assert.deepEqual(log.slice(-2), ['removed:a', 'ns-:5016'], 'runs forget their decision');
    assert.equal(reg.byMntns(5016), undefined);
    assert.equal(reg.resolvePid(710)?.name, 'b');
    // once b is registered, another note on its inode (a stale one) changes nothing
    log.length = 0;
    reg.namespaceCreated(5016);
    assert.deepEqual(log, []);
    assert.equal(reg.byMntns(5016)?.name, 'b');
    reg.namespaceCreated(5099); // not mapped: nothing
    assert.deepEqual(log, []);
  });

  it('a namespace unshared in a running container, seen by a poll before its note: kept', async () => {
    const id = idOf(13);
    src.set(id, { initPid: 810, name: 'b' });
    proc.add(810, { mntns: 5017, cgroup: podmanCg(id), ppid: 100, nspid: [810, 1] });
    await make();
    // `unshare -m` inside it: the kernel notes the namespace, a poll maps it before the note
    // is read (its mapping is newer than the namespace)
    const createdAt = Date.now() - 5;
    proc.add(811, { mntns: 6017, cgroup: podmanCg(id), ppid: 810, nspid: [811, 2] });
    reg.poll();
    assert.equal(reg.byMntns(6017)?.name, 'b');
    log.length = 0;
    reg.namespaceCreated(6017, createdAt);
    assert.deepEqual(log, [], 'no mntns-removed: the namespace is in use');
    assert.equal(reg.byMntns(6017)?.name, 'b');
    assert.equal(reg.resolvePid(811)?.name, 'b');
    // a note newer than the mapping (the inode reused after it was mapped): the mapping goes
    reg.namespaceCreated(6017, Date.now() + 1000);
    assert.equal(reg.byMntns(6017), undefined);
  });

  it('an exited container inode reused by a host namespace no longer resolves', async () => {
    const id = idOf(8);
    src.set(id, { initPid: 800 });
    proc.add(800, { mntns: 5008, cgroup: podmanCg(id), ppid: 100, nspid: [800, 1] });
    await make();
    proc.remove(800);
    reg.poll();
    proc.add(801, { mntns: 5008 });
    reg.poll();
    assert.equal(reg.byMntns(5008), undefined);
    assert.ok(new Set(reg.knownMntns()).has(5008));
  });

  it('CRI: sandbox not listed (namespace known), k8s identity, pod info hook, filters', async () => {
    const sandbox = idOf(9);
    const ctr = idOf(10);
    const cg = (id: string) =>
      `0::/kubepods/besteffort/pod5f0c2a9e-7d1b-4c3e-9a8f-0123456789ab/${id}\n`;
    src.set(sandbox, { runtime: 'containerd', sandbox: true, initPid: 900 });
    src.set(ctr, {
      runtime: 'containerd',
      initPid: 910,
      name: 'nginx',
      k8s: { ...emptyK8s(), namespace: 'web', pod: 'nginx-1', container: 'nginx', podUid: 'uid-1' },
    });
    proc.add(900, { mntns: 5009, cgroup: cg(sandbox), ppid: 100, nspid: [900, 1], comm: 'pause' });
    proc.add(910, { mntns: 5010, cgroup: cg(ctr), ppid: 100, nspid: [910, 1] });
    await make();
    assert.equal(reg.list().length, 1);
    assert.equal(reg.resolvePid(900), null);
    assert.ok(new Set(reg.knownMntns()).has(5009));
    const c = reg.byName('nginx') as ContainerInfo;
    assert.equal(c.k8s?.pod, 'nginx-1');
    const sel = { ...emptyFilter(), labelSelector: 'app=nginx' };
    assert.ok(!reg.matches(sel, c), 'no labels before the informer');
    reg.setPodInfo('uid-1', { labels: { app: 'nginx' }, ownerKind: 'ReplicaSet' });
    assert.ok(reg.matches(sel, c));
    assert.equal(c.k8s?.ownerKind, 'ReplicaSet');
    assert.equal(log.at(-1), 'updated:nginx');
    assert.ok(reg.matches({ ...emptyFilter(), namespaces: ['web'], podsOnly: true }, c));
  });

  it('container ids from the pod watch name a container that is already gone', async () => {
    await make();
    assert.equal(reg.k8sIdentityById('dead01'), undefined);
    reg.noteContainerIds('uid-9', 'web', 'crasher', [
      { id: 'dead01', container: 'app', runtime: 'containerd' },
    ]);
    reg.setPodInfo('uid-9', { labels: { app: 'crasher' }, ownerKind: 'Deployment' });
    assert.deepEqual(reg.k8sIdentityById('dead01'), {
      namespace: 'web',
      pod: 'crasher',
      container: 'app',
      podUid: 'uid-9',
      labels: { app: 'crasher' },
      ownerKind: 'Deployment',
      ownerName: '',
      podIp: '',
      hostNetwork: false,
      runtime: 'containerd',
    });
  });

  it('missing metadata: the poll waits out the grace, resolvePid registers at once', async () => {
    const id = idOf(11);
    proc.add(1100, { mntns: 5011, cgroup: podmanCg(id), ppid: 100, nspid: [1100, 1] });
    await make({ metadataGraceMs: 60_000 });
    assert.equal(reg.list().length, 0, 'waiting for the runtime state');
    assert.ok(!new Set(reg.knownMntns()).has(5011));
    const c = reg.resolvePid(1100);
    assert.equal(c?.name, id.slice(0, 12));
    assert.equal(c?.runtime, 'podman'); // from the cgroup path
    src.set(id, { initPid: 1100, name: 'late-meta' });
    reg.poll();
    assert.equal(c?.name, 'late-meta');
    assert.equal(log.at(-1), 'updated:late-meta');
  });

  it('missing metadata past the grace: registered from the cgroup', async () => {
    const id = idOf(12);
    proc.add(1200, { mntns: 5012, cgroup: `0::/docker/${id}\n`, ppid: 100, nspid: [1200, 1] });
    await make({ metadataGraceMs: 0 });
    const c = reg.byId(id);
    assert.equal(c?.runtime, 'docker');
    assert.equal(c?.pid, 1200);
  });

  it('new pids only: a known pid costs no metadata lookup', async () => {
    const id = idOf(13);
    src.set(id, { initPid: 1300 });
    proc.add(1300, { mntns: 5013, cgroup: podmanCg(id), ppid: 100, nspid: [1300, 1] });
    await make();
    const n = src.lookups;
    for (let i = 0; i < 5; i++) reg.poll();
    assert.equal(src.lookups, n);
  });

  it('a pid that changed namespace is re-read by resolvePid and by the full rescan', async () => {
    const id = idOf(14);
    src.set(id, { initPid: 1400 });
    proc.add(1400, { mntns: 5014, cgroup: podmanCg(id), ppid: 100, nspid: [1400, 1] });
    proc.add(1401, { mntns: HOST_NS });
    reg = new ContainerRegistry({
      procRoot: proc.root,
      pollMs: 0,
      sources: [src],
      fullRescanEvery: 2,
    });
    await reg.start();
    proc.add(1401, { mntns: 5014 }); // nsenter into the container (host cgroup)
    assert.equal(reg.resolvePid(1401)?.id, id);
    proc.add(1402, { mntns: HOST_NS });
    reg.poll();
    proc.add(1402, { mntns: 6000 }); // unshare -m
    reg.poll();
    reg.poll(); // every 2nd poll re-reads the namespaces of known pids
    assert.ok(new Set(reg.knownMntns()).has(6000));
  });

  it('close() stops the timer', async () => {
    reg = new ContainerRegistry({ procRoot: proc.root, pollMs: 5, sources: [src] });
    await reg.start();
    reg.close();
    const id = idOf(15);
    src.set(id, { initPid: 1500 });
    proc.add(1500, { mntns: 5015, cgroup: podmanCg(id), ppid: 100, nspid: [1500, 1] });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(reg.list().length, 0);
  });
});
