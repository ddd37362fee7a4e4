// Which containers and mount namespaces a gadget run keeps (LocalRuntime.run).
//
// The kernel filters first (bpf/gadget.h, gadget_filter_mode and the gadget_mntns_filter map):
//   - NONE: every record passes (no selector, and the host is wanted too);
//   - INCLUDE: only the namespaces in the map, plus namespaces not yet known to the map;
//   - EXCLUDE (--host without a selector): everything but the namespaces in the map.
// User space then decides the namespaces the kernel passed unclassified, once per namespace, and
// keeps the map current as containers come and go. Decisions are keyed by the namespace's unique
// id (the record's mntns_uid; inodes are reused, so an inode-keyed decision could be a dead
// container's), by the inode only for records without one. The kernel map stays keyed by inode:
// a live namespace's inode is its own.

import type { ContainerFilter } from '../../../gadgets/framework/runtime.js';
import { hasContainerSelector } from '../../../gadgets/framework/filter.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';

export const FILTER_NONE = 0;
export const FILTER_INCLUDE = 1;
export const FILTER_EXCLUDE = 2;
export type FilterMode = typeof FILTER_NONE | typeof FILTER_INCLUDE | typeof FILTER_EXCLUDE;

/**
 * The kernel filter mode of a run. A selector (the same rule as matchesFilter's) asks for
 * matching containers only; without one, Kubernetes mode and podsOnly mean every pod container
 * (and the host with --host); otherwise --host alone means "only the host".
 */
export function filterMode(f: ContainerFilter, kubernetes: boolean): FilterMode {
  if (hasContainerSelector(f)) return FILTER_INCLUDE;
  if (kubernetes || f.podsOnly) return f.host ? FILTER_NONE : FILTER_INCLUDE;
  return f.host ? FILTER_EXCLUDE : FILTER_NONE;
}

/** The kernel's gadget_mntns_filter map (key: the mount namespace, u64). */
export interface MntnsFilterMap {
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): void;
}

/** What the admission asks of the container registry. */
export interface AdmitRegistry {
  matches(filter: ContainerFilter, c: ContainerInfo): boolean;
  /** the container of a process now (null: host or gone); see ContainerRegistry.resolvePid */
  resolvePid(pid: number, mntnsHint?: number): ContainerInfo | null;
  byMntns(mntns: number): ContainerInfo | undefined;
  /**
   * The container of a mount namespace unique id (see ContainerRegistry.resolveUid); without
   * it, records are decided by inode.
   */
  resolveUid?(uid: number, inode: number, pid: number): ContainerInfo | null;
}

/** Decisions kept per run before the cache starts over (host namespaces come and go). */
const MAX_DECIDED = 65536;

/** One run's keep/drop decisions per mount namespace, and the containers it announces. */
export class RunAdmission {
  /** containers admitted since the caller last sent them (it empties this) */
  readonly pending: ContainerInfo[] = [];
  /** per mount namespace inode (records without a unique id): keep its records or drop them */
  private readonly decided = new Map<number, boolean>();
  /** per mount namespace unique id: keep its records or drop them */
  private readonly decidedUid = new Map<number, boolean>();
  private readonly keyBuf = Buffer.alloc(8);
  private readonly one = Buffer.from([1]);

  constructor(
    private readonly filter: ContainerFilter,
    /** filterMode(filter, ...): what the kernel was loaded with */
    readonly mode: FilterMode,
    private readonly registry: AdmitRegistry,
    private readonly filterMap: MntnsFilterMap,
  ) {}

  private matches(c: ContainerInfo): boolean {
    return this.registry.matches(this.filter, c);
  }

  private keep(c: ContainerInfo): boolean {
    return this.mode === FILTER_EXCLUDE ? false : this.mode === FILTER_NONE || this.matches(c);
  }

  private setUid(uid: number, keep: boolean): void {
    if (this.decidedUid.size >= MAX_DECIDED) this.decidedUid.clear();
    this.decidedUid.set(uid, keep);
  }

  /** A running container (found, or its identity updated): decided, the kernel map follows. */
  admit(c: ContainerInfo): void {
    const mode = this.mode;
    if (c.mntnsUid) this.setUid(c.mntnsUid, this.keep(c));
    if (c.state !== 'running') {
      // named after its death (kernel record): its inode may be another namespace's by now
      if (mode === FILTER_EXCLUDE || this.matches(c) || mode === FILTER_NONE) this.pending.push(c);
      return;
    }
    if (mode !== FILTER_NONE) {
      this.keyBuf.writeBigUInt64LE(BigInt(c.mntnsId));
      // include: the set is the matching containers; exclude (--host): every container.
      // A reused inode may have belonged to a container of the set before.
      if (mode === FILTER_EXCLUDE || this.matches(c)) this.filterMap.update(this.keyBuf, this.one);
      else this.filterMap.delete(this.keyBuf);
    }
    if (mode === FILTER_EXCLUDE || this.matches(c) || mode === FILTER_NONE) this.pending.push(c);
    this.decided.set(
      c.mntnsId,
      mode === FILTER_EXCLUDE ? false : mode === FILTER_NONE || this.matches(c),
    );
  }

  /** A container is gone: its namespace is decided again, and leaves the kernel map. */
  removed(c: ContainerInfo): void {
    this.decided.delete(c.mntnsId);
    if (this.mode !== FILTER_NONE) {
      this.keyBuf.writeBigUInt64LE(BigInt(c.mntnsId));
      this.filterMap.delete(this.keyBuf);
    }
  }

  /** A mount namespace is gone (its inode may be reused): decided again when seen. */
  forget(mntns: number): void {
    this.decided.delete(mntns);
  }

  /**
   * Keep the records of `mntns` (seen from `pid`; `uid` the namespace's unique id, 0 if the
   * record has none)? Cached per namespace; bound, so filterBatch can call it without a closure
   * per batch.
   */
  readonly decide = (mntns: number, pid: number, uid = 0): boolean => {
    if (uid > 0 && this.registry.resolveUid) return this.decideUid(uid, mntns, pid);
    const known = this.decided.get(mntns);
    if (known !== undefined) return known;
    // ask /proc first: an exited container's mntns inode is often reused at once by the next
    // container, before the registry's poll notices; fall back if the process is gone
    const c = this.registry.resolvePid(pid, mntns) ?? this.registry.byMntns(mntns);
    if (c && c.mntnsId === mntns) {
      this.admit(c);
      return this.decided.get(mntns) ?? false;
    }
    // a host process (or one gone before it could be classified)
    const keep = this.mode !== FILTER_INCLUDE;
    this.decided.set(mntns, keep);
    return keep;
  };

  private decideUid(uid: number, mntns: number, pid: number): boolean {
    const known = this.decidedUid.get(uid);
    if (known !== undefined) return known;
    const c = this.registry.resolveUid!(uid, mntns, pid);
    if (!c) {
      // a host namespace (or one that cannot be placed)
      const keep = this.mode !== FILTER_INCLUDE;
      this.setUid(uid, keep);
      return keep;
    }
    // the client joins records to containers by this uid: a namespace created inside the
    // container has its own, and is announced as the container under it
    this.admit(c.mntnsUid === uid ? c : { ...c, mntnsUid: uid });
    const keep = this.keep(c);
    this.setUid(uid, keep);
    return keep;
  }
}
