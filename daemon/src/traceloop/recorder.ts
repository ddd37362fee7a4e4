// The traceloop recorder: owns the long-lived traceloop collection of a node (one session at a
// time), its bpffs pins, and the user-space side of the recordings.
//
// Kernel side: gadgets/traceloop/program.bpf.c (read its header first). User space never touches
// a record while recording. What it does:
//   - start: load the program with sized maps, pin them under pinDir, mark host (and filtered-out)
//     mount namespaces "ignore", attach, and pin the links next to the maps (tl_link_<program>),
//     with the container tracker's alias map the programs use (tl_alias); the link and program
//     ids go into tl_session. The pinned links keep the programs attached and recording into the
//     pinned maps while no daemon runs (daemon shutdown, crash, upgrade): that is deliberate, and
//     only stop, delete and undeploy end it.
//   - a sync every second (and when the registry finds a container): names each recording the
//     kernel claimed (registry, runtime metadata, else the cgroup and UTS names the kernel
//     captured) and stores that in tl_info, so it survives the daemon; releases recordings of
//     host namespaces and of containers the session's filter excludes; notes evictions.
//   - list/show/delete read and write the pinned maps through this process's own fds.
//   - stop: unpin the links (the programs detach at once), unpin the maps; the maps stay readable
//     here until delete. delete (and undeploy, through it) also drops them: nothing is left.
//   - close (daemon shutdown): close this process's fds only; the pins keep everything running.
//   - a daemon that starts while pins exist resumes the session (resume()). When the pinned links
//     are the ones tl_session names (link and program ids: what the session attached, so they
//     record into its maps; checked without CAP_SYS_ADMIN, which the gadget pod lacks) for
//     exactly this object's programs, it adopts them: no second copy is loaded (it would record
//     every syscall twice), the programs' per-CPU cache and in-flight table (tl_cpus, tl_pend:
//     not pinned, they live with the programs) stay as they are, and tl_epoch (pinned) still
//     invalidates that cache whenever this daemon changes tl_ns. What the kernel recorded
//     meanwhile is named by the first sync. The container tracker keeps filling the alias map
//     those programs use (pinnedAliasMap()). Without usable links (none: an older version; or
//     not matching), it loads the program again with the pinned maps, removes the stale links
//     before attaching (never two copies at once), and pins the new links.
// Memory: buffers = floor(maxMemory / per-container bytes), all allocated at start (kernel
// memory, charged to the daemon's memory cgroup); see docs/traceloop.md.
// Here: the session's lifecycle and its recordings (sync, naming, release, eviction). The maps,
// program, links and their pins, and adoption: pins.ts. Picking and reading a recording for
// show: show.ts. Value layouts: maps.ts.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ObjectSpec } from '../bpf/index.js';
import * as bpf from '../bpf/index.js';
import { matchCgroupPath } from '../containers/cgroup.js';
import { listPids, readNsInode } from '../containers/proc.js';
import { matchesFilter } from '../../../gadgets/framework/filter.js';
import type { ContainerRegistry } from '../containers/registry.js';
import {
  ContainerdSource,
  ContainersStorageSource,
  type MetadataSource,
} from '../containers/sources.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import { clip, RunError } from '../../../gadgets/framework/errors.js';
import type { ContainerFilter, RunMessage } from '../../../gadgets/framework/runtime.js';
import { gadgetLayoutPath } from '../../../gadgets/framework/paths.js';
import type { RecordLayout } from '../../../gadgets/framework/types.js';
import { parseSyscallFilter, SyscallFilterError } from '../../../gadgets/traceloop/table.js';
import {
  NS_IGNORE,
  NS_NOSPACE,
  NS_RECORD,
  SLOT_BYTES,
  STATE_EXITED,
  STATE_FREE,
  STATE_RUNNING,
  encodeInfo,
  encodeNs,
  metaWithState,
  parseCfg,
  parseIdent,
  parseInfo,
  parseMeta,
  parseNs,
  u32Key,
  u64Key,
  type Counters,
  type Meta,
} from './maps.js';
import { TraceloopPins, traceloopPinDir, type SessionConfig } from './pins.js';
import { matchesSpec, noRecordingError, pick, pickOne, readSlots, type Tombstone } from './show.js';
import type { TraceloopApi } from '../../../gadgets/framework/runtime.js';
import type {
  TraceloopEntry,
  TraceloopSession,
  TraceloopShowRequest,
  TraceloopStartOptions,
  TraceloopStatus,
} from '../../../gadgets/framework/traceloop.js';

// what importers of the recorder use, wherever it lives now
export { DEFAULT_PIN_DIR, LINK_PREFIX, pinnedAliasMap, traceloopPinDir } from './pins.js';
export { SLOT_BYTES, SLOT_DATA_BYTES, SLOT_HEADER_BYTES } from './maps.js';

/** per-buffer bookkeeping besides the slots: meta 80 + ident 352 + info 1024 */
export const SET_OVERHEAD_BYTES = 80 + 352 + 1024;
export const DEFAULT_SYSCALLS = 2048;
export const MAX_SYSCALLS = 65536;
export const MIN_SYSCALLS = 64;
export const DEFAULT_MAX_MEMORY_MIB = 64;
const MAX_SETS = 4096;
/** how often the kernel's claim counter is read (a claim: a recording to name, see watch()) */
const CLAIM_CHECK_MS = 100;

/** Bytes of one container's recording for a number of syscalls (rounded up to a power of two). */
export function bytesPerContainer(syscalls: number): number {
  return roundPow2(syscalls) * SLOT_BYTES + SET_OVERHEAD_BYTES;
}

function roundPow2(n: number): number {
  let p = MIN_SYSCALLS;
  while (p < n) p *= 2;
  return p;
}

interface Recording {
  set: number;
  gen: number;
  container?: ContainerInfo;
  /** the namespace turned out to be a host one or filtered out: being released */
  releasing?: boolean;
  firstSeen: number;
}

export interface RecorderOptions {
  registry: ContainerRegistry;
  node: string;
  /** points the program's daemon-wide maps (gadget_mntns_alias) at the container tracker's */
  shareMaps?: (spec: ObjectSpec) => void;
  /** holds the container tracker's namespace hooks while recording; returns the release */
  retainNamespaceHooks?: () => () => void;
  /** bpffs directory of the pins (default $KGADGET_TRACELOOP_PIN_DIR, else DEFAULT_PIN_DIR) */
  pinDir?: string;
  objectPath?: string;
  layoutPath?: string;
  /** sync period in ms (default 1000; 0: no timer, tests call sync()) */
  syncMs?: number;
  sources?: MetadataSource[];
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class TraceloopRecorder implements TraceloopApi {
  private readonly log: NonNullable<RecorderOptions['log']>;
  private readonly sources: MetadataSource[];
  private config: SessionConfig | undefined;
  private readonly pins: TraceloopPins;
  private recording = false;
  private readonly recs = new Map<number, Recording>();
  private readonly tombstones: Tombstone[] = [];
  private timer: NodeJS.Timeout | undefined;
  private claimTimer: NodeJS.Timeout | undefined;
  /** tl_cfg.claims at the last look (claimTimer) */
  private claimsSeen = 0;
  private syncQueued = false;
  private readonly listeners: Array<() => void> = [];
  /** namespaces the registry reported gone, checked together (forgetNamespaces) */
  private readonly forgets = new Set<number>();
  private bootToWall: bigint | undefined;
  /** tl_cfg.nospace when NOSPACE entries were last retried */
  private nospaceSeen = 0;
  private readonly selfMntns = readNsInode('/proc', process.pid) ?? 0;
  private releaseHooks: (() => void) | undefined;
  /** recordings evicted by the memory cap since this recorder started (metrics) */
  private evictions = 0;

  constructor(private readonly opts: RecorderOptions) {
    this.log = opts.log ?? (() => {});
    this.pins = new TraceloopPins(opts.pinDir ?? traceloopPinDir(), {
      objectPath: opts.objectPath,
      shareMaps: opts.shareMaps,
      log: this.log,
    });
    // the registry's own state directories (under HOST_ROOT in a pod)
    const o = opts.registry.options;
    this.sources = opts.sources ?? [
      new ContainerdSource(o.containerdStateDirs, o.dockerRoot),
      new ContainersStorageSource(o.containersStorageRoots, o.runcRoots, o.procRoot),
    ];
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** True when pins of a session exist (a daemon before this one was recording). */
  hasPins(): boolean {
    return this.pins.exists();
  }

  /** Resumes a pinned session (daemon restart). No-op without pins. */
  resume(): boolean {
    if (this.config || !this.hasPins()) return false;
    let cfg: SessionConfig;
    try {
      this.pins.open();
      cfg = this.pins.readSession();
    } catch (e) {
      this.pins.closeMaps();
      throw new Error(
        `${(e as Error).message} (pins in ${this.pins.dir}: \`traceloop delete\` removes them)`,
      );
    }
    this.config = cfg;
    try {
      if (this.pins.adopt(cfg)) {
        this.log(
          'info',
          `traceloop: resumed session ${cfg.sessionId} from ${this.pins.dir}: adopted the ${this.pins.links.length} programs still attached`,
        );
      } else {
        this.pins.load(cfg, true);
        // links of an earlier program that were not adopted: gone before the new copy attaches
        this.pins.unpinLinks();
        this.pins.coll!.attach();
        this.config = this.pins.pinLinks(cfg);
        this.log('info', `traceloop: resumed session ${cfg.sessionId} from ${this.pins.dir}`);
      }
      this.setRecording(true);
      this.ignoreSelf();
    } catch (e) {
      // keep the recordings readable; `traceloop delete` removes them
      this.log(
        'error',
        `traceloop: cannot resume recording (${(e as Error).message}); recordings stay readable`,
      );
    }
    this.watch();
    this.sync();
    return true;
  }

  async start(o: TraceloopStartOptions): Promise<TraceloopSession> {
    if (this.config && !this.recording) {
      throw new RunError(
        'FAILED_PRECONDITION',
        `traceloop is holding stopped recordings on node ${this.opts.node} (session ${this.config.sessionId})`,
        'use `traceloop delete` to drop the stopped recordings first',
      );
    }
    // one session per node: the one recording goes on with its settings (the caller says so)
    if (this.config) return { ...this.session(), resumed: true };
    if (this.hasPins() && this.resume()) return { ...this.session(), resumed: true };
    let keep: Set<number> | undefined;
    try {
      keep = o.syscalls.length ? parseSyscallFilter(o.syscalls) : undefined;
    } catch (e) {
      if (e instanceof SyscallFilterError) throw new RunError('INVALID_ARGUMENT', e.message);
      throw e;
    }
    if (o.filter.host) {
      throw new RunError(
        'INVALID_ARGUMENT',
        'traceloop records containers only: --host is not supported',
      );
    }
    const want = o.syscallsPerContainer || DEFAULT_SYSCALLS;
    if (!Number.isInteger(want) || want < 1 || want > MAX_SYSCALLS) {
      throw new RunError(
        'INVALID_ARGUMENT',
        `syscalls per container must be between 1 and ${MAX_SYSCALLS}, not ${want}`,
      );
    }
    const nslots = roundPow2(want);
    const maxMemoryMib = o.maxMemoryMib || DEFAULT_MAX_MEMORY_MIB;
    const nsets = Math.min(
      MAX_SETS,
      Math.floor((maxMemoryMib * 1024 * 1024) / bytesPerContainer(nslots)),
    );
    if (nsets < 1) {
      throw new RunError(
        'INVALID_ARGUMENT',
        `a memory cap of ${maxMemoryMib} MiB cannot hold one recording of ${nslots} syscalls (${Math.ceil(bytesPerContainer(nslots) / 1048576)} MiB)`,
      );
    }
    const cfg: SessionConfig = {
      v: 1,
      sessionId: randomBytes(6).toString('hex'),
      nslots,
      nsets,
      filter: o.filter,
      syscalls: keep ? o.syscalls.flatMap((s) => s.split(',')).map((s) => s.trim()) : [],
      maxMemoryMib,
      startedAt: Date.now(),
      ...(o.durations ? { durations: true } : {}),
    };
    try {
      this.pins.load(cfg, false);
      this.config = cfg;
      this.pins.writeSession(cfg);
      this.ignoreKnownNamespaces(cfg);
      this.pins.coll!.attach();
      this.config = this.pins.pinLinks(cfg);
      this.setRecording(true);
    } catch (e) {
      this.teardown();
      throw e;
    }
    this.watch();
    this.log('info', `traceloop: session ${cfg.sessionId}: ${nsets} buffers of ${nslots} syscalls`);
    return this.session();
  }

  async stop(sessionId: string): Promise<void> {
    this.checkSession(sessionId);
    this.pins.detach();
    this.pins.unpin();
    this.setRecording(false);
  }

  private setRecording(on: boolean): void {
    this.recording = on;
    if (on) this.releaseHooks ??= this.opts.retainNamespaceHooks?.();
    else {
      this.releaseHooks?.();
      this.releaseHooks = undefined;
    }
  }

  async delete(sessionId: string, container: string): Promise<number> {
    if (!this.config && !container && this.hasPins()) {
      // pins this daemon could not resume (another version): still ours to remove
      this.teardown();
      return 0;
    }
    this.checkSession(sessionId);
    this.sync();
    if (!container) {
      const n = [...this.recs.values()].filter((r) => r.container).length;
      this.teardown();
      return n;
    }
    const targets = pick(this.named(), this.tombstones, container, 0, true);
    for (const r of targets) await this.free(r, 'deleted');
    return targets.length;
  }

  /**
   * Daemon shutdown: keeps the pins, so the programs stay attached through their pinned links and
   * go on recording until the next daemon adopts them. Only this process's fds are closed.
   */
  close(): void {
    this.releaseHooks?.();
    this.releaseHooks = undefined;
    this.unwatch();
    this.pins.closeFds();
    this.pins.closeMaps();
    this.config = undefined;
  }

  // ---- queries --------------------------------------------------------------------------------

  session(): TraceloopSession {
    const c = this.mustConfig('');
    return {
      sessionId: c.sessionId,
      node: this.opts.node,
      state: this.recording ? 'recording' : 'stopped',
      syscallsPerContainer: c.nslots,
      buffers: c.nsets,
      memoryBytes: c.nsets * bytesPerContainer(c.nslots),
      startedAt: c.startedAt,
      filter: c.filter,
      syscalls: c.syscalls,
      maxMemoryMib: c.maxMemoryMib,
      ...(c.durations ? { durations: true } : {}),
    };
  }

  /** Recordings held now and evictions so far (metrics: counts only, no sync). */
  metrics(): { recordings: number; evictions: number } {
    return { recordings: this.config ? this.recs.size : 0, evictions: this.evictions };
  }

  counters(): Counters {
    return parseCfg(this.pins.maps.tl_cfg!.lookup(u32Key(0))!);
  }

  async list(sessionId: string): Promise<TraceloopEntry[]> {
    if (!this.config && !sessionId) return [];
    const cfg = this.checkSession(sessionId);
    this.sync();
    const out: TraceloopEntry[] = [];
    for (const r of this.recs.values()) {
      if (!r.container || r.releasing) continue;
      const m = this.meta(r.set);
      if (m.gen !== r.gen) continue;
      out.push(this.entry(cfg, r, m));
    }
    for (const t of this.tombstones) {
      out.push({
        sessionId: cfg.sessionId,
        container: { ...t.container, generation: t.gen },
        status: 'evicted',
        records: 0,
        lost: 0,
        instance: t.gen,
      });
    }
    return out;
  }

  async *show(req: TraceloopShowRequest, signal: AbortSignal): AsyncGenerator<RunMessage> {
    const cfg = this.checkSession(req.sessionId);
    this.sync();
    const [r, others] = pickOne(this.named(), this.tombstones, req.container, req.instance);
    const m = this.meta(r.set);
    const layout = JSON.parse(
      readFileSync(this.opts.layoutPath ?? gadgetLayoutPath('traceloop'), 'utf8'),
    ) as RecordLayout;
    yield {
      kind: 'header',
      header: { gadget: 'traceloop', node: this.opts.node, layout, bootToWallNs: this.offset() },
    };
    const entry = this.entry(cfg, r, m);
    yield { kind: 'containers', containers: [entry.container] };
    if (others.length) {
      const list = others
        .map((o) => {
          const om = this.meta(o.set);
          const e = this.entry(cfg, o, om);
          const when = e.container.exitedAt
            ? `exited ${new Date(e.container.exitedAt).toISOString()}`
            : 'running';
          return `${o.gen} (${e.container.id.slice(0, 12) || e.container.name}, ${when})`;
        })
        .join(', ');
      yield {
        kind: 'log',
        level: 'info',
        message: `showing instance ${r.gen}; other instances: ${list} (pick one with --instance)`,
      };
    }
    let held = 0;
    for (const batch of readSlots(this.pins.maps, cfg.nslots, r, m)) {
      if (signal.aborted) return;
      held += batch.count;
      yield { kind: 'batch', records: batch.records, count: batch.count };
    }
    yield { kind: 'stats', stats: { events: held, lost: entry.lost } };
    yield { kind: 'done', reason: 'complete' };
  }

  /** Drops everything: programs, pins, maps, in-memory state. */
  private teardown(): void {
    this.unwatch();
    this.pins.detach();
    this.pins.unpin();
    this.pins.closeMaps();
    this.config = undefined;
    this.setRecording(false);
    this.recs.clear();
    this.tombstones.length = 0;
  }

  private watch(): void {
    const syncMs = this.opts.syncMs ?? 1000;
    if (syncMs > 0 && !this.timer) {
      this.timer = setInterval(() => this.safeSync(), syncMs);
      this.timer.unref();
      // a new recording is named while its container exists: a `podman run --rm` may be gone,
      // with its runtime state, a fraction of a second after it started
      this.claimTimer = setInterval(() => {
        if (!this.pins.maps.tl_cfg) return;
        const claims = this.counters().claims;
        if (claims === this.claimsSeen) return;
        this.claimsSeen = claims;
        this.safeSync();
      }, CLAIM_CHECK_MS);
      this.claimTimer.unref();
    }
    const reg = this.opts.registry;
    const soon = (): void => {
      if (this.syncQueued) return;
      this.syncQueued = true;
      setImmediate(() => {
        this.syncQueued = false;
        this.safeSync();
      });
    };
    const onMntnsRemoved = (n: number): void => {
      this.forgets.add(n);
      if (this.forgets.size > 1) return;
      setImmediate(() => {
        try {
          this.forgetNamespaces();
        } catch (e) {
          this.log('warn', `traceloop: forgetting namespaces: ${(e as Error).message}`);
        }
      });
    };
    reg.on('added', soon);
    reg.on('updated', soon);
    reg.on('removed', soon);
    reg.on('mntns-removed', onMntnsRemoved);
    this.listeners.push(() => {
      reg.off('added', soon);
      reg.off('updated', soon);
      reg.off('removed', soon);
      reg.off('mntns-removed', onMntnsRemoved);
    });
  }

  private unwatch(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.claimTimer) clearInterval(this.claimTimer);
    this.timer = undefined;
    this.claimTimer = undefined;
    for (const off of this.listeners.splice(0)) off();
  }

  // ---- kernel-state helpers -------------------------------------------------------------------

  private mustConfig(sessionId: string): SessionConfig {
    if (!this.config) {
      throw new RunError(
        'FAILED_PRECONDITION',
        `traceloop is not running on node ${this.opts.node}`,
        'start it with `kubectl gadget traceloop start`',
      );
    }
    if (sessionId && sessionId !== this.config.sessionId) {
      throw new RunError(
        'NOT_FOUND',
        `no traceloop session ${clip(sessionId)} on node ${this.opts.node} (the current one is ${this.config.sessionId})`,
      );
    }
    return this.config;
  }

  private checkSession(sessionId: string): SessionConfig {
    return this.mustConfig(sessionId);
  }

  private meta(set: number): Meta {
    return parseMeta(this.pins.maps.tl_meta!.lookup(u32Key(set))!);
  }

  private offset(): bigint {
    this.bootToWall ??= bpf.clockOffsetNs();
    return this.bootToWall;
  }

  private bootToMs(ns: bigint): number {
    return Number((ns + this.offset()) / 1_000_000n);
  }

  private bumpEpoch(): void {
    const b = Buffer.alloc(8);
    const cur = this.pins.maps.tl_epoch!.lookup(u32Key(0));
    const next = (cur ? cur.readBigUInt64LE(0) : 0n) + 1n;
    b.writeBigUInt64LE(next);
    this.pins.maps.tl_epoch!.update(u32Key(0), b);
  }

  /** Host namespaces (and containers the filter excludes) are never recorded. */
  private ignoreKnownNamespaces(cfg: SessionConfig): void {
    const reg = this.opts.registry;
    const ns = this.pins.maps.tl_ns!;
    // the daemon's own container (the gadget pod) would only record this recorder reading
    const self = this.selfMntns;
    for (const n of reg.knownMntns()) {
      const c = reg.byMntns(n);
      if (n !== self && c && c.mntnsId === n && matchesFilter(this.recordFilter(cfg), c)) continue;
      ns.update(u64Key(n), encodeNs({ nsId: 0n, gen: 0, set: 0, kind: NS_IGNORE }));
    }
    if (self) ns.update(u64Key(self), encodeNs({ nsId: 0n, gen: 0, set: 0, kind: NS_IGNORE }));
  }

  /**
   * The recorder's own mount namespace is never recorded. After a restart in a new one (a new
   * gadget pod) the programs may already have claimed a recording for it: sync() releases that.
   */
  private ignoreSelf(): void {
    const self = this.selfMntns;
    if (!self) return;
    try {
      this.pins.maps.tl_ns!.update(
        u64Key(self),
        encodeNs({ nsId: 0n, gen: 0, set: 0, kind: NS_IGNORE }),
        bpf.BPF_NOEXIST,
      );
    } catch {
      /* an entry exists already (ignore, or a recording that sync() releases) */
    }
  }

  /** The session filter as a container predicate: containers only, never host processes. */
  private recordFilter(cfg: SessionConfig): ContainerFilter {
    return { ...cfg.filter, host: false };
  }

  /**
   * Namespaces the registry reports gone: their entries go (an ignore entry, or a recording's,
   * whose exit is noted for eviction). tl_ns is keyed by inode, and the report is late (its /proc
   * poll) or about an inode a new namespace was just given (namespaceCreated): by then the kernel
   * may be recording the new namespace under that inode, and deleting its entry would split that
   * recording in two (its next syscall claims another). So an entry goes only when no process is
   * in that inode now, and only if it did not change since it was read.
   */
  private forgetNamespaces(): void {
    const ns = this.pins.maps.tl_ns;
    const gone = [...this.forgets];
    this.forgets.clear();
    if (!ns) return;
    const seen = gone
      .map((n) => ({ n, raw: ns.lookup(u64Key(n)) }))
      .filter((x): x is { n: number; raw: Buffer } => x.raw !== null);
    if (!seen.length) return;
    const proc = this.opts.registry.options.procRoot;
    const inUse = new Set<number>();
    for (const pid of listPids(proc)) {
      const n = readNsInode(proc, pid);
      if (n !== null) inUse.add(n);
    }
    for (const { n, raw } of seen) {
      if (inUse.has(n)) continue; // a new namespace has the inode: the kernel tells them apart
      const e = parseNs(raw);
      if (e.kind === NS_RECORD) {
        const m = this.meta(e.set);
        if (m.gen === e.gen && m.state === STATE_RUNNING) this.noteExit(e.set, e.gen);
      }
      // a namespace created since the scan may have claimed the inode's entry meanwhile
      if (ns.lookup(u64Key(n))?.equals(raw)) ns.delete(u64Key(n));
    }
  }

  private noteExit(set: number, gen: number): void {
    const info = this.pins.maps.tl_info!;
    const cur = parseInfo(info.lookup(u32Key(set))!);
    if (cur.gen === gen && cur.exitedTs) return;
    const now = BigInt(Date.now()) * 1_000_000n - this.offset();
    info.update(
      u32Key(set),
      encodeInfo({
        gen,
        exitedTs: now,
        base: cur.gen === gen ? cur.base : 0n,
        json: cur.gen === gen ? cur.json : '',
      }),
    );
  }

  /** Stops recording into a set and returns it to the free pool (records dropped). */
  private async free(r: Recording, why: string): Promise<void> {
    const m = this.meta(r.set);
    const ns = this.pins.maps.tl_ns!;
    const raw = ns.lookup(u64Key(m.mntns));
    if (raw) {
      const e = parseNs(raw);
      if (e.kind === NS_RECORD && e.set === r.set && e.gen === r.gen) {
        ns.update(u64Key(m.mntns), encodeNs({ nsId: e.nsId, gen: 0, set: 0, kind: NS_IGNORE }));
      }
    }
    this.bumpEpoch();
    // programs running on other CPUs finish within microseconds; after this nobody writes the set
    const session = this.config;
    await sleep(20);
    // the session may have been deleted (or replaced) meanwhile
    if (!this.pins.maps.tl_meta || this.config !== session) return;
    const cur = this.pins.maps.tl_meta.lookup(u32Key(r.set))!;
    if (parseMeta(cur).gen === r.gen) {
      this.pins.maps.tl_meta!.update(u32Key(r.set), metaWithState(cur, STATE_FREE));
    }
    this.recs.delete(r.gen);
    this.log('info', `traceloop: recording ${r.gen} (set ${r.set}) freed: ${why}`);
    this.retryNospace(true);
  }

  /**
   * Namespaces the kernel could not record (no free set then) get another chance once a set is
   * free: their entries go, and their threads resolve (claim) again.
   */
  private retryNospace(force: boolean): void {
    const ns = this.pins.maps.tl_ns;
    if (!ns || !this.pins.maps.tl_cfg) return;
    const c = this.counters();
    if (!force && c.nospace === this.nospaceSeen) return;
    const cfg = this.config!;
    let free = 0;
    for (let set = 0; set < cfg.nsets && !free; set++) {
      const st = this.meta(set).state;
      if (st === STATE_FREE || st === STATE_EXITED) free++;
    }
    if (!free) return; // still full: retried when something is freed
    this.nospaceSeen = c.nospace;
    let dropped = 0;
    for (const k of ns.keys()) {
      const v = ns.lookup(k);
      if (v && parseNs(v).kind === NS_NOSPACE) {
        ns.delete(k);
        dropped++;
      }
    }
    if (dropped) this.bumpEpoch();
  }

  // ---- sync: name recordings, release host namespaces, note evictions -------------------------

  private safeSync(): void {
    try {
      this.sync();
    } catch (e) {
      this.log('warn', `traceloop: sync failed: ${(e as Error).message}`);
    }
  }

  sync(): void {
    const cfg = this.config;
    if (!cfg || !this.pins.maps.tl_meta) return;
    const seen = new Set<number>();
    for (let set = 0; set < cfg.nsets; set++) {
      const m = this.meta(set);
      if ((m.state !== STATE_RUNNING && m.state !== STATE_EXITED) || !m.gen) continue;
      seen.add(m.gen);
      let r = this.recs.get(m.gen);
      if (!r) {
        r = { set, gen: m.gen, firstSeen: Date.now() };
        const info = parseInfo(this.pins.maps.tl_info!.lookup(u32Key(set))!);
        if (info.gen === m.gen && info.json) {
          try {
            r.container = JSON.parse(info.json) as ContainerInfo;
          } catch {
            /* rewritten below */
          }
        }
        this.recs.set(m.gen, r);
      }
      if (r.releasing) continue;
      if (!r.container) this.resolve(cfg, r, m);
      else this.refresh(r, m);
    }
    this.retryNospace(false);
    for (const [gen, r] of this.recs) {
      if (seen.has(gen)) continue;
      this.recs.delete(gen);
      if (r.container && !r.releasing) {
        this.tombstones.push({
          gen,
          container: r.container,
          evictedAt: Date.now(),
          why: `the memory cap (${cfg.maxMemoryMib} MiB, ${cfg.nsets} recordings) was reached`,
        });
        this.evictions += 1;
        if (this.tombstones.length > 256) this.tombstones.shift();
      }
    }
  }

  /** Works out which container a recording belongs to; releases it if none that we record. */
  private resolve(cfg: SessionConfig, r: Recording, m: Meta): void {
    const reg = this.opts.registry;
    if (m.mntns === this.selfMntns) {
      void this.release(r, 'the recorder itself');
      return;
    }
    const ident = parseIdent(this.pins.maps.tl_ident!.lookup(u32Key(r.set))!);
    const cg =
      ident.gen === r.gen ? matchCgroupPath(`${ident.cgroupParent}/${ident.cgroup}`) : null;
    let c: ContainerInfo | undefined;
    // the namespace's unique id first (never reused): a container the registry knows by it, or
    // the container tracker's kernel record (its cgroup, read from the v1 hierarchies where the
    // default one is the root, as on hosts that mix v1 and v2), also once the container is gone
    const byUid =
      m.nsId > 0n
        ? reg.resolveUid(Number(m.nsId), m.mntns, m.state === STATE_EXITED ? 0 : m.initTgid)
        : null;
    if (byUid) {
      c = byUid;
    } else if (cg) {
      c = reg.findById(cg.id).sort((a, b) => b.generation - a.generation)[0];
      if (!c) c = this.fromSources(cg.id, cg.runtime, m, ident.nodename, cg.podUid);
      // gone before its runtime state could be read (a crash loop): the pod watch may name it
      if (!c) c = this.fromPodWatch(cg.id, cg.runtime, m);
    } else {
      const byNs = reg.byMntns(m.mntns);
      if (byNs) c = byNs;
      else if (reg.isKnownMntns(m.mntns) || ident.gen === r.gen) {
        // not in a container cgroup, not a container namespace: a host process's namespace
        void this.release(r, 'host mount namespace');
        return;
      }
    }
    if (!c) {
      if (Date.now() - r.firstSeen > 10_000 && m.state === STATE_EXITED) {
        // gone before anything could name it: keep it under what the kernel saw
        // not named by the UTS name the kernel captured: runc's init claims the recording
        // before it sets the container's hostname, so that is the host's name
        c = this.anonymous(cg?.id ?? '', m, '', cg?.runtime);
      } else return;
    }
    if (!matchesFilter(this.recordFilter(cfg), c)) {
      void this.release(r, 'excluded by the session filter');
      return;
    }
    r.container = this.snapshot(c, r, m);
    this.writeInfo(r);
  }

  /** Keeps state and exit time current in the stored copy. */
  private refresh(r: Recording, m: Meta): void {
    const c = r.container!;
    if (c.state === 'running') {
      const reg = this.opts.registry.byId(c.id);
      const exited =
        m.state === STATE_EXITED ||
        (reg !== undefined && reg.state === 'exited' && reg.mntnsId === m.mntns);
      if (exited) {
        if (m.state !== STATE_EXITED) this.noteExit(r.set, r.gen);
        c.state = 'exited';
        c.pid = 0;
        c.exitedAt = m.exitedTs ? this.bootToMs(m.exitedTs) : (reg?.exitedAt ?? Date.now());
        this.writeInfo(r);
      } else if (reg && reg.k8s && JSON.stringify(reg.k8s) !== JSON.stringify(c.k8s)) {
        r.container = this.snapshot(reg, r, m);
        this.writeInfo(r);
      }
    }
  }

  private async release(r: Recording, why: string): Promise<void> {
    r.releasing = true;
    try {
      await this.free(r, why);
    } catch (e) {
      this.log('warn', `traceloop: releasing recording ${r.gen}: ${(e as Error).message}`);
    }
  }

  private fromSources(
    id: string,
    runtime: ContainerInfo['runtime'],
    m: Meta,
    nodename: string,
    podUid: string,
  ): ContainerInfo | undefined {
    for (const s of this.sources) {
      let meta;
      try {
        meta = s.lookup(id, runtime, 0);
      } catch {
        meta = null;
      }
      if (!meta || meta.sandbox) continue;
      const k8s = meta.k8s ? { ...meta.k8s, podUid: meta.k8s.podUid || podUid } : undefined;
      return {
        runtime: meta.runtime,
        id,
        name: meta.name,
        pid: 0,
        mntnsId: m.mntns,
        generation: m.gen,
        state: m.state === STATE_EXITED ? 'exited' : 'running',
        startedAt: this.bootToMs(m.claimedTs),
        image: meta.image,
        annotations: {},
        ...(k8s ? { k8s } : {}),
      };
    }
    return undefined;
  }

  private fromPodWatch(
    id: string,
    runtime: ContainerInfo['runtime'],
    m: Meta,
  ): ContainerInfo | undefined {
    const found = this.opts.registry.k8sIdentityById(id);
    if (!found) return undefined;
    const { runtime: seen, ...k8s } = found;
    const c = this.anonymous(id, m, k8s.container, runtime === 'unknown' ? seen : runtime);
    c.state = m.state === STATE_EXITED ? 'exited' : 'running';
    return { ...c, k8s };
  }

  /** A recording no runtime named: `name` empty unless known (the CLI shows runtime and id). */
  private anonymous(
    id: string,
    m: Meta,
    name: string,
    runtime: ContainerInfo['runtime'] = 'unknown',
  ): ContainerInfo {
    return {
      runtime,
      id,
      name: name || (id ? '' : `mntns-${m.mntns}`),
      pid: 0,
      mntnsId: m.mntns,
      generation: m.gen,
      state: 'exited',
      startedAt: this.bootToMs(m.claimedTs),
      image: '',
      annotations: {},
    };
  }

  /** The copy kept for this recording: the kernel's generation, no bulky annotations. */
  private snapshot(c: ContainerInfo, r: Recording, m: Meta): ContainerInfo {
    const exited = m.state === STATE_EXITED || c.state === 'exited';
    const out: ContainerInfo = {
      runtime: c.runtime,
      id: c.id,
      name: c.name,
      pid: exited ? 0 : c.pid,
      mntnsId: m.mntns,
      generation: r.gen,
      state: exited ? 'exited' : 'running',
      startedAt: this.bootToMs(m.claimedTs),
      image: c.image.length > 200 ? c.image.slice(0, 200) : c.image,
      annotations: {},
    };
    if (exited) out.exitedAt = m.exitedTs ? this.bootToMs(m.exitedTs) : (c.exitedAt ?? Date.now());
    // labels kept for `list -l` / `delete -l` (dropped by writeInfo when they do not fit)
    if (c.k8s) out.k8s = { ...c.k8s };
    return out;
  }

  private writeInfo(r: Recording): void {
    const info = this.pins.maps.tl_info!;
    const cur = parseInfo(info.lookup(u32Key(r.set))!);
    let json = JSON.stringify(r.container);
    if (Buffer.byteLength(json) > 992) {
      const c = {
        ...r.container!,
        image: '',
        k8s: r.container!.k8s
          ? { ...r.container!.k8s, podIp: '', ownerName: '', labels: {} }
          : undefined,
      };
      json = JSON.stringify(c);
    }
    info.update(
      u32Key(r.set),
      encodeInfo({
        gen: r.gen,
        exitedTs: cur.gen === r.gen ? cur.exitedTs : 0n,
        base: cur.gen === r.gen ? cur.base : 0n,
        json,
      }),
    );
  }

  private entry(cfg: SessionConfig, r: Recording, m: Meta): TraceloopEntry {
    const info = parseInfo(this.pins.maps.tl_info!.lookup(u32Key(r.set))!);
    const base = info.gen === r.gen && info.base > m.base ? info.base : m.base;
    const total = Number(m.head - base);
    const records = Math.min(total, cfg.nslots);
    const c = { ...r.container!, generation: r.gen };
    const exited = m.state === STATE_EXITED || c.state === 'exited';
    let status: TraceloopStatus = this.recording ? 'recording' : 'stopped';
    if (exited) {
      status = 'container-exited';
      c.state = 'exited';
      c.pid = 0;
      if (m.exitedTs) c.exitedAt = this.bootToMs(m.exitedTs);
    }
    return {
      sessionId: cfg.sessionId,
      container: c,
      status,
      records,
      lost: Math.max(0, total - cfg.nslots),
      instance: r.gen,
      ...(m.state === STATE_EXITED && m.exitedTs ? { exitStatus: m.exitCode } : {}),
    };
  }

  // ---- matching containers --------------------------------------------------------------------

  private named(): Recording[] {
    return [...this.recs.values()].filter((r) => r.container && !r.releasing);
  }
}

export { matchesSpec, noRecordingError };
