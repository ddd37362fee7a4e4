// BPF objects from TypeScript, split like cilium/ebpf:
//   ObjectSpec  an opened, not yet loaded .bpf.o: set globals, size/reuse maps, pick programs
//   Collection  the loaded object: attach programs, operate on maps, read ring buffers
//   PinnedLink  a link pinned on bpffs (Collection.pinLinks), opened again by path
// Every kernel object lives behind fds owned by the addon; Collection.close() (or GC, or the
// process dying) releases them. Nothing is pinned unless pinMap() or pinLink() is called; a
// pinned link keeps its program attached after the process is gone, until unpinLink().

import { join } from 'node:path';
import {
  native,
  type BpfAddon,
  type KernelLinkInfo,
  type KernelMapInfo,
  type KernelProgInfo,
  type NativeGlobalInfo,
  type NativeMapSpecInfo,
  type NativeProgramInfo,
  type ObjectHandle,
  type ReaderHandle,
  type ReaderStats,
} from './native.js';

/** Errors thrown by the addon: `code` is the errno name (EPERM, ENOENT, ...). */
export interface BpfError extends Error {
  code: string;
  errno?: number;
  /** libbpf's log (warnings, verifier output) captured during the failed call */
  detail?: string;
  /** program that failed to load or attach */
  program?: string;
}

export function isBpfError(e: unknown): e is BpfError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

function bpfError(message: string, code: string): BpfError {
  const e = new Error(message) as BpfError;
  e.code = code;
  return e;
}

/** Prefixes an addon error's message (keeps code/errno/detail). */
function withContext(e: unknown, prefix: string): unknown {
  if (e instanceof Error) e.message = `${prefix}: ${e.message}`;
  return e;
}

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  PERCPU_CGROUP_STORAGE: 21,
  RINGBUF: 27,
} as const;

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
]);

/** Value of a global: integers per the variable's BTF size, bytes exactly sized, strings zero-padded. */
export type GlobalValue = number | bigint | boolean | Uint8Array | string;

/** A map key or value: bytes of exactly the map's size, or an integer encoded little-endian. */
export type MapBytes = Uint8Array | number | bigint | boolean;

function encodeInt(
  v: number | bigint | boolean,
  size: number,
  signed: boolean,
  what: string,
): Buffer {
  if (size < 1 || size > 8) {
    throw bpfError(`${what}: cannot encode an integer into ${size} bytes`, 'EINVAL');
  }
  let b: bigint;
  if (typeof v === 'boolean') b = v ? 1n : 0n;
  else if (typeof v === 'bigint') b = v;
  else {
    if (!Number.isSafeInteger(v)) throw bpfError(`${what}: ${v} is not a safe integer`, 'EINVAL');
    b = BigInt(v);
  }
  const bits = BigInt(size * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (b < min || b > max) {
    throw bpfError(
      `${what}: ${b} does not fit in ${signed ? 'a signed' : 'an unsigned'} ${size}-byte integer`,
      'ERANGE',
    );
  }
  let u = BigInt.asUintN(size * 8, b);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}

/** Encodes a global's value per its BTF description (exported for tests). */
export function encodeGlobal(info: NativeGlobalInfo, value: GlobalValue): Buffer {
  const what = `set global ${info.name}`;
  if (value instanceof Uint8Array) {
    if (value.length !== info.size) {
      throw bpfError(
        `${what}: value has ${value.length} bytes, variable has ${info.size}`,
        'EINVAL',
      );
    }
    return Buffer.from(value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > info.size) {
      throw bpfError(`${what}: "${value}" is longer than ${info.size} bytes`, 'ERANGE');
    }
    const out = Buffer.alloc(info.size);
    bytes.copy(out);
    return out;
  }
  const scalar = ['int', 'bool', 'char', 'enum'].includes(info.kind);
  if (!scalar) {
    throw bpfError(`${what}: a ${info.kind} variable needs a Uint8Array value`, 'EINVAL');
  }
  return encodeInt(value, info.size, info.signed, what);
}

function encodeMapBytes(v: MapBytes, size: number, what: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.length !== size)
      throw bpfError(`${what} has ${v.length} bytes, map needs ${size}`, 'EINVAL');
    return v;
  }
  return encodeInt(v, size, typeof v !== 'boolean' && v < 0, what);
}

interface Owner {
  readonly closed: boolean;
  readonly name: string;
}

/** A map of a loaded Collection (or a pinned map opened with openPinnedMap). */
export class BpfMap {
  readonly id: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  private readonly addon: BpfAddon;
  private ownFd: boolean;
  private fdClosed = false;

  /** @internal use Collection.map() or openPinnedMap() */
  constructor(
    readonly name: string,
    private readonly rawFd: number,
    private readonly owner: Owner | undefined,
    info: KernelMapInfo,
    ownFd: boolean,
  ) {
    this.addon = native();
    this.id = info.id;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.ownFd = ownFd;
  }

  get perCpu(): boolean {
    return PER_CPU_TYPES.has(this.type);
  }

  /** The map's fd (valid while its collection is open), e.g. for ObjectSpec.reuseMap. */
  get fd(): number {
    if (this.fdClosed || this.owner?.closed) {
      throw bpfError(
        `map ${this.name}: ${this.owner ? `collection ${this.owner.name}` : 'map'} is closed`,
        'EBADF',
      );
    }
    return this.rawFd;
  }

  private call<T>(fn: (fd: number) => T): T {
    const fd = this.fd;
    try {
      return fn(fd);
    } catch (e) {
      throw withContext(e, `map ${this.name}`);
    }
  }

  private key(k: MapBytes): Uint8Array {
    return encodeMapBytes(k, this.keySize, `map ${this.name}: key`);
  }

  private valueBytes(v: MapBytes): Uint8Array {
    if (this.perCpu && v instanceof Uint8Array) {
      const want = this.addon.numPossibleCpus() * ((this.valueSize + 7) & ~7);
      if (v.length !== want) {
        throw bpfError(
          `map ${this.name}: per-CPU value has ${v.length} bytes, needs ${want}`,
          'EINVAL',
        );
      }
      return v;
    }
    if (this.perCpu) {
      throw bpfError(`map ${this.name}: per-CPU values must be given as bytes`, 'EINVAL');
    }
    return encodeMapBytes(v, this.valueSize, `map ${this.name}: value`);
  }

  /** flags: BPF_ANY (default), BPF_NOEXIST, BPF_EXIST. Per-CPU maps take all CPUs' values. */
  update(key: MapBytes, value: MapBytes, flags: number = BPF_ANY): void {
    const k = this.key(key);
    const v = this.valueBytes(value);
    this.call((fd) => this.addon.mapUpdate(fd, k, v, flags));
  }

  /** False when the key was absent. */
  delete(key: MapBytes): boolean {
    const k = this.key(key);
    return this.call((fd) => this.addon.mapDelete(fd, k));
  }

  /** The value (a copy), or null when absent. Per-CPU maps: use lookupPerCpu. */
  lookup(key: MapBytes): Buffer | null {
    if (this.perCpu) {
      throw bpfError(`map ${this.name}: per-CPU map, use lookupPerCpu or perCpuSum`, 'EINVAL');
    }
    const k = this.key(key);
    return this.call((fd) => this.addon.mapLookup(fd, k, this.valueSize));
  }

  /** One value per possible CPU (each valueSize bytes), or null when absent. */
  lookupPerCpu(key: MapBytes): Buffer[] | null {
    if (!this.perCpu) throw bpfError(`map ${this.name}: not a per-CPU map`, 'EINVAL');
    const k = this.key(key);
    const raw = this.call((fd) => this.addon.mapLookupPerCpu(fd, k, this.valueSize));
    if (!raw) return null;
    const stride = (this.valueSize + 7) & ~7;
    const out: Buffer[] = [];
    for (let off = 0; off + stride <= raw.length; off += stride) {
      out.push(raw.subarray(off, off + this.valueSize));
    }
    return out;
  }

  /** Sum over CPUs of a u64 counter (per-CPU map with 8-byte values); 0 when absent. */
  perCpuSum(key: MapBytes = 0): number {
    if (this.valueSize !== 8) {
      throw bpfError(
        `map ${this.name}: perCpuSum needs 8-byte values, has ${this.valueSize}`,
        'EINVAL',
      );
    }
    const values = this.lookupPerCpu(key);
    let sum = 0n;
    for (const v of values ?? []) sum += v.readBigUInt64LE(0);
    return Number(sum);
  }

  /** Keys (copies), walking bpf_map_get_next_key; at most `max` (default maxEntries). */
  keys(max: number = this.maxEntries): Buffer[] {
    return this.call((fd) => this.addon.mapKeys(fd, this.keySize, max));
  }

  /** [key, value] pairs of a non-per-CPU map (entries deleted meanwhile are skipped). */
  entries(max: number = this.maxEntries): Array<[Buffer, Buffer]> {
    const out: Array<[Buffer, Buffer]> = [];
    for (const k of this.keys(max)) {
      const v = this.lookup(k);
      if (v) out.push([k, v]);
    }
    return out;
  }

  /** Closes the fd of a map opened with openPinnedMap (no-op for a collection's maps). */
  close(): void {
    if (this.ownFd && !this.fdClosed) {
      this.fdClosed = true;
      this.ownFd = false;
      this.addon.closeFd(this.rawFd);
    }
  }
}

/** Opens a pinned map (bpffs path); close() it when done. */
export function openPinnedMap(path: string): BpfMap {
  const addon = native();
  const fd = addon.openPinned(path);
  try {
    const info = addon.mapInfo(fd);
    return new BpfMap(info.name, fd, undefined, info, true);
  } catch (e) {
    addon.closeFd(fd);
    throw e;
  }
}

/** Kernel info of a program by id (name, tag, the ids of the maps it uses); needs CAP_SYS_ADMIN. */
function progInfoById(id: number): KernelProgInfo {
  const addon = native();
  const fd = addon.progFdById(id);
  try {
    return addon.progInfo(fd);
  } finally {
    addon.closeFd(fd);
  }
}

/**
 * A link pinned on bpffs, opened by path (openPinnedLink). Its program stays attached while the
 * pin or any fd holds the link: close() drops this process's hold only, unpin() ends the link.
 */
export class PinnedLink {
  readonly id: number;
  readonly type: number;
  /** the attached program's id (0: the link was detached) */
  readonly progId: number;
  private isClosed = false;

  /** @internal use openPinnedLink() */
  constructor(
    readonly path: string,
    private readonly rawFd: number,
    info: KernelLinkInfo,
    private readonly addon: BpfAddon,
  ) {
    this.id = info.id;
    this.type = info.type;
    this.progId = info.progId;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get fd(): number {
    return this.live('link');
  }

  private live(what: string): number {
    if (this.isClosed) throw bpfError(`${what} ${this.path}: closed`, 'EBADF');
    return this.rawFd;
  }

  /**
   * Kernel info of the attached program: name, tag, the ids of the maps it uses. Opening a
   * program by id needs CAP_SYS_ADMIN (EPERM without, e.g. in the gadget pod): the id alone
   * (progId) needs nothing.
   */
  program(): KernelProgInfo {
    this.live('link');
    if (!this.progId) throw bpfError(`link ${this.path}: no program attached`, 'ENOENT');
    try {
      return progInfoById(this.progId);
    } catch (e) {
      throw withContext(e, `link ${this.path}`);
    }
  }

  /**
   * Removes the pin and closes this fd: unless another fd holds the link, it ends now and its
   * program is detached before this returns. False when the pin was already gone.
   */
  unpin(): boolean {
    this.live('unpin link');
    const removed = this.addon.unpinLink(this.path);
    this.close();
    return removed;
  }

  /** Closes this process's fd; the pin (if any) keeps the link. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.addon.closeFd(this.rawFd);
  }
}

/**
 * Opens the link pinned at `path`; close() it when done. Throws `open pinned link <path>: ...`
 * with code ENOENT (no pin) or EINVAL (the pin is a map or a program, not a link).
 */
export function openPinnedLink(path: string): PinnedLink {
  const addon = native();
  const fd = addon.openPinnedLink(path);
  try {
    return new PinnedLink(path, fd, addon.linkInfo(fd), addon);
  } catch (e) {
    addon.closeFd(fd);
    throw e;
  }
}

/** Whether a link is pinned at `path` (false: nothing there, or another kind of object). */
export function isPinnedLink(path: string): boolean {
  try {
    openPinnedLink(path).close();
    return true;
  } catch (e) {
    if (isBpfError(e) && (e.code === 'ENOENT' || e.code === 'EINVAL')) return false;
    throw e;
  }
}

/**
 * Removes a link's pin (false: there was none). Unless another fd holds the link (a collection
 * that attached it, a PinnedLink), it ends now: its program is detached before this returns.
 * Throws EINVAL when the pin is not a link.
 */
export function unpinLink(path: string): boolean {
  return native().unpinLink(path);
}

export interface ReaderOptions {
  /** sleep between ring-buffer polls (default 10 ms) */
  intervalMs?: number;
  /** a batch is handed to JS once it holds this many framed bytes (default 512 KiB) */
  budgetBytes?: number;
  /** batches handed to JS and not yet processed before the thread waits (default 16) */
  maxQueued?: number;
  /** called when onBatch throws; without it the error becomes an uncaught exception */
  onError?: (err: unknown) => void;
  /** a running reader keeps the process alive, like a socket (default true); see RingReader.unref */
  keepAlive?: boolean;
}

/**
 * Receives framed batches (see records.ts), in order: `count` records of
 * [u32 length LE][payload][pad to 8]. The buffer is the handler's to keep.
 */
export type BatchHandler = (batch: Buffer, count: number) => void;

/** A ring-buffer reader thread of a Collection. */
export class RingReader {
  /** Resolves once the last batch after stop() (or collection close) was delivered. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly flushes = new Map<number, () => void>();
  private stopped = false;
  private ended = false;

  /** @internal use Collection.reader() */
  constructor(
    readonly map: string,
    private readonly addon: BpfAddon,
    start: (cb: (batch: Buffer | null, n: number) => void) => ReaderHandle,
    private readonly onBatch: BatchHandler,
    private readonly onError: ((err: unknown) => void) | undefined,
    private readonly onEnd: (r: RingReader) => void,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.handle = start((batch, n) => this.deliver(batch, n));
  }

  private readonly handle: ReaderHandle;

  get running(): boolean {
    return !this.stopped;
  }

  private deliver(batch: Buffer | null, n: number): void {
    if (batch) {
      try {
        this.onBatch(batch, n);
      } catch (e) {
        if (this.onError) this.onError(e);
        else throw e;
      }
      return;
    }
    if (n > 0) {
      // flush markers arrive in order: every request up to n is served
      for (const [id, resolve] of this.flushes) {
        if (id <= n) {
          this.flushes.delete(id);
          resolve();
        }
      }
      return;
    }
    this.ended = true;
    this.stopped = true;
    for (const resolve of this.flushes.values()) resolve();
    this.flushes.clear();
    this.onEnd(this);
    this.resolveDone();
  }

  /** Resolves once every record the kernel had committed when called was delivered. */
  flush(): Promise<void> {
    if (this.stopped || this.ended) return this.done;
    const id = this.addon.readerFlush(this.handle);
    if (id === 0) return this.done;
    return new Promise((resolve) => this.flushes.set(id, resolve));
  }

  /**
   * Stops the thread now (it drains the ring first). The remaining batches are delivered
   * after this returns; the promise resolves after the last one. Idempotent.
   */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.addon.stopReader(this.handle);
    }
    return this.done;
  }

  /** @internal the collection closed: the addon already stopped the thread */
  markStopped(): void {
    this.stopped = true;
  }

  stats(): ReaderStats {
    return this.addon.readerStats(this.handle);
  }

  /** Lets the process exit while this reader runs (like timer.unref()). */
  unref(): this {
    this.addon.readerRef(this.handle, false);
    return this;
  }

  ref(): this {
    this.addon.readerRef(this.handle, true);
    return this;
  }
}

type SpecState = 'open' | 'loaded' | 'closed';

/** An opened, not yet loaded BPF object. */
export class ObjectSpec {
  private state: SpecState = 'open';
  private globalsCache: NativeGlobalInfo[] | undefined;

  /** @internal use ObjectSpec.open() */
  constructor(
    readonly path: string,
    private readonly handle: ObjectHandle,
    private readonly addon: BpfAddon,
  ) {}

  /** Opens (parses) a .bpf.o; throws e.g. `open /x.bpf.o: No such file or directory` (ENOENT). */
  static open(path: string): ObjectSpec {
    const addon = native();
    return new ObjectSpec(path, addon.open(path), addon);
  }

  /** libbpf's object name (the file name up to its first dot). */
  get name(): string {
    return this.addon.objectName(this.handle);
  }

  private live(what: string): ObjectHandle {
    if (this.state !== 'open') {
      throw bpfError(
        `${what}: object ${this.path} is ${this.state === 'loaded' ? 'already loaded' : 'closed'}`,
        this.state === 'loaded' ? 'EBUSY' : 'EBADF',
      );
    }
    return this.handle;
  }

  globals(): NativeGlobalInfo[] {
    this.globalsCache ??= this.addon.globals(this.live('globals'));
    return this.globalsCache;
  }

  programs(): NativeProgramInfo[] {
    return this.addon.programs(this.live('programs'));
  }

  maps(): NativeMapSpecInfo[] {
    return this.addon.maps(this.live('maps'));
  }

  hasGlobal(name: string): boolean {
    return this.globals().some((g) => g.name === name);
  }

  hasMap(name: string): boolean {
    return this.maps().some((m) => m.name === name);
  }

  hasProgram(name: string): boolean {
    return this.programs().some((p) => p.name === name);
  }

  /**
   * Sets a global (`const volatile` in .rodata, or .data/.bss) before load. Numbers, bigints and
   * booleans are encoded per the variable's BTF size and signedness; Uint8Array must match the
   * size exactly; strings are UTF-8, zero-padded (not necessarily NUL-terminated when full).
   */
  setGlobal(name: string, value: GlobalValue): this {
    const h = this.live(`set global ${name}`);
    const info = this.globals().find((g) => g.name === name);
    if (!info) throw bpfError(`set global ${name}: no such variable in ${this.name}`, 'ENOENT');
    this.addon.setGlobal(h, name, encodeGlobal(info, value));
    return this;
  }

  /** The current (initial) value of a global. */
  getGlobal(name: string): Buffer {
    return this.addon.getGlobal(this.live(`get global ${name}`), name);
  }

  /** Sets max_entries (ring buffers: size in bytes, rounded up to a power-of-2 pages). */
  setMapMaxEntries(map: string, n: number): this {
    this.addon.setMapMaxEntries(this.live(`set max entries ${map}`), map, n);
    return this;
  }

  /** Makes `map` use an existing map (fd is duplicated; the source may be closed later). */
  reuseMap(map: string, from: number | BpfMap): this {
    const fd = typeof from === 'number' ? from : from.fd;
    this.addon.reuseMapFd(this.live(`reuse map ${map}`), map, fd);
    return this;
  }

  setAutoload(prog: string, on: boolean): this {
    this.addon.setAutoload(this.live(`set autoload ${prog}`), prog, on);
    return this;
  }

  /**
   * Loads maps and programs into the kernel. The Collection takes over the object: this spec
   * cannot be used afterwards (close() becomes a no-op). On failure the object is closed and
   * the error (`load <name>: <errno>`, with `.detail` = libbpf/verifier log) is thrown.
   */
  load(): Collection {
    const h = this.live('load');
    const name = this.name;
    try {
      this.addon.load(h);
    } catch (e) {
      this.close();
      throw e;
    }
    this.state = 'loaded';
    return new Collection(name, h, this.addon);
  }

  /** Frees the opened object if it was never loaded. Idempotent; no-op after load(). */
  close(): void {
    if (this.state === 'open') {
      this.state = 'closed';
      this.addon.close(this.handle);
    }
  }
}

/** A loaded BPF object: programs (attached with attach()), maps, ring-buffer readers. */
export class Collection {
  private isClosed = false;
  private readonly mapCache = new Map<string, BpfMap>();
  private readonly readers = new Set<RingReader>();

  /** @internal use ObjectSpec.load() */
  constructor(
    readonly name: string,
    private readonly handle: ObjectHandle,
    private readonly addon: BpfAddon,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  private live(what: string): ObjectHandle {
    if (this.isClosed) throw bpfError(`${what}: collection ${this.name} is closed`, 'EBADF');
    return this.handle;
  }

  /**
   * Attaches every autoloaded, not yet attached program (auto-attach from its SEC); returns how
   * many. All-or-nothing: on `attach <prog>: ...` errors the links of this call are destroyed.
   */
  attach(): number {
    return this.addon.attachAll(this.live('attach'));
  }

  attachProgram(prog: string): void {
    this.addon.attach(this.live(`attach ${prog}`), prog);
  }

  /** Destroys the program's links; false when it was not attached. */
  detachProgram(prog: string): boolean {
    return this.addon.detach(this.live(`detach ${prog}`), prog);
  }

  programs(): NativeProgramInfo[] {
    return this.addon.programs(this.live('programs'));
  }

  /** Kernel info (id, tag) of a loaded program. */
  programInfo(prog: string): KernelProgInfo {
    return this.addon.progInfo(this.addon.progFd(this.live(`program ${prog}`), prog));
  }

  hasMap(name: string): boolean {
    return this.addon.maps(this.live('maps')).some((m) => m.name === name);
  }

  map(name: string): BpfMap {
    const h = this.live(`map ${name}`);
    let m = this.mapCache.get(name);
    if (!m) {
      const fd = this.addon.mapFd(h, name);
      m = new BpfMap(name, fd, this, this.addon.mapInfo(fd), false);
      this.mapCache.set(name, m);
    }
    return m;
  }

  /** Runtime update of a .data/.bss global (.rodata is frozen after load). */
  setGlobal(name: string, value: GlobalValue): void {
    const h = this.live(`set global ${name}`);
    const info = this.addon.globals(h).find((g) => g.name === name);
    if (!info) throw bpfError(`set global ${name}: no such variable in ${this.name}`, 'ENOENT');
    this.addon.setGlobal(h, name, encodeGlobal(info, value));
  }

  /**
   * Starts a reader thread on a ring-buffer map. Batches reach onBatch in order, every
   * ~intervalMs (sooner under load). Stop it with reader.stop() or close().
   */
  reader(mapName: string, onBatch: BatchHandler, opts: ReaderOptions = {}): RingReader {
    const h = this.live(`reader ${mapName}`);
    const { onError, keepAlive, ...nativeOpts } = opts;
    const r = new RingReader(
      mapName,
      this.addon,
      (cb) => this.addon.startReader(h, mapName, cb, nativeOpts),
      onBatch,
      onError,
      (done) => this.readers.delete(done),
    );
    this.readers.add(r);
    if (keepAlive === false) r.unref();
    return r;
  }

  /** Runs an attached iter/ program and returns what it wrote. */
  iterRead(prog: string): Buffer {
    return this.addon.iterRead(this.live(`iter ${prog}`), prog);
  }

  /** Pins a map on bpffs (it then outlives the process until unlinked). */
  pinMap(name: string, path: string): void {
    this.addon.pinMap(this.live(`pin map ${name}`), name, path);
  }

  /**
   * Pins the link of an attached program on bpffs: the program then stays attached after
   * close() and after the process is gone, until unpinLink(path). Errors: `pin link <prog>: not
   * attached` (ENOENT), `pin link <prog> at <path>: File exists` (EEXIST), ...
   */
  pinLink(prog: string, path: string): void {
    this.addon.pinLink(this.live(`pin link ${prog}`), prog, path);
  }

  /**
   * Pins the link of every attached program as `<dir>/<prefix><program>`; returns the paths.
   * All-or-nothing: when one fails, the pins made by this call are removed (the links stay
   * attached through this collection) and the error is thrown.
   */
  pinLinks(dir: string, prefix = ''): string[] {
    const done: string[] = [];
    try {
      for (const p of this.programs()) {
        if (!p.attached) continue;
        const path = join(dir, prefix + p.name);
        this.pinLink(p.name, path);
        done.push(path);
      }
    } catch (e) {
      for (const path of done) unpinLink(path);
      throw e;
    }
    return done;
  }

  /**
   * Stops readers (their last batches are still delivered, after this returns), destroys every
   * link, closes the object (its programs and maps go away unless pinned or reused). Idempotent.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const r of this.readers) r.markStopped();
    this.addon.close(this.handle);
  }
}

/** Records lost kernel-side (ring full): the sum of the per-CPU `gadget_lost` counter. */
export function readLost(collection: Collection): number {
  return collection.map('gadget_lost').perCpuSum(0);
}

/** CLOCK_REALTIME - CLOCK_BOOTTIME in ns: add to bpf_ktime_get_boot_ns() for wall time. */
export function clockOffsetNs(): bigint {
  return native().clockOffsetNs();
}

export function numPossibleCpus(): number {
  return native().numPossibleCpus();
}
