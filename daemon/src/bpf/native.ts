// Loads the N-API addon (daemon/native/*.c, built by daemon/native/build.sh into
// build/native/bpf_addon.node) and types its functions. Everything else in daemon/src/bpf goes
// through `native()`; nothing is loaded until first use, so importing this module is free.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque handles owned by the addon (freed by close/stop, or by GC finalizers). */
export type ObjectHandle = { readonly __brand: 'bpf-object' };
export type ReaderHandle = { readonly __brand: 'bpf-reader' };

export interface NativeGlobalInfo {
  name: string;
  section: '.rodata' | '.data' | '.bss';
  offset: number;
  size: number;
  /** resolved BTF kind: 'int' | 'bool' | 'char' | 'enum' | 'chars' (char[N]) | 'array' | 'pointer' | 'struct' | 'other' */
  kind: string;
  signed: boolean;
}

export interface NativeProgramInfo {
  name: string;
  section: string;
  type: number;
  autoload: boolean;
  attached: boolean;
}

export interface NativeMapSpecInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  internal: boolean;
}

export interface KernelMapInfo {
  id: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

export interface KernelProgInfo {
  id: number;
  type: number;
  name: string;
  tag: string;
  /** ids of the maps the program uses */
  mapIds: number[];
}

export interface KernelLinkInfo {
  id: number;
  /** enum bpf_link_type */
  type: number;
  /** the attached program (0 when the link was detached) */
  progId: number;
}

export interface ReaderStats {
  /** batches handed to JS, records and framed bytes in them */
  batches: number;
  records: number;
  bytes: number;
  /** batches handed over but not yet processed by JS */
  queued: number;
  /** times the reader thread waited because maxQueued batches were pending in JS */
  backpressureWaits: number;
  allocFailures: number;
  running: boolean;
}

export interface NativeReaderOptions {
  intervalMs?: number;
  budgetBytes?: number;
  maxQueued?: number;
}

/**
 * cb(batch, count) for data; cb(null, id) once flush request `id` is served; cb(null, 0) once
 * after stop, when nothing more will come.
 */
export type NativeReaderCallback = (batch: Buffer | null, n: number) => void;

export interface BpfAddon {
  open(path: string): ObjectHandle;
  objectName(h: ObjectHandle): string;
  globals(h: ObjectHandle): NativeGlobalInfo[];
  setGlobal(h: ObjectHandle, name: string, value: Uint8Array): void;
  getGlobal(h: ObjectHandle, name: string): Buffer;
  setMapMaxEntries(h: ObjectHandle, map: string, n: number): void;
  reuseMapFd(h: ObjectHandle, map: string, fd: number): void;
  setAutoload(h: ObjectHandle, prog: string, on: boolean): void;
  programs(h: ObjectHandle): NativeProgramInfo[];
  maps(h: ObjectHandle): NativeMapSpecInfo[];
  load(h: ObjectHandle): void;
  /** load() on a libuv worker thread; the object refuses other calls (EBUSY) until it settles */
  loadAsync(h: ObjectHandle): Promise<void>;
  attachAll(h: ObjectHandle): number;
  attach(h: ObjectHandle, prog: string): void;
  detach(h: ObjectHandle, prog: string): boolean;
  /** detach() with the links destroyed on a libuv worker thread (RCU waits off the loop) */
  detachAsync(h: ObjectHandle, prog: string): Promise<boolean>;
  iterRead(h: ObjectHandle, prog: string): Buffer;
  mapFd(h: ObjectHandle, map: string): number;
  progFd(h: ObjectHandle, prog: string): number;
  mapInfo(fd: number): KernelMapInfo;
  progInfo(fd: number): KernelProgInfo;
  /** BPF_PROG_TEST_RUN once on this thread; the program's return value */
  progTestRun(fd: number): number;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags?: number): void;
  mapDelete(fd: number, key: Uint8Array): boolean;
  mapLookup(fd: number, key: Uint8Array, valueSize: number): Buffer | null;
  mapLookupPerCpu(fd: number, key: Uint8Array, valueSize: number): Buffer | null;
  mapKeys(fd: number, keySize: number, max: number): Buffer[];
  pinMap(h: ObjectHandle, map: string, path: string): void;
  openPinned(path: string): number;
  closeFd(fd: number): void;
  pinLink(h: ObjectHandle, prog: string, path: string): void;
  openPinnedLink(path: string): number;
  linkInfo(fd: number): KernelLinkInfo;
  unpinLink(path: string): boolean;
  progFdById(id: number): number;
  startReader(
    h: ObjectHandle,
    map: string,
    cb: NativeReaderCallback,
    opts?: NativeReaderOptions,
  ): ReaderHandle;
  stopReader(r: ReaderHandle): void;
  readerFlush(r: ReaderHandle): number;
  readerStats(r: ReaderHandle): ReaderStats;
  readerRef(r: ReaderHandle, ref: boolean): void;
  close(h: ObjectHandle): void;
  /** close() with the links destroyed and the object freed on a libuv worker thread */
  closeAsync(h: ObjectHandle): Promise<void>;
  clockOffsetNs(): bigint;
  numPossibleCpus(): number;
  libbpfVersion(): string;
  /** ioctl(NS_GET_MNTNS_ID) on an ns/mnt link; null: gone, or a kernel before 6.8 (ns.c) */
  mntnsUid(path: string): number | null;
}

/** The package root: the nearest directory above this file holding a package.json. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** build/native/bpf_addon.node under the package root (GADGET_BPF_ADDON overrides). */
export function addonPath(): string {
  return (
    process.env['GADGET_BPF_ADDON'] ?? path.join(packageRoot(), 'build', 'native', 'bpf_addon.node')
  );
}

let cached: BpfAddon | undefined;

export function native(): BpfAddon {
  if (cached) return cached;
  const file = addonPath();
  if (!existsSync(file)) {
    const e = new Error(
      `bpf addon ${file} not found: build it with daemon/native/build.sh`,
    ) as Error & { code: string };
    e.code = 'ENOENT';
    throw e;
  }
  const require = createRequire(import.meta.url);
  cached = require(file) as BpfAddon;
  return cached;
}

/** CLOCK_REALTIME - CLOCK_BOOTTIME in ns: add to bpf_ktime_get_boot_ns() for wall time. */
export function clockOffsetNs(): bigint {
  return native().clockOffsetNs();
}

/**
 * The unique id of the mount namespace of `pid` (never reused, unlike its inode; the container
 * tracker's kernel record is keyed by it); null when the process is gone or the kernel cannot say.
 */
export function mntnsUid(pid: number, procRoot = '/proc'): number | null {
  return native().mntnsUid(`${procRoot}/${pid}/ns/mnt`);
}

export function numPossibleCpus(): number {
  return native().numPossibleCpus();
}
