import type { RecordLayout } from '../../framework/types.js';

/** The record layout bpf/gen-layout.mjs derives from program.bpf.c's struct event. */
export const LAYOUT: RecordLayout = {
  struct: 'event',
  size: 104,
  fields: [
    { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
    { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
    { name: 'pid', kind: 'u32', offset: 16, size: 4 },
    { name: 'netns_id', kind: 'u32', offset: 20, size: 4 },
    { name: 'comm', kind: 'cstring', offset: 24, size: 16 },
    { name: 'first_seen', kind: 'u64', offset: 40, size: 8 },
    { name: 'count', kind: 'u64', offset: 48, size: 8 },
    { name: 'direction', kind: 'u8', offset: 56, size: 1 },
    { name: 'proto', kind: 'u8', offset: 57, size: 1 },
    { name: 'family', kind: 'u8', offset: 58, size: 1 },
    { name: 'source', kind: 'u8', offset: 59, size: 1 },
    { name: 'port', kind: 'u16', offset: 60, size: 2 },
    { name: 'lport', kind: 'u16', offset: 62, size: 2 },
    { name: 'rport', kind: 'u16', offset: 64, size: 2 },
    { name: 'pad', kind: 'u16', offset: 66, size: 2 },
    { name: 'laddr', kind: 'array', offset: 68, size: 16, elem: 'u8', count: 16 },
    { name: 'raddr', kind: 'array', offset: 84, size: 16, elem: 'u8', count: 16 },
    { name: 'dns_size', kind: 'u32', offset: 100, size: 4 },
    { name: 'dns', kind: 'bytes', offset: 104, size: 0 },
  ],
};
