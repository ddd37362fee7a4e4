// Collection: a loaded BPF object (ObjectSpec.load()): attach programs, operate on maps, read
// ring buffers. Every kernel object lives behind fds owned by the addon; close() (or GC, or the
// process dying) releases them. Nothing is pinned unless pinMap() or pinLink() is called; a
// pinned link keeps its program attached after the process is gone, until unpinLink().

import { join } from 'node:path';
import { encodeGlobal, type GlobalValue } from './encoding.js';
import { bpfError } from './errors.js';
import { unpinLink } from './link.js';
import { BpfMap } from './map.js';
import {
  type BpfAddon,
  type KernelProgInfo,
  type NativeProgramInfo,
  type ObjectHandle,
} from './native.js';
import { RingReader, type BatchHandler, type ReaderOptions } from './ringbuf.js';

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

  /**
   * detachProgram() without holding the event loop: the program reads as not attached at once,
   * its links are destroyed on a worker thread (a perf-event tracepoint's detach waits for RCU
   * grace periods). Resolves false when it was not attached.
   */
  detachProgramAsync(prog: string): Promise<boolean> {
    return this.addon.detachAsync(this.live(`detach ${prog}`), prog);
  }

  /** Runs a loaded program once on this thread (BPF_PROG_TEST_RUN: raw_tp, syscall, ...). */
  testRun(prog: string): number {
    return this.addon.progTestRun(this.addon.progFd(this.live(`test run ${prog}`), prog));
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
   * close(), with the slow part off the event loop: readers stop here; the links are destroyed
   * and the object closed on a worker thread (detaching from a perf-event tracepoint waits for
   * RCU grace periods: seconds on a loaded machine). Closed at once for callers; the promise
   * resolves once the kernel objects are released. Idempotent.
   */
  closeAsync(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    this.isClosed = true;
    for (const r of this.readers) r.markStopped();
    return this.addon.closeAsync(this.handle);
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
