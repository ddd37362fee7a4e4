import type { RecordLayout } from '../../framework/types.js';

/** The record layout bpf/gen-layout.mjs derives from program.bpf.c's struct event. */
export const LAYOUT: RecordLayout = {
  struct: 'event',
  size: 112,
  fields: [
    { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
    { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
    { name: 'mntns_uid', kind: 'u64', offset: 16, size: 8 },
    { name: 'pid', kind: 'u32', offset: 24, size: 4 },
    { name: 'netns_id', kind: 'u32', offset: 28, size: 4 },
    { name: 'comm', kind: 'cstring', offset: 32, size: 16 },
    { name: 'first_seen', kind: 'u64', offset: 48, size: 8 },
    { name: 'count', kind: 'u64', offset: 56, size: 8 },
    { name: 'direction', kind: 'u8', offset: 64, size: 1 },
    { name: 'proto', kind: 'u8', offset: 65, size: 1 },
    { name: 'family', kind: 'u8', offset: 66, size: 1 },
    { name: 'source', kind: 'u8', offset: 67, size: 1 },
    { name: 'port', kind: 'u16', offset: 68, size: 2 },
    { name: 'lport', kind: 'u16', offset: 70, size: 2 },
    { name: 'rport', kind: 'u16', offset: 72, size: 2 },
    { name: 'pad', kind: 'u16', offset: 74, size: 2 },
    { name: 'laddr', kind: 'array', offset: 76, size: 16, elem: 'u8', count: 16 },
    { name: 'raddr', kind: 'array', offset: 92, size: 16, elem: 'u8', count: 16 },
    { name: 'dns_size', kind: 'u32', offset: 108, size: 4 },
    { name: 'dns', kind: 'bytes', offset: 112, size: 0 },
  ],
};
