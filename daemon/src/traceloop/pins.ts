// The bpffs pins of a traceloop session, and adopting the programs an earlier daemon left
// attached (see recorder.ts's header for the lifecycle). Under the pin directory: the maps
// (MAP_NAMES, tl_session holding the SessionConfig), a link per program (tl_link_<program>)
// and the container tracker's alias map the programs use (tl_alias).

import {
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statfsSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { BpfMap, Collection, ObjectSpec } from '../bpf/index.js';
import * as bpf from '../bpf/index.js';
import { RunError } from '../../../gadgets/framework/errors.js';
import type { ContainerFilter } from '../../../gadgets/framework/runtime.js';
import { gadgetObjectPath } from '../../../gadgets/framework/paths.js';
import { parseSyscallFilter, scInfoBytes } from '../../../gadgets/traceloop/table.js';
import {
  MAP_NAMES,
  SLOT_BYTES,
  checkMap,
  encodeSession,
  parseSession,
  u32Key,
  type MapName,
} from './maps.js';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/kubectl-gadget/traceloop';
/** A program's link is pinned next to the maps as tl_link_<program>. */
export const LINK_PREFIX = 'tl_link_';
/** The container tracker's alias map the programs use, pinned next to the maps. */
const ALIAS_PIN = 'tl_alias';

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

const BPF_FS_MAGIC = 0xcafe4a11;

/** Throws a user error unless `dir`, or its nearest existing parent, is on a bpffs. */
export function checkBpffs(dir: string): void {
  let p = dir;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  let type: number | undefined;
  try {
    type = statfsSync(p).type;
  } catch {
    // unreadable: let the pin itself fail
    return;
  }
  if (type !== BPF_FS_MAGIC) {
    throw new RunError(
      'FAILED_PRECONDITION',
      `traceloop pins its recordings under ${dir}, but ${p} is not a BPF file system: mount one (mount -t bpf bpf /sys/fs/bpf), or set KGADGET_TRACELOOP_PIN_DIR to a directory on one`,
    );
  }
}

/** The kernel refused the maps' sizes (ENOMEM, E2BIG): a user error naming what was asked. */
function mapsRefused(e: unknown, cfg: SessionConfig): RunError | undefined {
  const code = (e as { code?: unknown }).code;
  if (code !== 'ENOMEM' && code !== 'E2BIG') return undefined;
  const mib = Math.round((cfg.nsets * cfg.nslots * SLOT_BYTES) / 1048576);
  return new RunError(
    'INVALID_ARGUMENT',
    `the kernel refused traceloop's maps for ${cfg.nsets} recordings of ${cfg.nslots} syscalls (${mib} MiB, --max-memory ${cfg.maxMemoryMib}): ${(e as Error).message.replace(/^load traceloop: /, '')} (${code}); lower --max-memory or --syscalls`,
  );
}

/** The session as pinned in tl_session (what a restarted daemon resumes). */
export interface SessionConfig {
  v: 1;
  sessionId: string;
  nslots: number;
  nsets: number;
  filter: ContainerFilter;
  syscalls: string[];
  maxMemoryMib: number;
  startedAt: number;
  /** exit times recorded (absent in the pins of older daemons: off) */
  durations?: boolean;
  /** program -> [link id, program id] of the pinned links (what resume() may adopt) */
  links?: Record<string, [number, number]>;
}

export interface PinsOptions {
  objectPath?: string;
  /** points the program's daemon-wide maps (gadget_mntns_alias) at the container tracker's */
  shareMaps?: (spec: ObjectSpec) => void;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** The session's maps, program and links, and their pins in `dir`. */
export class TraceloopPins {
  maps: Partial<Record<MapName, BpfMap>> = {};
  coll: Collection | undefined;
  /** the links of programs adopted from an earlier daemon (resume), held so stop ends them */
  links: bpf.PinnedLink[] = [];
  private readonly log: PinsOptions['log'];

  constructor(
    readonly dir: string,
    private readonly o: PinsOptions,
  ) {
    this.log = o.log;
  }

  /** True when pins of a session exist (a daemon before this one was recording). */
  exists(): boolean {
    return existsSync(join(this.dir, 'tl_session'));
  }

  /**
   * Loads the program sized for cfg into this.coll: with the pinned maps (reuse), else with new
   * maps that are pinned and opened here.
   */
  load(cfg: SessionConfig, reuse: boolean): void {
    // before anything is loaded: new pins need a bpffs (mkdir -p on sysfs loops in Node 20)
    if (!reuse) checkBpffs(this.dir);
    const spec = bpf.ObjectSpec.open(this.o.objectPath ?? gadgetObjectPath('traceloop'));
    let coll: Collection | undefined;
    try {
      const keep = cfg.syscalls.length ? parseSyscallFilter(cfg.syscalls) : undefined;
      spec.setGlobal('tl_nsets', cfg.nsets);
      spec.setGlobal('tl_slot_mask', cfg.nslots - 1);
      spec.setGlobal('tl_slot_shift', Math.log2(cfg.nslots));
      spec.setGlobal('tl_filter_on', keep !== undefined);
      spec.setGlobal('tl_durations', cfg.durations === true);
      spec.setGlobal('sc_info', scInfoBytes(keep));
      spec.setMapMaxEntries('tl_slots', cfg.nsets * cfg.nslots);
      spec.setMapMaxEntries('tl_data', cfg.nsets * cfg.nslots);
      for (const n of ['tl_meta', 'tl_ident', 'tl_info'] as const) {
        spec.setMapMaxEntries(n, cfg.nsets);
      }
      // the daemon-wide maps are the tracker's; unused ones shrink to nothing when not shared
      spec.setMapMaxEntries('gadget_mntns_known', 1);
      try {
        this.o.shareMaps?.(spec);
      } catch (e) {
        this.log('warn', `traceloop: container tracker maps not shared: ${(e as Error).message}`);
      }
      if (reuse) {
        for (const n of MAP_NAMES) spec.reuseMap(n, this.maps[n]!);
      }
      try {
        coll = spec.load();
      } catch (e) {
        throw mapsRefused(e, cfg) ?? e;
      }
      if (!reuse) {
        mkdirSync(this.dir, { recursive: true });
        for (const n of MAP_NAMES) {
          coll.pinMap(n, join(this.dir, n));
        }
        this.open();
      }
      this.coll = coll;
    } catch (e) {
      coll?.close();
      spec.close();
      throw e;
    }
  }

  /** Opens (and checks) the pinned maps. */
  open(): void {
    for (const n of MAP_NAMES) {
      const m = bpf.openPinnedMap(join(this.dir, n));
      try {
        checkMap(n, m);
      } catch (e) {
        m.close();
        throw e;
      }
      this.maps[n] = m;
    }
  }

  /** Closes this process's fds of the maps (the pins stay). */
  closeMaps(): void {
    for (const m of Object.values(this.maps)) m?.close();
    this.maps = {};
  }

  readSession(): SessionConfig {
    const raw = parseSession(this.maps.tl_session!.lookup(u32Key(0))!);
    const c = JSON.parse(raw) as SessionConfig;
    if (c.v !== 1) throw new Error(`traceloop: pinned session of an unknown version ${c.v}`);
    return c;
  }

  writeSession(cfg: SessionConfig): void {
    this.maps.tl_session!.update(u32Key(0), encodeSession(JSON.stringify(cfg)));
  }

  /**
   * Takes over the programs that an earlier daemon left attached through pinned links, when they
   * are the links the session recorded, for exactly this object's programs. True: adopted (their
   * links are held in this.links); false: there are no links, or they are not usable (why is
   * logged) and were left alone.
   */
  adopt(cfg: SessionConfig): boolean {
    const pins = linkPins(this.dir);
    if (!pins.length) return false;
    const links: bpf.PinnedLink[] = [];
    try {
      for (const f of pins) links.push(bpf.openPinnedLink(join(this.dir, f)));
      this.checkAdoptable(cfg, links);
    } catch (e) {
      for (const l of links) l.close();
      this.log(
        'warn',
        `traceloop: the programs pinned in ${this.dir} are not adopted (${(e as Error).message}): loading the program again`,
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
    const spec = bpf.ObjectSpec.open(this.o.objectPath ?? gadgetObjectPath('traceloop'));
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
   * failure costs only that, so it is a warning. Returns the session config to keep (with the
   * links, when pinned).
   */
  pinLinks(cfg: SessionConfig): SessionConfig {
    const coll = this.coll!;
    try {
      const links: Record<string, [number, number]> = {};
      for (const path of coll.pinLinks(this.dir, LINK_PREFIX)) {
        const l = bpf.openPinnedLink(path);
        links[path.slice(path.lastIndexOf('/') + 1 + LINK_PREFIX.length)] = [l.id, l.progId];
        l.close();
      }
      // the alias map the programs use (the tracker's), for the tracker of the next daemon
      const alias = join(this.dir, ALIAS_PIN);
      rmSync(alias, { force: true });
      if (coll.hasMap('gadget_mntns_alias')) coll.pinMap('gadget_mntns_alias', alias);
      // what a restarted daemon may adopt
      const next = { ...cfg, links };
      this.writeSession(next);
      return next;
    } catch (e) {
      this.unpinLinks();
      this.log(
        'warn',
        `traceloop: links not pinned (${(e as Error).message}): nothing is recorded while no daemon runs`,
      );
      return cfg;
    }
  }

  /**
   * Removes the link pins. Each link whose last hold was its pin ends at once; links this process
   * holds (this.coll, this.links) end when closeFds() closes them.
   */
  unpinLinks(): void {
    for (const f of linkPins(this.dir)) {
      const path = join(this.dir, f);
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
  closeFds(): void {
    for (const l of this.links.splice(0)) l.close();
    this.coll?.close();
    this.coll = undefined;
  }

  /** Ends the programs: the link pins first, so that closing the fds detaches them at once. */
  detach(): void {
    this.unpinLinks();
    this.closeFds();
  }

  /** Removes the map pins (this process's fds stay readable), then the directories if empty. */
  unpin(): void {
    for (const n of MAP_NAMES) {
      try {
        unlinkSync(join(this.dir, n));
      } catch {
        /* already gone */
      }
    }
    // leftovers of other versions, then the directories if empty
    try {
      for (const f of readdirSync(this.dir)) {
        if (f.startsWith('tl_')) unlinkSync(join(this.dir, f));
      }
    } catch {
      /* no directory */
    }
    for (const d of [this.dir, dirname(this.dir)]) {
      try {
        rmdirSync(d);
      } catch {
        break; // not empty (others pin there) or gone
      }
    }
  }
}
