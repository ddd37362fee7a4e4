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

import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { BpfMap, Collection, ObjectSpec } from '../bpf/index.js';
import * as bpf from '../bpf/index.js';
import { matchCgroupPath } from '../containers/cgroup.js';
import { listPids, readNsInode } from '../containers/proc.js';
import { matchesFilter } from '../containers/filter.js';
import type { ContainerRegistry } from '../containers/registry.js';
import {
  ContainerdSource,
  ContainersStorageSource,
  type MetadataSource,
} from '../containers/sources.js';
import type { ContainerInfo } from '../containers/types.js';
import { matchesSpec } from './spec.js';
import { clip, RunError } from '../errors.js';
import type { ContainerFilter, RunMessage } from '../runtime/types.js';
import { gadgetLayoutPath, gadgetObjectPath } from '../../../gadgets/framework/paths.js';
import type { RecordLayout } from '../../../gadgets/framework/types.js';
import {
  closeMatches,
  parseSyscallFilter,
  scInfoBytes,
  SyscallFilterError,
} from '../../../gadgets/traceloop/table.js';
import {
  MAP_NAMES,
  NS_IGNORE,
  NS_NOSPACE,
  NS_RECORD,
  STATE_EXITED,
  STATE_FREE,
  STATE_RUNNING,
  checkMap,
  encodeInfo,
  encodeNs,
  encodeSession,
  metaWithState,
  parseCfg,
  parseIdent,
  parseInfo,
  parseMeta,
  parseNs,
  parseSession,
  u32Key,
  u64Key,
  type Counters,
  type MapName,
  type Meta,
} from './maps.js';
import type {
  TraceloopApi,
  TraceloopEntry,
  TraceloopSession,
  TraceloopShowRequest,
  TraceloopStartOptions,
  TraceloopStatus,
} from './types.js';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/kubectl-gadget/traceloop';
/** A program's link is pinned next to the maps as tl_link_<program>. */
export const LINK_PREFIX = 'tl_link_';
/** The container tracker's alias map the programs use, pinned next to the maps. */
const ALIAS_PIN = 'tl_alias';
/** a slot's header (tl_slots) and data (tl_data) */
export const SLOT_HEADER_BYTES = 128;
export const SLOT_DATA_BYTES = 264;
export const SLOT_BYTES = SLOT_HEADER_BYTES + SLOT_DATA_BYTES;
/** per-buffer bookkeeping besides the slots: meta 80 + ident 352 + info 1024 */
export const SET_OVERHEAD_BYTES = 80 + 352 + 1024;
export const DEFAULT_SYSCALLS = 2048;
export const MAX_SYSCALLS = 65536;
export const MIN_SYSCALLS = 64;
export const DEFAULT_MAX_MEMORY_MIB = 64;
const MAX_SETS = 4096;
/** how often the kernel's claim counter is read (a claim: a recording to name, see watch()) */
const CLAIM_CHECK_MS = 100;
/** offsets in struct tl_slot */
const SLOT_LEN = 94;
const SLOT_BACK = 112;

/** Bytes of one container's recording for a number of syscalls (rounded up to a power of two). */
export function bytesPerContainer(syscalls: number): number {
  return roundPow2(syscalls) * SLOT_BYTES + SET_OVERHEAD_BYTES;
}

/** The pin directory: $KGADGET_TRACELOOP_PIN_DIR, else DEFAULT_PIN_DIR. */
export function traceloopPinDir(): string {
  return process.env.KGADGET_TRACELOOP_PIN_DIR || DEFAULT_PIN_DIR;
}

function linkPins(pinDir: string): string[] {
  try {
    return readdirSync(pinDir)
      .filter((f) => f.startsWith(LINK_PREFIX))
      .sort();
  } catch {
    return [];
  }
}

/**
 * The gadget_mntns_alias map of the programs that an earlier daemon left attached through pinned
 * links in pinDir (undefined: none). The container tracker of a daemon that will adopt those
 * programs fills this map instead of a new one, so that they keep seeing the mount namespaces
 * created inside containers. The caller closes it.
 */
export function pinnedAliasMap(pinDir: string = traceloopPinDir()): BpfMap | undefined {
  if (!linkPins(pinDir).length) return undefined;
  try {
    return bpf.openPinnedMap(join(pinDir, ALIAS_PIN));
  } catch {
    return undefined; // not pinned: the recorder loads the program again
  }
}

function roundPow2(n: number): number {
  let p = MIN_SYSCALLS;
  while (p < n) p *= 2;
  return p;
}

interface SessionConfig {
  v: 1;
  sessionId: string;
  nslots: number;
  nsets: number;
  filter: ContainerFilter;
  syscalls: string[];
  maxMemoryMib: number;
  startedAt: number;
  /** program -> [link id, program id] of the pinned links (what resume() may adopt) */
  links?: Record<string, [number, number]>;
}

interface Recording {
  set: number;
  gen: number;
  container?: ContainerInfo;
  /** the namespace turned out to be a host one or filtered out: being released */
  releasing?: boolean;
  firstSeen: number;
}

interface Tombstone {
  gen: number;
  container: ContainerInfo;
  evictedAt: number;
  why: string;
}

export interface RecorderOptions {
  registry: ContainerRegistry;
  node: string;
  /** points the program's daemon-wide maps (gadget_mntns_alias) at the container tracker's */
  shareMaps?: (spec: ObjectSpec) => void;
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
  private readonly pinDir: string;
  private readonly log: NonNullable<RecorderOptions['log']>;
  private readonly sources: MetadataSource[];
  private config: SessionConfig | undefined;
  private maps: Partial<Record<MapName, BpfMap>> = {};
  private coll: Collection | undefined;
  /** the links of programs adopted from an earlier daemon (resume), held so stop ends them */
  private links: bpf.PinnedLink[] = [];
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

  constructor(private readonly opts: RecorderOptions) {
    this.pinDir = opts.pinDir ?? traceloopPinDir();
    this.log = opts.log ?? (() => {});
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
    return existsSync(join(this.pinDir, 'tl_session'));
  }

  /** Resumes a pinned session (daemon restart). No-op without pins. */
  resume(): boolean {
    if (this.config || !this.hasPins()) return false;
    let cfg: SessionConfig;
    try {
      this.openPinned();
      cfg = this.readSession();
    } catch (e) {
      for (const m of Object.values(this.maps)) m?.close();
      this.maps = {};
      throw new Error(
        `${(e as Error).message} (pins in ${this.pinDir}: \`traceloop delete\` removes them)`,
      );
    }
    this.config = cfg;
    try {
      if (this.adoptLinks(cfg)) {
        this.log(
          'info',
          `traceloop: resumed session ${cfg.sessionId} from ${this.pinDir}: adopted the ${this.links.length} programs still attached`,
        );
      } else {
        this.loadProgram(cfg, true);
        // links of an earlier program that were not adopted: gone before the new copy attaches
        this.unpinLinks();
        this.coll!.attach();
        this.pinLinks();
        this.log('info', `traceloop: resumed session ${cfg.sessionId} from ${this.pinDir}`);
      }
      this.recording = true;
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
    };
    try {
      this.loadProgram(cfg, false);
      this.config = cfg;
      this.maps.tl_session!.update(u32Key(0), encodeSession(JSON.stringify(cfg)));
      this.ignoreKnownNamespaces(cfg);
      this.coll!.attach();
      this.pinLinks();
      this.recording = true;
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
    this.detach();
    this.unpin();
    this.recording = false;
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
    const targets = this.pick(container, 0, true);
    for (const r of targets) await this.free(r, 'deleted');
    return targets.length;
  }

  /**
   * Daemon shutdown: keeps the pins, so the programs stay attached through their pinned links and
   * go on recording until the next daemon adopts them. Only this process's fds are closed.
   */
  close(): void {
    this.unwatch();
    this.closeFds();
    for (const m of Object.values(this.maps)) m?.close();
    this.maps = {};
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
    };
  }

  counters(): Counters {
    return parseCfg(this.maps.tl_cfg!.lookup(u32Key(0))!);
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
    const [r, others] = this.pickOne(req.container, req.instance);
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
    for (const batch of this.readSlots(cfg, r, m)) {
      if (signal.aborted) return;
      held += batch.count;
      yield { kind: 'batch', records: batch.records, count: batch.count };
    }
    yield { kind: 'stats', stats: { events: held, lost: entry.lost } };
    yield { kind: 'done', reason: 'complete' };
  }

  // ---- program and pins -----------------------------------------------------------------------

  private loadProgram(cfg: SessionConfig, reuse: boolean): void {
    const spec = bpf.ObjectSpec.open(this.opts.objectPath ?? gadgetObjectPath('traceloop'));
    let coll: Collection | undefined;
    try {
      const keep = cfg.syscalls.length ? parseSyscallFilter(cfg.syscalls) : undefined;
      spec.setGlobal('tl_nsets', cfg.nsets);
      spec.setGlobal('tl_slot_mask', cfg.nslots - 1);
      spec.setGlobal('tl_slot_shift', Math.log2(cfg.nslots));
      spec.setGlobal('tl_filter_on', keep !== undefined);
      spec.setGlobal('sc_info', scInfoBytes(keep));
      spec.setMapMaxEntries('tl_slots', cfg.nsets * cfg.nslots);
      spec.setMapMaxEntries('tl_data', cfg.nsets * cfg.nslots);
      for (const n of ['tl_meta', 'tl_ident', 'tl_info'] as const) {
        spec.setMapMaxEntries(n, cfg.nsets);
      }
      // the daemon-wide maps are the tracker's; unused ones shrink to nothing when not shared
      spec.setMapMaxEntries('gadget_mntns_known', 1);
      try {
        this.opts.shareMaps?.(spec);
      } catch (e) {
        this.log('warn', `traceloop: container tracker maps not shared: ${(e as Error).message}`);
      }
      if (reuse) {
        for (const n of MAP_NAMES) spec.reuseMap(n, this.maps[n]!);
      }
      coll = spec.load();
      if (!reuse) {
        mkdirSync(this.pinDir, { recursive: true });
        for (const n of MAP_NAMES) {
          coll.pinMap(n, join(this.pinDir, n));
        }
        this.openPinned();
      }
      this.coll = coll;
    } catch (e) {
      coll?.close();
      spec.close();
      throw e;
    }
  }

  private openPinned(): void {
    for (const n of MAP_NAMES) {
      const m = bpf.openPinnedMap(join(this.pinDir, n));
      try {
        checkMap(n, m);
      } catch (e) {
        m.close();
        throw e;
      }
      this.maps[n] = m;
    }
  }

  private readSession(): SessionConfig {
    const raw = parseSession(this.maps.tl_session!.lookup(u32Key(0))!);
    const c = JSON.parse(raw) as SessionConfig;
    if (c.v !== 1) throw new Error(`traceloop: pinned session of an unknown version ${c.v}`);
    return c;
  }

  /**
   * Takes over the programs that an earlier daemon left attached through pinned links, when they
   * are the links the session recorded, for exactly this object's programs. True: adopted (their
   * links are held in this.links); false: there are no links, or they are not usable (why is
   * logged) and were left alone.
   */
  private adoptLinks(cfg: SessionConfig): boolean {
    const pins = linkPins(this.pinDir);
    if (!pins.length) return false;
    const links: bpf.PinnedLink[] = [];
    try {
      for (const f of pins) links.push(bpf.openPinnedLink(join(this.pinDir, f)));
      this.checkAdoptable(cfg, links);
    } catch (e) {
      for (const l of links) l.close();
      this.log(
        'warn',
        `traceloop: the programs pinned in ${this.pinDir} are not adopted (${(e as Error).message}): loading the program again`,
      );
      return false;
    }
    this.links = links;
    return true;
  }

  /**
   * Throws unless the links are the ones the session pinned (same link and program ids: ids are
   * never reused soon) and hold this object's programs, each once. The ids prove that the
   * programs record into the session's maps without opening them by id (CAP_SYS_ADMIN).
   */
  private checkAdoptable(cfg: SessionConfig, links: bpf.PinnedLink[]): void {
    if (!cfg.links) throw new Error('the session names no links');
    const spec = bpf.ObjectSpec.open(this.opts.objectPath ?? gadgetObjectPath('traceloop'));
    let want: string[];
    try {
      want = spec
        .programs()
        .filter((p) => p.autoload)
        .map((p) => p.name)
        .sort();
    } finally {
      spec.close();
    }
    const have: string[] = [];
    for (const l of links) {
      const name = l.path.slice(l.path.lastIndexOf('/') + 1 + LINK_PREFIX.length);
      const [linkId, progId] = cfg.links[name] ?? [0, 0];
      if (l.id !== linkId || l.progId !== progId) {
        throw new Error(
          `${LINK_PREFIX}${name} is link ${l.id} of program ${l.progId}; the session pinned ${linkId ? `link ${linkId} of program ${progId}` : 'none'}`,
        );
      }
      have.push(name);
    }
    have.sort();
    if (have.join() !== want.join()) {
      throw new Error(`links for ${have.join(', ')}; the program has ${want.join(', ')}`);
    }
  }

  /**
   * Pins the links next to the maps: the programs then keep recording while no daemon runs. A
   * failure costs only that, so it is a warning.
   */
  private pinLinks(): void {
    const cfg = this.config!;
    const coll = this.coll!;
    try {
      const links: Record<string, [number, number]> = {};
      for (const path of coll.pinLinks(this.pinDir, LINK_PREFIX)) {
        const l = bpf.openPinnedLink(path);
        links[path.slice(path.lastIndexOf('/') + 1 + LINK_PREFIX.length)] = [l.id, l.progId];
        l.close();
      }
      // the alias map the programs use (the tracker's), for the tracker of the next daemon
      const alias = join(this.pinDir, ALIAS_PIN);
      rmSync(alias, { force: true });
      if (coll.hasMap('gadget_mntns_alias')) coll.pinMap('gadget_mntns_alias', alias);
      // what a restarted daemon may adopt
      const next = { ...cfg, links };
      this.maps.tl_session!.update(u32Key(0), encodeSession(JSON.stringify(next)));
      this.config = next;
    } catch (e) {
      this.unpinLinks();
      this.log(
        'warn',
        `traceloop: links not pinned (${(e as Error).message}): nothing is recorded while no daemon runs`,
      );
    }
  }

  /**
   * Removes the link pins. Each link whose last hold was its pin ends at once; links this process
   * holds (this.coll, this.links) end when closeFds() closes them.
   */
  private unpinLinks(): void {
    for (const f of linkPins(this.pinDir)) {
      const path = join(this.pinDir, f);
      try {
        bpf.unpinLink(path);
      } catch (e) {
        this.log('warn', `traceloop: ${(e as Error).message}`);
        try {
          unlinkSync(path); // not a link: not worth keeping either
        } catch {
          /* gone */
        }
      }
    }
  }

  /** Closes this process's hold on the programs; pinned links keep them attached. */
  private closeFds(): void {
    for (const l of this.links.splice(0)) l.close();
    this.coll?.close();
    this.coll = undefined;
  }

  /** Ends the programs: the link pins first, so that closing the fds detaches them at once. */
  private detach(): void {
    this.unpinLinks();
    this.closeFds();
  }

  private unpin(): void {
    for (const n of MAP_NAMES) {
      try {
        unlinkSync(join(this.pinDir, n));
      } catch {
        /* already gone */
      }
    }
    // leftovers of other versions, then the directories if empty
    try {
      for (const f of readdirSync(this.pinDir)) {
        if (f.startsWith('tl_')) unlinkSync(join(this.pinDir, f));
      }
    } catch {
      /* no directory */
    }
    for (const d of [this.pinDir, dirname(this.pinDir)]) {
      try {
        rmdirSync(d);
      } catch {
        break; // not empty (others pin there) or gone
      }
    }
  }

  /** Drops everything: programs, pins, maps, in-memory state. */
  private teardown(): void {
    this.unwatch();
    this.detach();
    this.unpin();
    for (const m of Object.values(this.maps)) m?.close();
    this.maps = {};
    this.config = undefined;
    this.recording = false;
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
        if (!this.maps.tl_cfg) return;
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
    return parseMeta(this.maps.tl_meta!.lookup(u32Key(set))!);
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
    const cur = this.maps.tl_epoch!.lookup(u32Key(0));
    const next = (cur ? cur.readBigUInt64LE(0) : 0n) + 1n;
    b.writeBigUInt64LE(next);
    this.maps.tl_epoch!.update(u32Key(0), b);
  }

  /** Host namespaces (and containers the filter excludes) are never recorded. */
  private ignoreKnownNamespaces(cfg: SessionConfig): void {
    const reg = this.opts.registry;
    const ns = this.maps.tl_ns!;
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
      this.maps.tl_ns!.update(
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
    const ns = this.maps.tl_ns;
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
    const info = this.maps.tl_info!;
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
    const ns = this.maps.tl_ns!;
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
    if (!this.maps.tl_meta || this.config !== session) return;
    const cur = this.maps.tl_meta.lookup(u32Key(r.set))!;
    if (parseMeta(cur).gen === r.gen) {
      this.maps.tl_meta!.update(u32Key(r.set), metaWithState(cur, STATE_FREE));
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
    const ns = this.maps.tl_ns;
    if (!ns || !this.maps.tl_cfg) return;
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
    if (!cfg || !this.maps.tl_meta) return;
    const seen = new Set<number>();
    for (let set = 0; set < cfg.nsets; set++) {
      const m = this.meta(set);
      if ((m.state !== STATE_RUNNING && m.state !== STATE_EXITED) || !m.gen) continue;
      seen.add(m.gen);
      let r = this.recs.get(m.gen);
      if (!r) {
        r = { set, gen: m.gen, firstSeen: Date.now() };
        const info = parseInfo(this.maps.tl_info!.lookup(u32Key(set))!);
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
    const ident = parseIdent(this.maps.tl_ident!.lookup(u32Key(r.set))!);
    const cg =
      ident.gen === r.gen ? matchCgroupPath(`${ident.cgroupParent}/${ident.cgroup}`) : null;
    let c: ContainerInfo | undefined;
    if (cg) {
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
    const info = this.maps.tl_info!;
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
    const info = parseInfo(this.maps.tl_info!.lookup(u32Key(r.set))!);
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

  // ---- show -----------------------------------------------------------------------------------

  /**
   * The recording's slots in seq order, framed for the wire: each record is the 128-byte slot
   * header followed by its `len` data bytes. A slot with data is read header, data, header: the
   * data is kept only if the header did not change meanwhile (its writer would have changed
   * `back` before touching the data).
   */
  private *readSlots(
    cfg: SessionConfig,
    r: Recording,
    m: Meta,
  ): Generator<{ records: Buffer; count: number }> {
    const info = parseInfo(this.maps.tl_info!.lookup(u32Key(r.set))!);
    let lo = m.base;
    if (info.gen === r.gen && info.base > lo) lo = info.base;
    const head = parseMeta(this.maps.tl_meta!.lookup(u32Key(r.set))!).head;
    if (head - lo > BigInt(cfg.nslots)) lo = head - BigInt(cfg.nslots);
    const slots = this.maps.tl_slots!;
    const data = this.maps.tl_data!;
    const PER_BATCH = 1024;
    let parts: Buffer[] = [];
    let n = 0;
    const key = Buffer.alloc(4);
    const lenPrefix = (len: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(len);
      return b;
    };
    for (let seq = lo + 1n; seq <= head; seq++) {
      key.writeUInt32LE(r.set * cfg.nslots + Number((seq - 1n) & BigInt(cfg.nslots - 1)));
      let rec: Buffer | null = null;
      for (let attempt = 0; attempt < 3 && !rec; attempt++) {
        const h = slots.lookup(key);
        if (!h) break;
        const front = h.readBigUInt64LE(0);
        if (front !== h.readBigUInt64LE(SLOT_BACK)) continue; // being written: read again
        if (front >> 1n !== seq) break; // overwritten by a newer record
        const len = Math.min(h.readUInt16LE(SLOT_LEN), SLOT_DATA_BYTES);
        if (len === 0) {
          rec = h;
          break;
        }
        const d = data.lookup(key);
        const again = slots.lookup(key);
        if (!d || !again || again.readBigUInt64LE(SLOT_BACK) !== front) continue;
        rec = Buffer.concat([h, d.subarray(0, len)]);
      }
      if (!rec) continue;
      const pad = (8 - ((4 + rec.length) % 8)) % 8;
      parts.push(lenPrefix(rec.length), rec);
      if (pad) parts.push(Buffer.alloc(pad));
      n++;
      if (n === PER_BATCH) {
        yield { records: Buffer.concat(parts), count: n };
        parts = [];
        n = 0;
      }
    }
    if (n > 0) yield { records: Buffer.concat(parts), count: n };
  }

  // ---- matching containers --------------------------------------------------------------------

  private named(): Recording[] {
    return [...this.recs.values()].filter((r) => r.container && !r.releasing);
  }

  /** Recordings matching a user's container reference (all instances). */
  private pick(spec: string, instance: number, forDelete = false): Recording[] {
    const s = spec.trim();
    const all = this.named();
    let hits = all.filter((r) => matchesSpec(s, r.container!));
    if (instance) hits = hits.filter((r) => r.gen === instance);
    if (hits.length) return hits;
    const evicted = this.tombstones.filter(
      (t) => matchesSpec(s, t.container) && (!instance || t.gen === instance),
    );
    if (evicted.length) {
      const t = evicted[evicted.length - 1]!;
      throw new RunError(
        'NOT_FOUND',
        `the recording of ${s} (instance ${t.gen}) was evicted at ${new Date(t.evictedAt).toISOString()}: ${t.why}`,
        'raise the cap with `traceloop start --max-memory`, or record fewer syscalls per container',
      );
    }
    if (instance && all.some((r) => matchesSpec(s, r.container!))) {
      const gens = all.filter((r) => matchesSpec(s, r.container!)).map((r) => r.gen);
      throw new RunError(
        'NOT_FOUND',
        `no instance ${instance} of ${s}: instances are ${gens.join(', ')}`,
      );
    }
    throw noRecordingError(
      s,
      all.map((r) => r.container!),
      forDelete,
    );
  }

  /** The newest instance (or the one asked for) of exactly one container, and its others. */
  private pickOne(spec: string, instance: number): [Recording, Recording[]] {
    const hits = this.pick(spec, instance);
    const groups = new Map<string, Recording[]>();
    for (const r of hits) {
      const k = identityKey(r.container!);
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    if (groups.size > 1) {
      throw new RunError(
        'INVALID_ARGUMENT',
        `${spec} matches several containers: ${[...groups.keys()].join(', ')}`,
        'name one of them (pod/container, or a container id)',
      );
    }
    const list = [...groups.values()][0]!.sort((a, b) => b.gen - a.gen);
    return [list[0]!, list.slice(1)];
  }
}

/** Instances of "the same container": a Kubernetes container of a pod, else the name (podman). */
function identityKey(c: ContainerInfo): string {
  if (c.k8s?.pod) return `${c.k8s.namespace}/${c.k8s.pod}/${c.k8s.container}`;
  return c.name || c.id;
}

/** "no recording for X", with the close matches among the recordings the caller may see. */
export function noRecordingError(
  s: string,
  containers: readonly ContainerInfo[],
  forDelete = false,
): RunError {
  const names = new Set<string>();
  for (const c of containers) {
    if (c.name) names.add(c.name);
    if (c.id) names.add(c.id.slice(0, 12));
    if (c.k8s?.pod) {
      names.add(c.k8s.pod);
      names.add(`${c.k8s.pod}/${c.k8s.container}`);
    }
  }
  const close = closeMatches(s, names, 5);
  return new RunError(
    'NOT_FOUND',
    `no recording for ${clip(s)}` +
      (close.length
        ? `; close matches: ${close.join(', ')}`
        : names.size
          ? `; recorded: ${[...names].slice(0, 8).join(', ')}`
          : ''),
    forDelete ? undefined : 'list recordings with `kubectl gadget traceloop list`',
  );
}

export { matchesSpec };
