// daemon/src/bpf: BPF objects over the native addon (daemon/native/*.c), split like cilium/ebpf:
//   spec.ts        ObjectSpec: an opened, not yet loaded .bpf.o (globals, map sizes, programs)
//   collection.ts  Collection: the loaded object (attach, maps, ring-buffer readers, pins)
//   map.ts         BpfMap: a map of a collection, or a pinned map opened by path
//   link.ts        PinnedLink: a link pinned on bpffs, opened again by path
//   ringbuf.ts     RingReader: a ring-buffer reader thread of a collection
// The framing of the reader's batches is the wire contract's: proto/ts/records.ts (re-exported).
export { Collection, readLost } from './collection.js';
export { encodeGlobal, type GlobalValue, type MapBytes } from './encoding.js';
export { isBpfError, type BpfError } from './errors.js';
export { isPinnedLink, openPinnedLink, PinnedLink, unpinLink } from './link.js';
export { BPF_ANY, BPF_EXIST, BPF_NOEXIST, BpfMap, MapType, openPinnedMap } from './map.js';
export {
  addonPath,
  clockOffsetNs,
  mntnsUid,
  native,
  numPossibleCpus,
  packageRoot,
  type KernelLinkInfo,
  type KernelMapInfo,
  type KernelProgInfo,
  type NativeGlobalInfo,
  type NativeMapSpecInfo,
  type NativeProgramInfo,
  type ReaderStats,
} from './native.js';
export {
  forEachRecord,
  frameRecords,
  framedSize,
  RecordCursor,
  splitRecords,
} from '../../../proto/ts/records.js';
export { RingReader, type BatchHandler, type ReaderOptions } from './ringbuf.js';
export { ObjectSpec } from './spec.js';
