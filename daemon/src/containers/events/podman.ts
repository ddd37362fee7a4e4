// podman's event log (events_logger = "file"): one JSON object per line, appended by every
// podman process (root's default /run/libpod/events/events.log; podman caps it at
// events_logfile_max_size, 1 MiB by default, by rewriting it: a new inode with its newer half).
// The file is read directly, so this works from a pod with a hostPath and no podman binary.
//
//   {"ID":"<64 hex>","Image":"...","Name":"web","Status":"init","Time":"2026-...Z",
//    "Type":"container","Attributes":{...labels...},"ContainerExitCode":0}
//
// On start the tail of the file (replayWindowMs, at most replayMaxBytes) is replayed: names of
// containers that started, or started and exited, while the daemon was down. Then appended lines
// are followed (fs.watch on the directory, and a poll as a safety net), from the last offset;
// a new inode (rotation) or a shorter file (truncation) is read from its start, and replayed
// events older than what was applied for an id are ignored (MetaCache orders them).
//
// The journald backend (podman's default where systemd runs) is not read: there this source is
// off, and names come from the on-disk state only (see docs/design.md).

import { EventEmitter } from 'node:events';
import {
  closeSync,
  fstatSync,
  openSync,
  readSync,
  statSync,
  watch,
  type FSWatcher,
  type Stats,
} from 'node:fs';
import { basename, dirname } from 'node:path';

import type { RuntimeName } from '../cgroup.js';
import type { MetadataSource, RuntimeMeta } from '../sources.js';
import { MetaCache, type MetaCacheStats } from './cache.js';

/** The container event statuses this source acts on. */
export type PodmanStatus = 'create' | 'init' | 'start' | 'died' | 'cleanup' | 'remove';
const STATUSES = new Set<string>(['create', 'init', 'start', 'died', 'cleanup', 'remove']);
const ID_RE = /^[0-9a-f]{64}$/;
/** podman names: [a-zA-Z0-9][a-zA-Z0-9_.-]*; anything else is not a name we hand out */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,252}$/;

export interface PodmanEvent {
  id: string;
  name: string;
  image: string;
  status: PodmanStatus;
  /** Unix ms (NaN-free: lines without a parsable time are rejected) */
  time: number;
  /** the container's labels (podman >= 4) */
  attributes: Record<string, string>;
  podId: string;
  exitCode?: number;
}

export type ParseResult =
  | { ok: true; event: PodmanEvent }
  /** a valid line of no interest (another type or status) */
  | { ok: false; ignored: true }
  | { ok: false; ignored: false; error: string };

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses one line of the events log. Never throws. */
export function parsePodmanEventLine(line: string): ParseResult {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return { ok: false, ignored: false, error: 'not JSON' };
  }
  if (!isObj(o)) return { ok: false, ignored: false, error: 'not an object' };
  if (o.Type !== 'container') return { ok: false, ignored: true };
  if (typeof o.Status !== 'string' || !STATUSES.has(o.Status)) return { ok: false, ignored: true };
  if (typeof o.ID !== 'string' || !ID_RE.test(o.ID))
    return { ok: false, ignored: false, error: 'bad ID' };
  const time = typeof o.Time === 'string' ? Date.parse(o.Time) : NaN;
  if (!Number.isFinite(time)) return { ok: false, ignored: false, error: 'bad Time' };
  const name = typeof o.Name === 'string' && NAME_RE.test(o.Name) ? o.Name : '';
  const attributes: Record<string, string> = {};
  if (isObj(o.Attributes)) {
    let n = 0;
    for (const [k, v] of Object.entries(o.Attributes)) {
      if (typeof v !== 'string' || ++n > 256) continue;
      attributes[k] = v.length > 4096 ? v.slice(0, 4096) : v;
    }
  }
  const image = typeof o.Image === 'string' && o.Image.length <= 4096 ? o.Image : '';
  const event: PodmanEvent = {
    id: o.ID,
    name,
    image,
    status: o.Status as PodmanStatus,
    time,
    attributes,
    podId: typeof o.PodID === 'string' && ID_RE.test(o.PodID) ? o.PodID : '',
  };
  if (typeof o.ContainerExitCode === 'number') event.exitCode = o.ContainerExitCode;
  return { ok: true, event };
}

/**
 * Splits appended bytes into lines, carrying a partial last line to the next chunk. A line longer
 * than maxLineBytes is dropped whole (counted), not buffered: the log is writable by any podman
 * user of the host, so its content is not trusted.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialLen = 0;
  private skipping = false;
  oversized = 0;

  constructor(private readonly maxLineBytes = 64 * 1024) {}

  /** Feeds bytes; calls onLine for each complete line (without its newline). */
  push(chunk: Buffer, onLine: (line: string) => void): void {
    const first = chunk.indexOf(10);
    if (first < 0) {
      this.keep(chunk);
      return;
    }
    // the line that began in an earlier chunk
    const head = chunk.subarray(0, first);
    if (this.skipping) {
      this.skipping = false;
    } else if (this.partialLen + head.length > this.maxLineBytes) {
      this.oversized++;
    } else {
      const line = this.partialLen ? Buffer.concat([...this.partial, head]) : head;
      if (line.length) onLine(line.toString('utf8'));
    }
    this.reset();
    // whole lines: one decode and one split for all of them
    const last = chunk.lastIndexOf(10);
    if (last > first) {
      for (const line of chunk.toString('utf8', first + 1, last).split('\n')) {
        if (!line) continue;
        // chars <= bytes: only a line near the bound needs its bytes counted
        if (
          line.length > this.maxLineBytes ||
          (line.length * 3 > this.maxLineBytes && Buffer.byteLength(line) > this.maxLineBytes)
        ) {
          this.oversized++;
          continue;
        }
        onLine(line);
      }
    }
    this.keep(chunk.subarray(last + 1));
  }

  /** Keeps a partial last line for the next chunk, or drops it once it is over the bound. */
  private keep(rest: Buffer): void {
    if (!rest.length || this.skipping) return;
    if (this.partialLen + rest.length > this.maxLineBytes) {
      this.oversized++;
      this.reset();
      this.skipping = true; // until the next newline
      return;
    }
    this.partial.push(Buffer.from(rest)); // a copy: the read buffer is reused
    this.partialLen += rest.length;
  }

  /** Forgets a partial line (a new file, or a skip to a line start). */
  reset(): void {
    this.partial = [];
    this.partialLen = 0;
  }

  /** Skips to the next newline (after seeking into the middle of a file). */
  skipToNextLine(): void {
    this.reset();
    this.skipping = true;
  }
}

export interface PodmanEventSourceOptions {
  /** the events log (default /run/libpod/events/events.log) */
  path?: string;
  /** replay events of this long ago on start (default 10 min) */
  replayWindowMs?: number;
  /** replay at most this many bytes from the end of the file (default 8 MiB) */
  replayMaxBytes?: number;
  /** lines longer than this are dropped (default 64 KiB) */
  maxLineBytes?: number;
  /** cache bound and retention after the exit (defaults 4096, 10 min) */
  maxEntries?: number;
  retentionMs?: number;
  /** stat the file this often in case fs.watch missed a change (default 1000 ms; 0 = never) */
  pollMs?: number;
  warn?: (message: string) => void;
}

export interface PodmanEventStats extends MetaCacheStats {
  /** container events applied */
  events: number;
  /** lines that were not valid events (malformed JSON, bad id or time) */
  malformed: number;
  /** lines over maxLineBytes */
  oversized: number;
  /** read errors and other failures */
  errors: number;
  /** the file was replaced or truncated and read again from its start */
  rotations: number;
  /** bytes read so far */
  bytes: number;
}

export interface PodmanEventSourceEvents {
  /** a container event applied to the cache (meta: what is known of it now) */
  event: [{ status: PodmanStatus; meta: RuntimeMeta; time: number; replay: boolean }];
  /** the replay at start is done */
  replayed: [];
}

const READ_CHUNK = 64 * 1024;

/** The "Time" of a log line without parsing it (null if none): to skip old lines cheaply. */
function lineTime(line: string): number | null {
  const i = line.indexOf('"Time":"');
  if (i < 0) return null;
  const end = line.indexOf('"', i + 8);
  if (end < 0 || end - i > 48) return null;
  const t = Date.parse(line.slice(i + 8, end));
  return Number.isFinite(t) ? t : null;
}

const WANTED = [...STATUSES].map((st) => `"Status":"${st}"`);

/**
 * An event line of a status this source does not act on (exec, exec_died, attach, ...), told
 * without a JSON.parse: it names a status and none of those wanted (as a value or anywhere).
 */
function otherStatus(line: string): boolean {
  if (!line.includes('"Status":"')) return false;
  for (const w of WANTED) if (line.includes(w)) return false;
  return true;
}

export class PodmanEventSource
  extends EventEmitter<PodmanEventSourceEvents>
  implements MetadataSource
{
  readonly name = 'podman-events';
  readonly path: string;
  private readonly cache: MetaCache;
  private readonly splitter: LineSplitter;
  private readonly o: Required<Omit<PodmanEventSourceOptions, 'warn' | 'path'>>;
  private readonly warn: (m: string) => void;
  private fd = -1;
  private ino = -1;
  private offset = 0;
  private readonly buf = Buffer.alloc(READ_CHUNK);
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private checkQueued = false;
  private fullCheck = false;
  private replaying = false;
  /** reading a file from its start (or a replay): lines may be older than the window */
  private beforeWindow = false;
  private warned = new Set<string>();
  private counters = { events: 0, malformed: 0, errors: 0, rotations: 0, bytes: 0 };

  constructor(opts: PodmanEventSourceOptions = {}) {
    super();
    this.path = opts.path ?? '/run/libpod/events/events.log';
    this.o = {
      replayWindowMs: opts.replayWindowMs ?? 10 * 60 * 1000,
      replayMaxBytes: opts.replayMaxBytes ?? 8 << 20,
      maxLineBytes: opts.maxLineBytes ?? 64 * 1024,
      maxEntries: opts.maxEntries ?? 4096,
      retentionMs: opts.retentionMs ?? 10 * 60 * 1000,
      pollMs: opts.pollMs ?? 1000,
    };
    this.warn = opts.warn ?? (() => {});
    this.cache = new MetaCache(this.o.maxEntries, this.o.retentionMs);
    this.splitter = new LineSplitter(this.o.maxLineBytes);
  }

  /** Replays the tail of the file, then follows it. Never throws (failures are counted). */
  start(): void {
    if (this.closed || this.fd >= 0 || this.timer) return;
    this.replaying = true;
    try {
      this.reopen(true);
    } finally {
      this.replaying = false;
    }
    this.emit('replayed');
    this.ensureWatch();
    if (this.o.pollMs > 0) {
      this.timer = setInterval(() => this.check(), this.o.pollMs);
      this.timer.unref();
    }
  }

  /** inotify on the directory (not the file: a rotation renames a new file over it). */
  private ensureWatch(): void {
    if (this.watcher || this.closed) return;
    try {
      const file = basename(this.path);
      this.watcher = watch(dirname(this.path), { persistent: false }, (t, f) => {
        if (f === null || f === file) this.checkSoon(t === 'change');
      });
      this.watcher.on('error', () => {
        // the directory went away: the poll goes on, and watches again once the file is back
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (e) {
      // no directory yet (podman has not run since boot): the poll watches for it
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail('watch', e);
    }
  }

  /**
   * One read for the changes inotify reported together (each appended line is an IN_MODIFY).
   * A 'change' of the open file is mostly an append: read on from the offset, no stat; when
   * there is nothing to read (a truncation in place), and on a rename (a rotation, a removal),
   * the full check.
   */
  private checkSoon(appended: boolean): void {
    if (!appended) this.fullCheck = true;
    if (this.checkQueued) return;
    this.checkQueued = true;
    setImmediate(() => {
      this.checkQueued = false;
      const full = this.fullCheck || this.fd < 0;
      this.fullCheck = false;
      if (full) {
        this.check();
        return;
      }
      if (this.closed) return;
      let n = 0;
      try {
        n = this.readAppended();
      } catch (e) {
        this.fail('read', e);
        return;
      }
      if (n === 0) this.check();
    });
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.timer);
    this.closeFd();
  }

  lookup(id: string, hint: RuntimeName): RuntimeMeta | null {
    if (hint !== 'podman' && hint !== 'unknown') return null;
    return this.cache.get(id) ?? null;
  }

  /** When the container exited as far as the events tell (ms; 0 = running or unknown). */
  exitedAt(id: string): number {
    return this.cache.exitedAt(id);
  }

  stats(): PodmanEventStats {
    return { ...this.cache.stats(), ...this.counters, oversized: this.splitter.oversized };
  }

  /** Reads what was appended, or the new file after a rotation. */
  check(): void {
    if (this.closed) return;
    try {
      let st: Stats;
      try {
        st = statSync(this.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        // removed (podman system reset, or mid-rotation): the next change reopens it
        if (this.fd >= 0) this.readAppended();
        this.closeFd();
        return;
      }
      if (this.fd < 0 || st.ino !== this.ino) {
        if (this.fd >= 0) this.readAppended(); // the old file's last lines first
        this.counters.rotations += this.fd >= 0 ? 1 : 0;
        this.reopen(false);
        return;
      }
      if (st.size < this.offset) {
        this.counters.rotations++;
        this.offset = 0;
        this.splitter.reset();
      }
      if (st.size > this.offset) this.readAppended();
    } catch (e) {
      this.fail('read', e);
    }
  }

  private reopen(replay: boolean): void {
    this.closeFd();
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail('open', e);
      return;
    }
    this.fd = fd;
    this.splitter.reset();
    this.beforeWindow = true;
    this.ensureWatch();
    try {
      const st = fstatSync(fd);
      this.ino = st.ino;
      this.offset = 0;
      if (replay && st.size > this.o.replayMaxBytes) {
        this.offset = st.size - this.o.replayMaxBytes;
        this.splitter.skipToNextLine();
      }
      this.readAppended();
    } catch (e) {
      this.fail('read', e);
    }
  }

  private closeFd(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    this.fd = -1;
    this.ino = -1;
  }

  /** Reads to the end of the file; returns the bytes read. */
  private readAppended(): number {
    let total = 0;
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, this.offset);
      if (n <= 0) return total;
      total += n;
      this.offset += n;
      this.counters.bytes += n;
      this.splitter.push(this.buf.subarray(0, n), (line) => this.onLine(line));
    }
  }

  private onLine(line: string): void {
    // the log is in time order: lines before the window are skipped without a JSON.parse
    if (this.beforeWindow) {
      const t = lineTime(line);
      if (t !== null && Date.now() - t > this.o.replayWindowMs) return;
      this.beforeWindow = false;
    }
    if (otherStatus(line)) return;
    const r = parsePodmanEventLine(line);
    if (!r.ok) {
      if (!r.ignored) this.counters.malformed++;
      return;
    }
    const ev = r.event;
    // bounded by time, not only by bytes: a replay, or a rotated file read from its start
    if (Date.now() - ev.time > this.o.replayWindowMs) return;
    if (this.apply(ev)) {
      this.counters.events++;
      const meta = this.cache.get(ev.id);
      if (meta) {
        try {
          this.emit('event', { status: ev.status, meta, time: ev.time, replay: this.replaying });
        } catch (e) {
          this.fail('listener', e);
        }
      }
    }
  }

  /** Applies one event to the cache; false when it is older than what the cache holds. */
  private apply(ev: PodmanEvent): boolean {
    const prev = this.cache.get(ev.id);
    switch (ev.status) {
      case 'create':
      case 'init':
      case 'start': {
        const meta: RuntimeMeta = {
          runtime: 'podman',
          id: ev.id,
          name: ev.name || prev?.name || ev.id.slice(0, 12),
          image: ev.image || prev?.image || '',
          initPid: 0,
          annotations: {},
          sandbox: false,
          bundle: '',
          containerdNamespace: '',
        };
        if (!this.cache.set(meta, ev.time)) return false;
        this.cache.markRunning(ev.id, ev.time);
        return true;
      }
      case 'died':
      case 'cleanup':
      case 'remove':
        // an exit of a container started before the replay window: nothing to name it by
        if (!prev) return false;
        return this.cache.markExited(ev.id, Math.min(ev.time, Date.now()), ev.time);
    }
  }

  private fail(what: string, e: unknown): void {
    this.counters.errors++;
    const code = (e as NodeJS.ErrnoException | null)?.code ?? '';
    const key = `${what}:${code}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(`podman events ${this.path}: ${what} failed: ${(e as Error)?.message ?? String(e)}`);
  }
}
