// The daemon's container registry: which mount namespaces exist on the host, and which of
// them belong to containers (podman, containerd; docker and cri-o recognised by cgroup path).
//
// How it works
// - start() lists /proc and classifies every pid: readlink /proc/<pid>/ns/mnt gives the mount
//   namespace, /proc/<pid>/cgroup gives the container id (see cgroup.ts), and the runtime's
//   on-disk state gives name, image, annotations and the init pid (see sources.ts).
// - poll() (every pollMs) lists /proc again and only reads pids not seen before; pids
//   gone since are dropped, and a mount namespace whose last process is gone is removed
//   ('mntns-removed': its inode number may be reused). Every fullRescanEvery polls the mntns
//   of every known pid is read again (a process may setns/unshare after we saw it).
// - resolvePid() classifies one pid at once, for events from a not-yet-known namespace.
// - resolveUid() names an event's mount namespace by its unique id (never reused, unlike the
//   inode): a container already known by that id; else its live process; else the container
//   tracker's kernel record (cgroup name -> container id -> metadata sources), which outlives
//   the container, so a container that lived milliseconds still gets its own name, never
//   another's. A container found that way after its death is listed as exited.
// - A container whose init pid is gone is marked exited and kept exitedRetentionMs.
//
// Events, in this order for a new container: 'added' (container), then 'mntns-added' (its
// namespace), so a listener that fills a kernel filter from 'added' does so before the kernel
// `known` set (filled from 'mntns-added') stops passing the namespace's events up.
//   'added'          a container was found (state 'running')
//   'updated'        a container's metadata was completed or its k8s identity changed
//   'removed'        it is gone: its init process exited (state 'exited', exitedAt set, pid 0;
//                    still listed for exitedRetentionMs), or it turned out to be a CRI sandbox
//   'expired'        an exited container dropped from list() after the retention
//   'mntns-added'    a mount namespace is in use on the host (container or not)
//   'mntns-removed'  no process uses it anymore
//
// Objects handed out are the registry's own (live) ContainerInfo: treat them as read-only.

import { EventEmitter } from 'node:events';

import { parseProcCgroup, cgroupPaths, type CgroupMatch, type RuntimeName } from './cgroup.js';
import { matchesFilter } from '../../../gadgets/framework/filter.js';
import {
  bootWallMs,
  listPids,
  readNsInode,
  readNsPids,
  readStat,
  readText,
  USER_HZ,
} from './proc.js';
import {
  ContainerdSource,
  ContainersStorageSource,
  type MetadataSource,
  type RuntimeMeta,
} from './sources.js';
import type { ContainerInfo, K8sIdentity } from '../../../gadgets/framework/containers.js';
import type { ContainerFilter } from '../../../gadgets/framework/runtime.js';
import type { MntnsRecord } from './kernel-record.js';

export interface ContainerRegistryOptions {
  /** procfs mount (default '/proc'; '/host/proc' in a pod without hostPID /proc) */
  procRoot?: string;
  /** /proc poll period in ms (default 1000); 0 = no timer, call poll() yourself */
  pollMs?: number;
  /** how long exited containers stay listed, ms (default 10 minutes) */
  exitedRetentionMs?: number;
  /** containerd state dirs (--state), each holding io.containerd.runtime.v2.task/ (default ['/run/containerd']) */
  containerdStateDirs?: string[];
  /** containers/storage graph roots and run roots (podman, cri-o) */
  containersStorageRoots?: string[];
  /** runc --root dirs with <id>/state.json (default ['/run/runc']) */
  runcRoots?: string[];
  /** docker data root, for docker container names (default '/var/lib/docker') */
  dockerRoot?: string;
  /** re-read every known pid's mntns every N polls (default 30; 0 = never) */
  fullRescanEvery?: number;
  /**
   * A process in a container cgroup whose runtime state is not readable yet is retried on each
   * poll for this long, then registered from what its cgroup tells (default 3000 ms).
   */
  metadataGraceMs?: number;
  /** extra or replacement metadata sources (tests, other runtimes) */
  sources?: MetadataSource[];
  /**
   * The unique id of a pid's mount namespace (ioctl NS_GET_MNTNS_ID; bpf.mntnsUid), null when
   * gone or unknown. Without it containers carry no mntnsUid until resolveUid names them.
   */
  mntnsUid?: (pid: number) => number | null;
  /** The container tracker's kernel record of a mount namespace unique id (shared.ts). */
  kernelRecord?: (uid: number) => MntnsRecord | null;
}

/** Listener signatures of ContainerRegistry ; same events as ContainerRegistryEventMap. */
export interface ContainerRegistryEvents {
  /** a container was found (state 'running'); emitted before 'mntns-added' of its namespace */
  added: (c: ContainerInfo) => void;
  /** it exited (state 'exited', pid 0; still listed for the retention) or was a CRI sandbox */
  removed: (c: ContainerInfo) => void;
  /** metadata completed after discovery, or pod info (labels, owner) applied */
  updated: (c: ContainerInfo) => void;
  /** an exited container dropped from list() after the retention */
  expired: (c: ContainerInfo) => void;
  /** a mount namespace (container or host) is in use: add to the kernel `known` set */
  'mntns-added': (mntns: number) => void;
  /** no process uses it anymore (its inode may be reused): remove from `known` */
  'mntns-removed': (mntns: number) => void;
}

export interface ContainerRegistryEventMap {
  added: [ContainerInfo];
  updated: [ContainerInfo];
  removed: [ContainerInfo];
  expired: [ContainerInfo];
  'mntns-added': [number];
  'mntns-removed': [number];
}

/** Pod metadata from the pod informer (see setPodInfo). */
export type PodInfo = Partial<
  Pick<K8sIdentity, 'labels' | 'ownerKind' | 'ownerName' | 'podIp' | 'hostNetwork'>
>;

interface Entry {
  info: ContainerInfo;
  /** start time (clock ticks) of the init pid, to tell it from a reused pid */
  initStartTime: number;
  /** runtime metadata not found yet: retried on polls until metadataGraceMs after discovery */
  metaPending: boolean;
  discoveredAt: number;
  cgroupRuntime: RuntimeName;
  /** the runtime state did not name the init pid: the first pid seen stands in for it */
  initGuessed: boolean;
}

interface PidRec {
  mntns: number;
  /** 0 for host processes and CRI sandboxes */
  generation: number;
  host: boolean;
}

interface NsRec {
  refs: number;
}

/** Generations are never reused while the process runs, across registries too. */
let nextGeneration = 1;

const DEFAULTS = {
  procRoot: '/proc',
  pollMs: 1000,
  exitedRetentionMs: 10 * 60 * 1000,
  containerdStateDirs: ['/run/containerd'],
  containersStorageRoots: ['/var/lib/containers/storage', '/run/containers/storage'],
  runcRoots: ['/run/runc'],
  dockerRoot: '/var/lib/docker',
  fullRescanEvery: 30,
  metadataGraceMs: 3000,
};

/** The on-disk metadata sources (runtime state files) for these options: the registry's default. */
export function diskSources(opts: ContainerRegistryOptions = {}): MetadataSource[] {
  return [
    new ContainerdSource(
      opts.containerdStateDirs ?? DEFAULTS.containerdStateDirs,
      opts.dockerRoot ?? DEFAULTS.dockerRoot,
    ),
    new ContainersStorageSource(
      opts.containersStorageRoots ?? DEFAULTS.containersStorageRoots,
      opts.runcRoots ?? DEFAULTS.runcRoots,
      opts.procRoot ?? DEFAULTS.procRoot,
    ),
  ];
}

type Classified =
  { kind: 'gone' } | { kind: 'pending' } | { kind: 'done'; container: ContainerInfo | null };

export class ContainerRegistry extends EventEmitter<ContainerRegistryEventMap> {
  readonly options: Readonly<
    Required<Omit<ContainerRegistryOptions, 'sources' | 'mntnsUid' | 'kernelRecord'>>
  >;
  private readonly sources: MetadataSource[];
  private readonly uidOfPid: (pid: number) => number | null;
  private readonly kernelRecord: (uid: number) => MntnsRecord | null;
  /** mount namespace unique id -> container (its own namespace and those created inside it) */
  private readonly byUidMap = new Map<number, Entry>();
  /** unique ids resolved to no container (host namespaces), bounded */
  private readonly hostUids = new Set<number>();
  private readonly proc: string;

  private readonly pids = new Map<number, PidRec>();
  /** pids in a container cgroup whose classification must be retried, with first-seen ms */
  private readonly pendingPids = new Map<number, number>();
  private readonly namespaces = new Map<number, NsRec>();
  /** generation -> entry (running and retained exited) */
  private readonly entries = new Map<number, Entry>();
  /** container id -> newest entry */
  private readonly byIdMap = new Map<string, Entry>();
  /** mntns -> container, for the init's namespace and for namespaces created inside it */
  private readonly mntnsMap = new Map<number, Entry>();
  /** mntns -> when (Date.now()) its mntnsMap mapping was made: see namespaceCreated */
  private readonly mappedAt = new Map<number, number>();
  /** CRI sandbox container ids (pause): known namespaces, not listed */
  private readonly sandboxes = new Set<string>();
  private readonly podInfo = new Map<string, PodInfo>();
  /** container id -> pod and container names from the pod watch; outlives the container */
  private readonly k8sById = new Map<
    string,
    Omit<K8sIdentity, keyof PodInfo> & { runtime: ContainerInfo['runtime'] }
  >();
  /** live pids whose ns link or cgroup cannot be read (EACCES): not retried */
  private readonly unreadable = new Set<number>();

  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private polls = 0;
  private bootMs: number;

  constructor(opts: ContainerRegistryOptions = {}) {
    super();
    const { sources, mntnsUid, kernelRecord, ...rest } = opts;
    this.uidOfPid = mntnsUid ?? (() => null);
    this.kernelRecord = kernelRecord ?? (() => null);
    const o = { ...DEFAULTS };
    for (const [k, v] of Object.entries(rest)) {
      if (v !== undefined) (o as Record<string, unknown>)[k] = v;
    }
    this.options = o;
    this.proc = o.procRoot;
    this.sources = sources ?? diskSources(o);
    this.bootMs = bootWallMs(this.proc) ?? Date.now() - process.uptime() * 1000;
  }

  /**
   * Scans /proc and starts the poll. The scan runs synchronously within this call (listeners
   * attached before see every event); the promise is already settled when start() returns.
   */
  start(): Promise<void> {
    if (this.started || this.closed) return Promise.resolve();
    this.started = true;
    try {
      this.poll();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.options.pollMs > 0) {
      this.timer = setInterval(() => {
        try {
          this.poll();
        } catch (err) {
          // A poll must never take the daemon down; the next one retries.
          process.emitWarning(`container registry poll failed: ${String(err)}`);
        }
      }, this.options.pollMs);
      this.timer.unref();
    }
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // queries

  /** Running and retained exited containers, in discovery order. */
  list(): ContainerInfo[] {
    return [...this.entries.values()].map((e) => e.info);
  }

  /** The container of a mount namespace unique id the registry has seen, or undefined. */
  byMntnsUid(uid: number): ContainerInfo | undefined {
    return this.byUidMap.get(uid)?.info;
  }

  /** The container a mount namespace belongs to (newest generation), or undefined. */
  byMntns(mntns: number): ContainerInfo | undefined {
    return this.mntnsMap.get(mntns)?.info;
  }

  /**
   * The container whose id starts with `prefix` (running preferred, then newest). Undefined if
   * none, or if the prefix is ambiguous between different ids.
   */
  byId(prefix: string): ContainerInfo | undefined {
    const p = prefix.toLowerCase();
    if (!p) return undefined;
    const exact = this.byIdMap.get(p);
    if (exact) return exact.info;
    let found: Entry | undefined;
    for (const [id, e] of this.byIdMap) {
      if (!id.startsWith(p)) continue;
      if (found) return undefined;
      found = e;
    }
    return found?.info;
  }

  /** Containers whose id starts with `prefix`. */
  findById(prefix: string): ContainerInfo[] {
    const p = prefix.toLowerCase();
    return this.list().filter((c) => c.id.startsWith(p));
  }

  /** By runtime name or k8s container name: the running one, else the newest exited one. */
  byName(name: string): ContainerInfo | undefined {
    let best: ContainerInfo | undefined;
    for (const { info } of this.entries.values()) {
      if (info.name !== name && info.k8s?.container !== name) continue;
      if (
        !best ||
        (info.state === 'running' && best.state !== 'running') ||
        (info.state === best.state && info.generation > best.generation)
      ) {
        best = info;
      }
    }
    return best;
  }

  /** Every mount namespace in use on the host (containers and host) as of the last scan. */
  knownMntns(): Iterable<number> {
    return this.namespaces.keys();
  }

  isKnownMntns(mntns: number): boolean {
    return this.namespaces.has(mntns);
  }

  /** See matchesFilter(); `null` stands for a host process. */
  matches(filter: ContainerFilter, container: ContainerInfo | null | undefined): boolean {
    return matchesFilter(filter, container ?? null);
  }

  // -------------------------------------------------------------------------------------------
  // Kubernetes hook

  /**
   * The pod watch (daemon/src/k8s/pods.ts) calls this with what the API server knows of a pod
   * (labels, owner, IP). It is stored by pod uid, applied to that pod's containers now and
   * to those found later, with an 'updated' event for each changed container. Label selectors
   * in filters (matchesFilter) read k8s.labels, which stay {} until this is called.
   */
  setPodInfo(podUid: string, info: PodInfo | null): void {
    if (info === null) {
      this.podInfo.delete(podUid);
      return;
    }
    this.podInfo.set(podUid, info);
    for (const e of this.entries.values()) {
      if (e.info.k8s?.podUid === podUid) {
        Object.assign(e.info.k8s, info);
        this.emit('updated', e.info);
      }
    }
  }

  /**
   * The pod watch's container ids of a pod (status and lastState: the instance before a restart
   * too). A container that lived too briefly for its runtime state to be read (CrashLoopBackOff)
   * is still named by it. Kept after the pod is gone, up to 8192 ids.
   */
  noteContainerIds(
    podUid: string,
    namespace: string,
    pod: string,
    ids: ReadonlyArray<{ id: string; container: string; runtime: ContainerInfo['runtime'] }>,
  ): void {
    for (const { id, container, runtime } of ids) {
      if (this.k8sById.get(id)?.podUid === podUid) continue;
      this.k8sById.set(id, { namespace, pod, container, podUid, runtime });
      if (this.k8sById.size > 8192) this.k8sById.delete(this.k8sById.keys().next().value!);
    }
  }

  /** Kubernetes identity of a container id the pod watch reported (also once it is gone). */
  k8sIdentityById(id: string): (K8sIdentity & { runtime: ContainerInfo['runtime'] }) | undefined {
    const found = this.k8sById.get(id);
    if (!found) return undefined;
    const { runtime, ...base } = found;
    const k8s = this.withPodInfo({
      ...base,
      labels: {},
      ownerKind: '',
      ownerName: '',
      podIp: '',
      hostNetwork: false,
    });
    return { ...k8s, runtime };
  }

  /**
   * The kernel created a namespace with this inode (the container tracker's gadget_mntns_fresh):
   * the inode was free, so what it mapped to before is gone. A container's namespace is often
   * reused at once by the next container (a pod replaced): without this, the next container's
   * events would carry the old one's name until the poll notices the exit.
   */
  namespaceCreated(mntns: number, createdAtMs?: number): void {
    const e = this.mntnsMap.get(mntns);
    if (!e) return;
    // mapped since the namespace was created (a poll saw it first, e.g. a namespace unshared
    // inside a running container): the mapping is the new namespace's own
    if (createdAtMs !== undefined && (this.mappedAt.get(mntns) ?? -Infinity) >= createdAtMs) return;
    if (e.info.state === 'running' && e.info.mntnsId === mntns) {
      // already the new container (the poll registered it since)?
      const st = readStat(this.proc, e.info.pid);
      if (st && st.startTime === e.initStartTime && readNsInode(this.proc, e.info.pid) === mntns)
        return;
      this.markExited(e, Date.now());
    }
    this.unmapNs(mntns);
    const had = this.namespaces.has(mntns); // untracking its last pid says mntns-removed itself
    let tracked = false;
    for (const [pid, rec] of [...this.pids]) {
      if (rec.mntns !== mntns) continue;
      if (rec.generation === e.info.generation) this.untrackPid(pid);
      else tracked = true;
    }
    // runs forget their decision on it; the kernel's known set drops it
    if (!tracked && !had) this.emit('mntns-removed', mntns);
  }

  // -------------------------------------------------------------------------------------------
  // on-demand classification

  /**
   * Classifies `pid` now (registering it) and returns its container, or null for a host process
   * (and for a CRI sandbox). Synchronous: a few procfs reads, plus the runtime's state files
   * when the container is new. A pid seen before is read again if its mount namespace changed
   * since (setns, or pid reuse). If the process is already gone, answers from `mntnsHint`
   * (the namespace the kernel reported).
   */
  resolvePid(pid: number, mntnsHint?: number): ContainerInfo | null {
    const rec = this.pids.get(pid);
    if (rec) {
      const now = readNsInode(this.proc, pid);
      if (now === rec.mntns) {
        return rec.generation ? (this.entries.get(rec.generation)?.info ?? null) : null;
      }
      this.untrackPid(pid); // the pid changed namespace, or is gone / reused
    }
    this.unreadable.delete(pid);
    const r = this.classify(pid, Date.now(), true);
    if (r.kind === 'done') return r.container;
    if (mntnsHint !== undefined) return this.byMntns(mntnsHint) ?? null;
    return null;
  }

  /**
   * The container of the mount namespace whose unique id is `uid` (an event's mntns_uid; its
   * inode was `inode`, seen from `pid`), or null for a host namespace or one that cannot be
   * placed. In order: a container already known by that id; the process, if it still lives in
   * that namespace (resolvePid); the kernel record (cgroup name -> container id -> a known
   * container of that id, or the metadata sources: one that is gone is listed as exited).
   * Never answers from the inode alone when the uid is known: inodes are reused.
   */
  resolveUid(uid: number, inode: number, pid: number): ContainerInfo | null {
    const known = this.byUidMap.get(uid);
    if (known) return known.info;
    if (this.hostUids.has(uid)) return null;
    if (pid > 0 && this.uidOfPid(pid) === uid) {
      const c = this.resolvePid(pid);
      const e = c ? this.entries.get(c.generation) : undefined;
      if (e) {
        this.byUidMap.set(uid, e);
        return e.info;
      }
      // a host process (not one that died meanwhile, nor a container's still being placed)
      if (!c && this.pids.get(pid)?.host === true) {
        this.noteHostUid(uid);
        return null;
      }
    }
    const rec = this.kernelRecord(uid);
    if (!rec) {
      // no record (a namespace without an exec since the daemon started): the inode, only if
      // its container's uid is unknown or is this one
      const c = this.byMntns(inode);
      return c && (!c.mntnsUid || c.mntnsUid === uid) ? c : null;
    }
    const path = rec.cgroupParent ? `/${rec.cgroupParent}/${rec.cgroup}` : `/${rec.cgroup}`;
    const m = this.matchCgroup(`0::${path}\n`);
    if (!m) {
      this.noteHostUid(uid);
      return null;
    }
    if (this.sandboxes.has(m.id)) return null;
    const same = this.byIdMap.get(m.id);
    if (same) {
      this.byUidMap.set(uid, same);
      return same.info;
    }
    const meta = this.lookup(m.id, m.runtime, rec.pid);
    if (meta?.sandbox) {
      this.sandboxes.add(m.id);
      return null;
    }
    // still running? its init (or the recorded pid) registers it the usual way
    for (const p of [meta?.initPid ?? 0, rec.pid]) {
      if (p <= 0 || this.uidOfPid(p) !== uid) continue;
      const c = this.resolvePid(p);
      const e = c?.id === m.id ? this.entries.get(c.generation) : undefined;
      if (e) {
        this.byUidMap.set(uid, e);
        return e.info;
      }
    }
    return this.addExited(m, meta, rec, uid);
  }

  private noteHostUid(uid: number): void {
    if (this.hostUids.size >= 65536) this.hostUids.clear();
    this.hostUids.add(uid);
  }

  /** A container known only from the kernel record: already gone, kept for the retention. */
  private addExited(
    m: CgroupMatch,
    meta: RuntimeMeta | null,
    rec: MntnsRecord,
    uid: number,
  ): ContainerInfo {
    const now = Date.now();
    const startedAt = Math.round(this.bootMs + Number(rec.firstExecNs / 1_000_000n));
    const info: ContainerInfo = {
      runtime: meta?.runtime ?? m.runtime,
      id: m.id,
      // nothing names it (its files are gone, no source kept it): '' as traceloop's anonymous
      // recordings, the id says which it was
      name: meta?.name ?? '',
      pid: 0,
      mntnsId: rec.inode,
      mntnsUid: uid,
      generation: nextGeneration++,
      state: 'exited',
      startedAt,
      exitedAt: now,
      image: meta?.image ?? '',
      annotations: meta?.annotations ?? {},
    };
    const k8s = meta?.k8s;
    if (k8s)
      info.k8s = this.withPodInfo(k8s.podUid || !m.podUid ? k8s : { ...k8s, podUid: m.podUid });
    else {
      const pod = this.k8sIdentityById(m.id);
      if (pod) {
        const { runtime, ...k } = pod;
        info.k8s = k;
        if (info.runtime === 'unknown') info.runtime = runtime;
        if (!meta) info.name = k.container;
      }
    }
    const entry: Entry = {
      info,
      initStartTime: -1,
      metaPending: false,
      discoveredAt: now,
      cgroupRuntime: m.runtime,
      initGuessed: false,
    };
    this.entries.set(info.generation, entry);
    this.byIdMap.set(info.id, entry);
    this.byUidMap.set(uid, entry);
    // no 'added': nothing runs in it, and its inode may already be another namespace's
    return info;
  }

  // -------------------------------------------------------------------------------------------
  // the scan

  /** One scan step: new pids, gone pids, exited containers, retention. Called by the timer. */
  poll(): void {
    if (this.closed) return;
    const now = Date.now();
    this.polls++;
    let live: number[];
    try {
      live = listPids(this.proc);
    } catch {
      return;
    }
    const liveSet = new Set(live);

    // 0. metadata (or the init pid) that was missing at discovery
    for (const e of [...this.entries.values()]) {
      if (!e.metaPending) continue;
      if (e.info.state !== 'running' || now - e.discoveredAt > this.options.metadataGraceMs) {
        e.metaPending = false;
        continue;
      }
      const meta = this.lookup(e.info.id, e.cgroupRuntime, e.info.pid);
      if (meta && (meta.initPid || !e.initGuessed)) this.completeMeta(e, meta);
    }

    // 1. exited containers (before new pids: a restarted container gets a new entry)
    for (const e of this.entries.values()) {
      if (e.info.state !== 'running') continue;
      const st = readStat(this.proc, e.info.pid);
      if (st && st.startTime === e.initStartTime) continue;
      if (e.initGuessed && this.rehomeInit(e)) continue;
      this.markExited(e, now);
    }

    // 2. gone pids
    for (const pid of [...this.pids.keys()]) {
      if (!liveSet.has(pid)) this.untrackPid(pid);
    }
    for (const pid of [...this.pendingPids.keys()]) {
      if (!liveSet.has(pid)) this.pendingPids.delete(pid);
    }
    for (const pid of [...this.unreadable]) {
      if (!liveSet.has(pid)) this.unreadable.delete(pid);
    }

    // 3. namespace changes of known pids (setns/unshare after we saw them)
    const every = this.options.fullRescanEvery;
    if (every > 0 && this.polls % every === 0) {
      for (const [pid, rec] of [...this.pids]) {
        const ns = readNsInode(this.proc, pid);
        if (ns === null) this.untrackPid(pid);
        else if (ns !== rec.mntns) {
          this.untrackPid(pid);
          this.classify(pid, now, false);
        }
      }
    }

    // 4. new pids and retries
    for (const pid of live) {
      if (this.pids.has(pid) || this.unreadable.has(pid)) continue;
      this.classify(pid, now, false);
    }

    // 6. retention
    for (const [gen, e] of [...this.entries]) {
      if (
        e.info.state === 'exited' &&
        now - (e.info.exitedAt ?? now) >= this.options.exitedRetentionMs
      ) {
        this.dropEntry(gen, e);
      }
    }
    // CRI sandboxes are forgotten once none of their processes is left
    if (this.sandboxes.size && this.polls % 10 === 0) {
      const alive = new Set<string>();
      for (const [pid, rec] of this.pids) {
        if (rec.host || rec.generation) continue;
        const cg = readText(`${this.proc}/${pid}/cgroup`);
        const m = cg === null ? null : parseProcCgroup(cg);
        if (m) alive.add(m.id);
      }
      for (const id of this.sandboxes) if (!alive.has(id)) this.sandboxes.delete(id);
    }
  }

  private lookup(id: string, hint: RuntimeName, pid: number): RuntimeMeta | null {
    for (const s of this.sources) {
      try {
        const m = s.lookup(id, hint, pid);
        if (m) return m;
      } catch {
        // a half-written state file: retried on the next poll
      }
    }
    return null;
  }

  private matchCgroup(text: string): CgroupMatch | null {
    const m = parseProcCgroup(text);
    if (m) return m;
    for (const s of this.sources) {
      if (!s.matchCgroupPath) continue;
      for (const path of cgroupPaths(text)) {
        if (path === '/' || path.split('/').length !== 3) continue;
        const r = s.matchCgroupPath(path);
        if (r) return { ...r, podUid: '', path };
      }
    }
    return null;
  }

  /**
   * A runtime's setup process sits in the container cgroup before it enters the container's
   * namespaces (runc's parent stage, also for `runc exec`): same mount namespace as its parent,
   * and that parent outside the container. Such a pid is retried, not taken for the container.
   */
  private inSetupStage(pid: number, mntns: number, id: string): boolean {
    const st = readStat(this.proc, pid);
    if (!st || st.ppid <= 0) return false;
    if (readNsInode(this.proc, st.ppid) !== mntns) return false;
    const pcg = readText(`${this.proc}/${st.ppid}/cgroup`);
    return pcg === null || this.matchCgroup(pcg)?.id !== id;
  }

  /**
   * Classifies one pid not in `pids`. `force` (resolvePid): when the runtime state is missing,
   * register from the cgroup at once rather than waiting for a later poll.
   */
  private classify(pid: number, now: number, force: boolean): Classified {
    const mntns = readNsInode(this.proc, pid);
    const cgText = readText(`${this.proc}/${pid}/cgroup`);
    if (mntns === null || cgText === null) {
      this.pendingPids.delete(pid);
      // Alive but not readable (e.g. a process of another user namespace): skipped until gone.
      if (readStat(this.proc, pid) !== null) this.unreadable.add(pid);
      return { kind: 'gone' };
    }
    const m = this.matchCgroup(cgText);
    if (!m) {
      this.pendingPids.delete(pid);
      const owner = this.mntnsMap.get(mntns);
      if (owner && owner.info.state === 'running') {
        // A host process that entered a container's mount namespace (nsenter): the container's.
        this.trackPid(pid, mntns, owner.info.generation, false);
        return { kind: 'done', container: owner.info };
      }
      this.trackPid(pid, mntns, 0, true);
      return { kind: 'done', container: null };
    }

    const firstSeen = this.pendingPids.get(pid) ?? now;
    const graceOver = now - firstSeen >= this.options.metadataGraceMs;
    const pending = (): Classified => {
      if (graceOver) {
        // Give up: a process in a container cgroup we cannot place. Its namespace is known.
        this.pendingPids.delete(pid);
        this.trackPid(pid, mntns, 0, false);
        return { kind: 'done', container: null };
      }
      this.pendingPids.set(pid, firstSeen);
      return { kind: 'pending' };
    };

    if (this.sandboxes.has(m.id)) {
      this.pendingPids.delete(pid);
      this.trackPid(pid, mntns, 0, false);
      return { kind: 'done', container: null };
    }

    if (this.inSetupStage(pid, mntns, m.id)) return pending();

    const existing = this.byIdMap.get(m.id);
    if (existing && existing.info.state === 'running') {
      this.pendingPids.delete(pid);
      if (mntns !== existing.info.mntnsId) this.setAlias(mntns, existing);
      this.trackPid(pid, mntns, existing.info.generation, false);
      return { kind: 'done', container: existing.info };
    }

    const meta = this.lookup(m.id, m.runtime, pid);
    if (meta?.sandbox) {
      this.pendingPids.delete(pid);
      this.sandboxes.add(m.id);
      this.trackPid(pid, mntns, 0, false);
      return { kind: 'done', container: null };
    }

    // The init process: from the runtime state, else this pid.
    let initPid = pid;
    let initNs = mntns;
    if (meta && meta.initPid && meta.initPid !== pid) {
      const ns = readNsInode(this.proc, meta.initPid);
      if (ns !== null) {
        initPid = meta.initPid;
        initNs = ns;
      }
    }
    if (!meta && !force && !graceOver) return pending();
    if (initPid === pid && !meta?.initPid && !force && !graceOver && !this.plausibleInit(pid)) {
      return pending();
    }
    const initStat = readStat(this.proc, initPid);
    if (!initStat) return pending();

    const uid = this.uidOfPid(initPid);
    const info: ContainerInfo = {
      runtime: meta?.runtime ?? m.runtime,
      id: m.id,
      name: meta?.name ?? m.id.slice(0, 12),
      pid: initPid,
      mntnsId: initNs,
      ...(uid ? { mntnsUid: uid } : {}),
      generation: nextGeneration++,
      state: 'running',
      startedAt: Math.round(this.bootMs + (initStat.startTime * 1000) / USER_HZ),
      image: meta?.image ?? '',
      annotations: meta?.annotations ?? {},
    };
    const k8s = meta?.k8s;
    if (k8s)
      info.k8s = this.withPodInfo(k8s.podUid || !m.podUid ? k8s : { ...k8s, podUid: m.podUid });
    const initGuessed = !meta?.initPid;
    const entry: Entry = {
      info,
      initStartTime: initStat.startTime,
      metaPending: !meta || initGuessed,
      discoveredAt: now,
      cgroupRuntime: m.runtime,
      initGuessed,
    };
    // The inode was reused: whoever had it is gone, even if no poll noticed yet.
    const prev = this.mntnsMap.get(initNs);
    if (prev && prev.info.state === 'running') this.markExited(prev, now);
    this.pendingPids.delete(pid);
    this.entries.set(info.generation, entry);
    this.byIdMap.set(info.id, entry);
    if (uid) this.byUidMap.set(uid, entry);
    this.mapNs(initNs, entry);
    this.emit('added', info);
    if (!this.pids.has(initPid)) this.trackPid(initPid, initNs, info.generation, false);
    this.pendingPids.delete(initPid);
    if (pid !== initPid) {
      if (mntns !== initNs) this.setAlias(mntns, entry);
      this.trackPid(pid, mntns, info.generation, false);
    }
    return { kind: 'done', container: info };
  }

  /**
   * Whether `pid` may be a container's init when the runtime's state does not name it yet: not
   * one of runc's setup stages, and pid 1 of its pid namespace if it is in a nested one.
   */
  private plausibleInit(pid: number): boolean {
    const st = readStat(this.proc, pid);
    if (!st || /^runc:\[[01]:/.test(st.comm)) return false;
    const ns = readNsPids(this.proc, pid);
    return !ns || ns.length < 2 || ns[ns.length - 1] === 1;
  }

  /**
   * The process taken for the init (no runtime state yet) is gone: if the runtime state names
   * a live init now, or another process of the container lives, it becomes the init.
   */
  private rehomeInit(e: Entry): boolean {
    const gen = e.info.generation;
    const meta = this.lookup(e.info.id, e.cgroupRuntime, e.info.pid);
    const candidates: number[] = [];
    if (meta?.initPid) candidates.push(meta.initPid);
    for (const [pid, rec] of this.pids) if (rec.generation === gen) candidates.push(pid);
    for (const pid of candidates) {
      const st = readStat(this.proc, pid);
      const ns = st ? readNsInode(this.proc, pid) : null;
      if (!st || ns === null) continue;
      if (pid !== meta?.initPid && !this.plausibleInit(pid)) continue;
      e.info.pid = pid;
      e.initStartTime = st.startTime;
      e.info.startedAt = Math.round(this.bootMs + (st.startTime * 1000) / USER_HZ);
      e.initGuessed = pid !== meta?.initPid;
      if (ns !== e.info.mntnsId) {
        e.info.mntnsId = ns;
        this.mapNs(ns, e);
        this.setUid(e, pid);
      }
      if (meta) this.completeMeta(e, meta);
      return true;
    }
    return false;
  }

  private withPodInfo(k8s: K8sIdentity): K8sIdentity {
    const extra = this.podInfo.get(k8s.podUid);
    return extra ? { ...k8s, ...extra } : { ...k8s };
  }

  private completeMeta(e: Entry, meta: RuntimeMeta): void {
    e.metaPending = false;
    if (meta.sandbox) {
      this.sandboxes.add(e.info.id);
      for (const rec of this.pids.values()) {
        if (rec.generation === e.info.generation) rec.generation = 0;
      }
      this.markExited(e, Date.now());
      this.dropEntry(e.info.generation, e, false);
      return;
    }
    const i = e.info;
    if (e.initGuessed && meta.initPid) {
      e.initGuessed = false;
      const st = meta.initPid === i.pid ? null : readStat(this.proc, meta.initPid);
      const ns = st ? readNsInode(this.proc, meta.initPid) : null;
      if (st && ns !== null) {
        // The pid first seen was another process of the container (an exec): use the real init.
        i.pid = meta.initPid;
        e.initStartTime = st.startTime;
        i.startedAt = Math.round(this.bootMs + (st.startTime * 1000) / USER_HZ);
        if (ns !== i.mntnsId) {
          i.mntnsId = ns;
          this.mapNs(ns, e);
          this.setUid(e, meta.initPid);
        }
      }
    }
    const before = JSON.stringify(i);
    i.runtime = meta.runtime;
    i.name = meta.name;
    i.image = meta.image;
    i.annotations = meta.annotations;
    if (meta.k8s) i.k8s = this.withPodInfo(meta.k8s);
    if (JSON.stringify(i) !== before) this.emit('updated', i);
  }

  /** The init moved to another namespace: its unique id follows. */
  private setUid(e: Entry, pid: number): void {
    const uid = this.uidOfPid(pid);
    if (uid) {
      e.info.mntnsUid = uid;
      this.byUidMap.set(uid, e);
    }
  }

  private mapNs(mntns: number, e: Entry): void {
    this.mntnsMap.set(mntns, e);
    this.mappedAt.set(mntns, Date.now());
  }

  private unmapNs(mntns: number): void {
    this.mntnsMap.delete(mntns);
    this.mappedAt.delete(mntns);
  }

  /** A namespace created inside a container belongs to it (unless a running one has it). */
  private setAlias(mntns: number, e: Entry): void {
    const cur = this.mntnsMap.get(mntns);
    if (!cur || cur.info.state !== 'running') this.mapNs(mntns, e);
  }

  private markExited(e: Entry, now: number): void {
    e.info.state = 'exited';
    e.info.exitedAt = now;
    e.info.pid = 0;
    e.metaPending = false;
    this.emit('removed', e.info);
  }

  private dropEntry(gen: number, e: Entry, emit = true): void {
    this.entries.delete(gen);
    if (this.byIdMap.get(e.info.id) === e) this.byIdMap.delete(e.info.id);
    for (const [ns, x] of [...this.mntnsMap]) if (x === e) this.unmapNs(ns);
    for (const [uid, x] of [...this.byUidMap]) if (x === e) this.byUidMap.delete(uid);
    if (emit) this.emit('expired', e.info);
  }

  private trackPid(pid: number, mntns: number, generation: number, host: boolean): void {
    this.pids.set(pid, { mntns, generation, host });
    let ns = this.namespaces.get(mntns);
    const fresh = !ns;
    if (!ns) {
      ns = { refs: 0 };
      this.namespaces.set(mntns, ns);
    }
    ns.refs++;
    if (host) {
      // An inode once used by a now-gone container is reused by a host namespace.
      const stale = this.mntnsMap.get(mntns);
      if (stale && stale.info.state !== 'running') this.unmapNs(mntns);
    }
    if (fresh) this.emit('mntns-added', mntns);
  }

  private untrackPid(pid: number): void {
    const rec = this.pids.get(pid);
    if (!rec) return;
    this.pids.delete(pid);
    const ns = this.namespaces.get(rec.mntns);
    if (!ns) return;
    ns.refs--;
    if (ns.refs <= 0) {
      this.namespaces.delete(rec.mntns);
      // Keep the mapping of a container's own namespace for late events (until the inode is
      // reused or the container dropped), but not that of a namespace created inside it.
      const owner = this.mntnsMap.get(rec.mntns);
      if (owner && owner.info.mntnsId !== rec.mntns) this.unmapNs(rec.mntns);
      this.emit('mntns-removed', rec.mntns);
    }
  }
}
