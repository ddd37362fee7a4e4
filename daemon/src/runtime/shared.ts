// Daemon-wide state shared by every run: the container registry and the container tracker
// (bpf/container_tracker.bpf.c), whose maps every gadget object reuses by fd.

import { bpfObjectPath } from '../../../gadgets/framework/paths.js';
import * as bpf from '../bpf/index.js';
import {
  ContainerRegistry,
  diskSources,
  type ContainerRegistryOptions,
} from '../containers/registry.js';
import { startRuntimeEventSources, type RuntimeEventSources } from '../containers/events/index.js';
import { RuntimeExecSource, runtimeExecWarning } from '../containers/runtime-exec.js';
import type { MetadataSource } from '../containers/sources.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import { RunError } from '../../../gadgets/framework/errors.js';
import { decodeMntnsRecord, type MntnsRecord } from '../containers/kernel-record.js';

const SHARED_MAPS = ['gadget_mntns_known', 'gadget_mntns_alias', 'gadget_mntns_container'];

/**
 * The tracker's syscall tracepoints. Attached only while something consumes the kernel's
 * namespace bookkeeping (a run, a traceloop recording): any attached syscall tracepoint puts
 * every task's syscalls on the kernel's traced entry path, 3-5% of a tight syscall loop here
 * (docs/benchmarks.md (f)), which an idle daemon must not cost the node.
 */
const NAMESPACE_HOOKS = ['tracker_unshare_enter', 'tracker_unshare_exit'];

/**
 * A load that bpf() refused for lack of privilege (EPERM/EACCES: no CAP_BPF/CAP_PERFMON/
 * CAP_SYS_ADMIN, seccomp, lockdown) as an error the user can act on; undefined for others.
 */
export function bpfDenied(e: unknown): RunError | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== 'EPERM' && code !== 'EACCES') return undefined;
  return new RunError(
    'PERMISSION_DENIED',
    `bpf() denied (${(e as Error).message}): run as root with CAP_BPF and CAP_PERFMON ` +
      '(or CAP_SYS_ADMIN), outside a seccomp or LSM policy that blocks bpf()',
  );
}

/** The kernel's limit of BPF programs attached to one perf-event tracepoint (BPF_TRACE_MAX_PROGS). */
export const MAX_PROGS_PER_TRACEPOINT = 64;

/**
 * An attach the kernel refused with E2BIG (the tracepoint already runs its 64 BPF programs) as
 * an error the user can act on; undefined for others.
 */
export function tracepointFull(e: unknown, coll: bpf.Collection): RunError | undefined {
  if (!bpf.isBpfError(e) || e.code !== 'E2BIG') return undefined;
  const prog = e.program ?? 'a program';
  const section = coll.closed ? undefined : coll.programs().find((p) => p.name === prog)?.section;
  const where = section ? ` to ${section.replace(/^(tracepoint|tp)\//, 'tracepoint ')}` : '';
  return new RunError(
    'FAILED_PRECONDITION',
    `cannot attach ${prog}${where}: the kernel allows at most ${MAX_PROGS_PER_TRACEPOINT} BPF programs per tracepoint, and other runs or eBPF tools on this node use them all`,
    'end other kubectl-gadget runs or eBPF tools on this node (bpftool perf list shows them), then retry',
  );
}

export interface SharedStateOptions {
  /**
   * An existing gadget_mntns_alias for the tracker to fill instead of a new one: the map of
   * traceloop programs left attached by an earlier daemon (see pinnedAliasMap in
   * traceloop/recorder.ts). Used only when its definition matches; the caller closes it.
   */
  aliasMap?: bpf.BpfMap;
  warn?: (message: string) => void;
  /**
   * Watch the OCI runtime binaries' execs (fanotify, needs CAP_SYS_ADMIN) so containers are
   * named before they run (default true; KGADGET_EXEC_WATCH=off turns it off). Without the
   * privilege, one warning and the on-disk sources alone.
   */
  runtimeExec?: boolean;
  /** the host's root as this process sees it (default HOST_ROOT, else '/') */
  hostRoot?: string;
}

/**
 * The registry's metadata sources with the exec watch first: what it read at the runtime's exec
 * names a container whose files are gone (and completes what the files tell while they exist).
 */
function metadataSources(opts: ContainerRegistryOptions, exec: RuntimeExecSource | undefined) {
  const disk = opts.sources ?? diskSources(opts);
  exec?.setDiskSources(disk);
  return exec ? [exec, ...disk] : disk;
}

export class SharedState {
  readonly bpf = bpf;
  readonly registry: ContainerRegistry;
  /**
   * The registry's metadata sources, in its order (exec watch, on disk, event streams): the
   * traceloop recorder names recordings from them too, so a container gone at once is named
   * by what the exec watch read.
   */
  readonly metadataSources: MetadataSource[];
  /** containerd's and podman's event streams (names of gone containers); see containers/events */
  readonly runtimeEvents: RuntimeEventSources | undefined;
  private tracker: bpf.Collection;
  /** holders of the namespace hooks (retainNamespaceHooks) */
  private hookHolders = 0;
  /** whether the hooks' links exist (or are wanted and being made) */
  private hooksAttached = false;
  /** the last holder's release, destroying the links on a worker thread */
  private hooksDetaching: Promise<void> | undefined;
  private readonly warn: (message: string) => void;
  /** the namespace checkFresh is telling the registry about (its alias is the kernel's) */
  private creating: number | undefined;
  /** Updates refused because the map was full (E2BIG), per map name. */
  readonly mapFull: Record<string, number> = {};
  private fresh!: bpf.BpfMap;
  private freshTimer: NodeJS.Timeout | undefined;
  private started: Promise<void>;
  /** the exec watch on the runtime binaries; undefined when off or not permitted */
  readonly runtimeExec: RuntimeExecSource | undefined;

  constructor(opts: ContainerRegistryOptions, shared: SharedStateOptions = {}) {
    this.warn = shared.warn ?? (() => {});
    const spec = bpf.ObjectSpec.open(bpfObjectPath('container_tracker'));
    try {
      const a = shared.aliasMap;
      const def = spec.maps().find((m) => m.name === 'gadget_mntns_alias');
      if (a && def) {
        if (
          a.type === def.type &&
          a.keySize === def.keySize &&
          a.valueSize === def.valueSize &&
          a.maxEntries === def.maxEntries
        ) {
          spec.reuseMap('gadget_mntns_alias', a);
        } else {
          shared.warn?.(
            `the alias map of the traceloop programs still attached (map ${a.id}) has another definition: not shared`,
          );
        }
      }
      this.tracker = spec.load();
      try {
        for (const p of this.tracker.programs())
          if (!NAMESPACE_HOOKS.includes(p.name)) this.tracker.attachProgram(p.name);
      } catch (e) {
        const full = tracepointFull(e, this.tracker);
        this.tracker.close();
        throw full ?? e;
      }
    } catch (e) {
      spec.close();
      throw bpfDenied(e) ?? e;
    }
    const known = this.tracker.map('gadget_mntns_known');
    const alias = this.tracker.map('gadget_mntns_alias');
    const containers = this.tracker.map('gadget_mntns_container');
    const key = (n: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(n));
      return b;
    };
    const one = Buffer.from([1]);
    let exec: RuntimeExecSource | undefined;
    const execOn = shared.runtimeExec ?? process.env.KGADGET_EXEC_WATCH !== 'off';
    if (execOn) {
      exec = new RuntimeExecSource({
        hostRoot: shared.hostRoot ?? (process.env.HOST_ROOT || '/'),
        retentionMs: opts.exitedRetentionMs,
      });
      const r = exec.start();
      const w = runtimeExecWarning(r);
      if (w) shared.warn?.(w);
      if (!r.ok) exec = undefined;
    }
    this.runtimeExec = exec;
    // the runtimes' event streams, after the on-disk sources; not when the caller chose the
    // sources (tests), nor with KGADGET_RUNTIME_EVENTS=off
    this.runtimeEvents =
      opts.sources || process.env.KGADGET_RUNTIME_EVENTS === 'off'
        ? undefined
        : startRuntimeEventSources({
            hostRoot: shared.hostRoot ?? process.env.HOST_ROOT,
            containerdStateDirs: opts.containerdStateDirs,
            dockerRoot: opts.dockerRoot,
            retentionMs: opts.exitedRetentionMs,
            warn: shared.warn,
          });
    // the kernel record (mount namespace unique id -> cgroup names), and the unique id of a
    // /proc-scanned pid to join it with (none before Linux 6.8: ENOTTY, not asked per pid)
    const records = this.tracker.map('gadget_mntns_cgroup');
    const procRoot = opts.procRoot ?? '/proc';
    const uidWorks = bpf.mntnsUid(process.pid) !== null;
    this.metadataSources = [...metadataSources(opts, exec), ...(this.runtimeEvents?.sources ?? [])];
    this.registry = new ContainerRegistry({
      mntnsUid: (pid) => (uidWorks ? bpf.mntnsUid(pid, procRoot) : null),
      kernelRecord: (uid): MntnsRecord | null => {
        if (this.tracker.closed) return null;
        const v = records.lookup(key(uid));
        return v ? decodeMntnsRecord(v) : null;
      },
      ...opts,
      sources: this.metadataSources,
    });
    // A full map (E2BIG) must not end runs: the registry keeps the namespace in user space, and
    // the loss is counted and said once per map (kernel-side filtering misses that namespace)
    const put = (m: bpf.BpfMap, n: number): void => {
      try {
        m.update(key(n), one);
      } catch (e) {
        if (!bpf.isBpfError(e) || e.code !== 'E2BIG') throw e;
        const c = (this.mapFull[m.name] ?? 0) + 1;
        this.mapFull[m.name] = c;
        if (c === 1) {
          shared.warn?.(
            `map ${m.name} is full (${m.maxEntries} mount namespaces): namespace ${n} and later ones are not in it, so kernel filters by container miss their events until entries free up`,
          );
        }
      }
    };
    // not a namespace with an alias (unshared inside a container): the kernel filter drops a
    // known namespace before it looks at aliases, which would drop the rest of its events
    this.registry.on('mntns-added', (n: number) => {
      if (!alias.lookup(key(n))) put(known, n);
    });
    this.registry.on('mntns-removed', (n: number) => {
      known.delete(key(n));
      // the inode may be reused by an unrelated namespace; but one just created (a fresh note)
      // already has the alias the kernel set or cleared for it: deleting that would drop the
      // rest of an unshared shell's events (its exec after the note)
      if (n !== this.creating) alias.delete(key(n));
    });
    this.registry.on('added', (c: ContainerInfo) => put(containers, c.mntnsId));
    this.registry.on('removed', (c: ContainerInfo) => containers.delete(key(c.mntnsId)));
    this.fresh = this.tracker.map('gadget_mntns_fresh');
    this.started = this.registry.start();
    // runs check before each batch; this covers the time without runs
    this.freshTimer = setInterval(() => this.checkFresh(), 1000);
    this.freshTimer.unref();
  }

  /**
   * Namespaces the kernel created since the last look: stale mappings of their inodes go. Runs
   * call this before deciding on a batch (the note precedes any event of the new namespace).
   */
  checkFresh(): void {
    if (this.tracker.closed) return;
    const keys = this.fresh.keys();
    if (!keys.length) return;
    // the note's creation time (boot clock) as Unix ms: a mapping the registry made later is the
    // new namespace's (a namespace unshared inside a container, seen by a poll first)
    const offset = bpf.clockOffsetNs();
    for (const k of keys) {
      const v = this.fresh.lookup(k);
      this.fresh.delete(k);
      const at = v ? Number((v.readBigUInt64LE(0) + offset) / 1_000_000n) : undefined;
      this.creating = Number(k.readBigUInt64LE(0));
      try {
        this.registry.namespaceCreated(this.creating, at);
      } finally {
        this.creating = undefined;
      }
    }
  }

  ready(): Promise<void> {
    return this.started;
  }

  /**
   * Attaches the tracker's unshare hooks for as long as the caller holds them (ref-counted):
   * runs and traceloop recordings, whose kernel filters use the namespaces they note. Returns
   * the release (idempotent). While nobody holds them, a namespace unshared meanwhile is still
   * named by the exec hook's record and the registry's poll.
   */
  retainNamespaceHooks(): () => void {
    if (this.hookHolders === 0 && !this.hooksDetaching) this.attachHooks();
    this.hookHolders++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.hookHolders === 0) this.detachHooks();
    };
  }

  /** Attaches both hooks (all or none); a full tracepoint is the caller's error. */
  private attachHooks(): void {
    if (this.hooksAttached || this.tracker.closed) return;
    try {
      for (const p of NAMESPACE_HOOKS) this.tracker.attachProgram(p);
    } catch (e) {
      for (const p of NAMESPACE_HOOKS) this.tracker.detachProgram(p);
      throw tracepointFull(e, this.tracker) ?? e;
    }
    this.hooksAttached = true;
  }

  /**
   * Detaches off the event loop: a perf-event tracepoint's detach waits for RCU grace periods
   * (~50 ms here). The kernel refuses a program attached twice to one tracepoint (EEXIST), so a
   * holder that comes meanwhile gets the hooks once the old links are gone; until then a
   * namespace unshared is named by the exec hook's record and the registry's poll, as when
   * nobody holds them.
   */
  private detachHooks(): void {
    if (!this.hooksAttached || this.tracker.closed) return;
    this.hooksAttached = false;
    this.hooksDetaching = Promise.all(
      NAMESPACE_HOOKS.map((p) => this.tracker.detachProgramAsync(p).catch(() => false)),
    ).then(() => {
      this.hooksDetaching = undefined;
      if (this.hookHolders === 0) return;
      try {
        this.attachHooks();
      } catch (e) {
        this.warn(`namespace hooks: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /** Point a gadget's daemon-wide maps at the tracker's, before the gadget is loaded. */
  shareMaps(spec: bpf.ObjectSpec): void {
    for (const name of SHARED_MAPS) {
      if (spec.hasMap(name)) spec.reuseMap(name, this.tracker.map(name).fd);
    }
  }

  close(): void {
    clearInterval(this.freshTimer);
    this.runtimeExec?.close();
    this.runtimeEvents?.close();
    this.registry.close();
    this.tracker.close();
  }
}
