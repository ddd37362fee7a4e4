// BpfMap: a map of a loaded Collection, or a pinned map opened by path (openPinnedMap).

import { encodeMapBytes, type MapBytes } from './encoding.js';
import { bpfError, withContext } from './errors.js';
import { native, type BpfAddon, type KernelMapInfo } from './native.js';

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
