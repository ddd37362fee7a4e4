// daemon/src/bpf: BPF objects over the native addon (daemon/native/bpf_addon.c).
export {
  BPF_ANY,
  BPF_EXIST,
  BPF_NOEXIST,
  BpfMap,
  Collection,
  MapType,
  ObjectSpec,
  RingReader,
  clockOffsetNs,
  encodeGlobal,
  isBpfError,
  numPossibleCpus,
  openPinnedMap,
  readLost,
  type BatchHandler,
  type BpfError,
  type GlobalValue,
  type MapBytes,
  type ReaderOptions,
} from './collection.js';
export {
  addonPath,
  native,
  packageRoot,
  type KernelMapInfo,
  type KernelProgInfo,
  type NativeGlobalInfo,
  type NativeMapSpecInfo,
  type NativeProgramInfo,
  type ReaderStats,
} from './native.js';
export { forEachRecord, frameRecords, framedSize, splitRecords } from './records.js';
