import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ContainerFilter } from '../../../gadgets/framework/runtime.js';
import {
  FILTER_EXCLUDE,
  FILTER_INCLUDE,
  FILTER_NONE,
  filterMode,
  RunAdmission,
  type AdmitRegistry,
} from './admit.js';
import { emptyFilter, matchesFilter } from '../../../gadgets/framework/filter.js';
import { emptyK8s } from '../../../gadgets/framework/containers.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';

const f = (over: Partial<ContainerFilter>): ContainerFilter => ({ ...emptyFilter(), ...over });

function container(name: string, mntnsId: number, pid: number, pod = ''): ContainerInfo {
  return {
    runtime: 'podman',
    id: name.padEnd(64, '0'),
    name,
    pid,
    mntnsId,
    generation: 1,
    state: 'running',
    startedAt: 0,
    image: '',
    annotations: {},
    ...(pod ? { k8s: { ...emptyK8s(), namespace: 'default', pod, container: name } } : {}),
  };
}

/** The registry's answers for a fixed set of containers (pids map to their container). */
class Containers implements AdmitRegistry {
  lookups = 0;
  constructor(public list: ContainerInfo[]) {}
  matches(filter: ContainerFilter, c: ContainerInfo): boolean {
    return matchesFilter(filter, c);
  }
  resolvePid(pid: number, mntnsHint?: number): ContainerInfo | null {
    this.lookups++;
    return (
      this.list.find((c) => c.pid === pid) ??
      (mntnsHint !== undefined ? this.byMntns(mntnsHint) : undefined) ??
      null
    );
  }
  byMntns(mntns: number): ContainerInfo | undefined {
    return this.list.find((c) => c.mntnsId === mntns);
  }
}

/** The kernel map's contents as mount namespace numbers. */
class FilterMap {
  readonly keys = new Set<number>();
  update(key: Buffer): void {
    this.keys.add(Number(key.readBigUInt64LE(0)));
  }
  delete(key: Buffer): void {
    this.keys.delete(Number(key.readBigUInt64LE(0)));
  }
}

const web = container('web', 4026532001, 101);
const db = container('db', 4026532002, 102);
const HOST_NS = 4026531841;
const HOST_PID = 1;

function run(filter: ContainerFilter, kubernetes = false) {
  const reg = new Containers([web, db]);
  const map = new FilterMap();
  const adm = new RunAdmission(filter, filterMode(filter, kubernetes), reg, map);
  return { reg, map, adm };
}

describe('filterMode', () => {
  it('a selector asks for the matching containers, with or without --host', () => {
    for (const sel of [
      { containerNames: ['web'] },
      { containerIds: ['ab'] },
      { namespaces: ['default'] },
      { pods: ['p'] },
      { labelSelector: 'app=x' },
    ]) {
      assert.equal(filterMode(f(sel), false), FILTER_INCLUDE, JSON.stringify(sel));
      assert.equal(filterMode(f({ ...sel, host: true }), true), FILTER_INCLUDE);
    }
  });

  it('without a selector: everything, --host alone the host only, pods only in Kubernetes', () => {
    assert.equal(filterMode(emptyFilter(), false), FILTER_NONE);
    assert.equal(filterMode(f({ host: true }), false), FILTER_EXCLUDE);
    assert.equal(filterMode(emptyFilter(), true), FILTER_INCLUDE);
    assert.equal(filterMode(f({ podsOnly: true }), false), FILTER_INCLUDE);
    assert.equal(filterMode(f({ host: true }), true), FILTER_NONE);
    assert.equal(filterMode(f({ podsOnly: true, host: true }), false), FILTER_NONE);
  });

  it('a blank label selector is no selector, as in matchesFilter (one rule)', () => {
    const blank = f({ labelSelector: '  ' });
    assert.equal(filterMode(blank, false), FILTER_NONE);
    // what the run then keeps agrees with matchesFilter: the host and every container
    assert.ok(matchesFilter(blank, null) && matchesFilter(blank, web));
  });
});

describe('RunAdmission', () => {
  it('include: matching containers enter the kernel map and are announced; others and the host are dropped', () => {
    const { map, adm } = run(f({ containerNames: ['web'] }));
    map.keys.add(db.mntnsId); // a reused inode: it held a container of the set before
    adm.admit(web);
    adm.admit(db);
    assert.deepEqual([...map.keys], [web.mntnsId]);
    assert.deepEqual(
      adm.pending.map((c) => c.name),
      ['web'],
    );
    assert.equal(adm.decide(web.mntnsId, web.pid), true);
    assert.equal(adm.decide(db.mntnsId, db.pid), false);
    assert.equal(adm.decide(HOST_NS, HOST_PID), false);
  });

  it('exclude (--host): every container enters the map and is dropped; the host is kept', () => {
    const { map, adm } = run(f({ host: true }));
    assert.equal(adm.mode, FILTER_EXCLUDE);
    assert.equal(adm.decide(web.mntnsId, web.pid), false);
    assert.equal(adm.decide(db.mntnsId, db.pid), false);
    assert.equal(adm.decide(HOST_NS, HOST_PID), true);
    assert.deepEqual([...map.keys].sort(), [web.mntnsId, db.mntnsId]);
    assert.deepEqual(
      adm.pending.map((c) => c.name),
      ['web', 'db'],
    );
  });

  it('none: everything is kept and the kernel map is not touched', () => {
    const { map, adm } = run(emptyFilter());
    assert.equal(adm.decide(web.mntnsId, web.pid), true);
    assert.equal(adm.decide(HOST_NS, HOST_PID), true);
    assert.equal(map.keys.size, 0);
    assert.deepEqual(
      adm.pending.map((c) => c.name),
      ['web'],
    );
  });

  it('Kubernetes mode drops the host; podsOnly also drops containers outside pods', () => {
    const nginx = container('nginx', 4026532003, 103, 'nginx-1');
    const decisions = (filter: ContainerFilter, kubernetes: boolean): boolean[] => {
      const reg = new Containers([web, nginx]);
      const adm = new RunAdmission(filter, filterMode(filter, kubernetes), reg, new FilterMap());
      return [
        adm.decide(nginx.mntnsId, nginx.pid),
        adm.decide(web.mntnsId, web.pid),
        adm.decide(HOST_NS, HOST_PID),
      ];
    };
    assert.deepEqual(decisions(emptyFilter(), true), [true, true, false]);
    assert.deepEqual(decisions(f({ podsOnly: true }), false), [true, false, false]);
  });

  it('a decision is made once per namespace, until the container or namespace is gone', () => {
    const { reg, map, adm } = run(f({ containerNames: ['web'] }));
    assert.equal(adm.decide(HOST_NS, HOST_PID), false);
    assert.equal(adm.decide(web.mntnsId, web.pid), true);
    assert.equal(reg.lookups, 2);
    adm.decide(HOST_NS, HOST_PID);
    adm.decide(web.mntnsId, web.pid);
    assert.equal(reg.lookups, 2);

    adm.removed(web);
    assert.deepEqual([...map.keys], []);
    // the inode reused by a container the filter selects: decided again, not from the cache
    const web2 = container('web', HOST_NS, 201);
    reg.list = [web2];
    assert.equal(adm.decide(HOST_NS, 201), false); // still cached: only forget() clears it
    adm.forget(HOST_NS);
    assert.equal(adm.decide(HOST_NS, 201), true);
    assert.ok(map.keys.has(HOST_NS));
  });

  it('a process whose container is in another namespace now counts as the host', () => {
    const { adm } = run(f({ containerNames: ['web'] }));
    // pid 101 (web) reported from a namespace that is not web's: it was setns'd elsewhere
    assert.equal(adm.decide(4026532999, web.pid), false);
  });

  it('an identity update that makes a container match (pod labels) flips its decision', () => {
    const pod = container('app', 4026532010, 110, 'app-1');
    const flt = f({ labelSelector: 'tier=front' });
    const reg = new Containers([pod]);
    const map = new FilterMap();
    const adm = new RunAdmission(flt, filterMode(flt, false), reg, map);
    assert.equal(adm.decide(pod.mntnsId, pod.pid), false);
    adm.admit({ ...pod, k8s: { ...pod.k8s!, labels: { tier: 'front' } } });
    assert.equal(adm.decide(pod.mntnsId, pod.pid), true);
    assert.ok(map.keys.has(pod.mntnsId));
    assert.deepEqual(
      adm.pending.map((c) => c.name),
      ['app'],
    );
  });
});

describe('RunAdmission keyed by the namespace unique id', () => {
  /** containers by unique id (what ContainerRegistry.resolveUid answers) */
  class ByUid extends Containers {
    uidLookups = 0;
    constructor(private readonly byUid: Map<number, ContainerInfo>) {
      super([web, db, ...byUid.values()]);
    }
    resolveUid(uid: number): ContainerInfo | null {
      this.uidLookups++;
      return this.byUid.get(uid) ?? null;
    }
  }
  const REUSED = 4026532600;
  const gone = (name: string, uid: number): ContainerInfo => ({
    ...container(name, REUSED, 0),
    state: 'exited',
    mntnsUid: uid,
  });

  it('two namespaces on one inode are decided apart, once each; a dead one stays out of the kernel map', () => {
    const a = gone('a', 11);
    const b = gone('b', 12);
    const reg = new ByUid(
      new Map([
        [11, a],
        [12, b],
      ]),
    );
    const map = new FilterMap();
    const filter = f({ containerNames: ['b'] });
    const adm = new RunAdmission(filter, filterMode(filter, false), reg, map);
    assert.equal(adm.decide(REUSED, 300, 11), false);
    assert.equal(adm.decide(REUSED, 301, 12), true);
    assert.equal(adm.decide(REUSED, 300, 11), false);
    assert.equal(adm.decide(REUSED, 301, 12), true);
    assert.equal(reg.uidLookups, 2);
    assert.deepEqual([...map.keys], [], 'an exited container is not put in the kernel filter');
    assert.deepEqual(
      adm.pending.map((c) => c.name),
      ['b'],
    );
  });

  it('no filter: every container announced under the unique id its records carry', () => {
    const outer = { ...container('outer', 4026532700, 400), mntnsUid: 21 };
    const reg = new ByUid(
      new Map([
        [21, outer],
        [22, outer], // a namespace created inside it
      ]),
    );
    const adm = new RunAdmission(emptyFilter(), FILTER_NONE, reg, new FilterMap());
    assert.equal(adm.decide(4026532700, 400, 21), true);
    assert.equal(adm.decide(4026532701, 401, 22), true);
    assert.equal(adm.decide(HOST_NS, HOST_PID, 1), true);
    assert.deepEqual(
      adm.pending.map((c) => [c.name, c.mntnsUid]),
      [
        ['outer', 21],
        ['outer', 22],
      ],
    );
  });

  it('records without a unique id (uid 0) are still decided by inode', () => {
    const reg = new ByUid(new Map());
    const filter = f({ containerNames: ['web'] });
    const adm = new RunAdmission(filter, filterMode(filter, false), reg, new FilterMap());
    assert.equal(adm.decide(web.mntnsId, web.pid, 0), true);
    assert.equal(reg.uidLookups, 0);
  });
});
