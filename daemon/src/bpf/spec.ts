// ObjectSpec: an opened, not yet loaded .bpf.o: set globals, size/reuse maps, pick programs;
// load() turns it into a Collection.

import { Collection } from './collection.js';
import { encodeGlobal, type GlobalValue } from './encoding.js';
import { bpfError } from './errors.js';
import type { BpfMap } from './map.js';
import {
  native,
  type BpfAddon,
  type NativeGlobalInfo,
  type NativeMapSpecInfo,
  type NativeProgramInfo,
  type ObjectHandle,
} from './native.js';

type SpecState = 'open' | 'loading' | 'loaded' | 'closed';

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
      const s = this.state;
      throw bpfError(
        `${what}: object ${this.path} is ${s === 'loaded' ? 'already loaded' : s === 'loading' ? 'being loaded' : 'closed'}`,
        s === 'loaded' || s === 'loading' ? 'EBUSY' : 'EBADF',
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

  /**
   * load() off the event loop: the verifier runs on a libuv worker thread (it can take hundreds
   * of ms), so the process keeps serving meanwhile. close() during the load frees the object
   * once the load is over, and the promise then rejects with ECANCELED.
   */
  async loadAsync(): Promise<Collection> {
    const h = this.live('load');
    const name = this.name;
    this.state = 'loading';
    try {
      await this.addon.loadAsync(h);
    } catch (e) {
      this.state = 'open';
      this.close();
      throw e;
    }
    // close() may have run during the load (the object was freed when it was over)
    if ((this.state as SpecState) === 'closed')
      throw bpfError(`load ${name}: closed while loading`, 'ECANCELED');
    this.state = 'loaded';
    return new Collection(name, h, this.addon);
  }

  /** Frees the opened object if it was never loaded (or once its loadAsync is over). Idempotent. */
  close(): void {
    if (this.state === 'open' || this.state === 'loading') {
      this.state = 'closed';
      this.addon.close(this.handle);
    }
  }
}
