// The container tracker's kernel record (bpf/container_tracker.bpf.c, gadget_mntns_cgroup): on
// the first exec in a mount namespace, the kernel notes the names of the task's cgroup and of its
// parent, keyed by the namespace's unique id. It outlives the process, so an event of a container
// that is already gone still leads to the container id (cgroup.ts parses the names).

import { matchCgroupPath, type CgroupMatch } from './cgroup.js';

/** One record, decoded. */
export interface MntnsRecord {
  /** leaf name of the task's cgroup (the deepest of v2, v1 pids, v1 memory) */
  cgroup: string;
  /** its parent's name ('' at the root) */
  cgroupParent: string;
  /** the namespace's inode then (inodes are reused later) */
  inode: number;
  /** boot-clock ns of the first exec */
  firstExecNs: bigint;
  /** tgid of the first exec */
  pid: number;
}

/** Size of struct gadget_mntns_record. */
export const MNTNS_RECORD_SIZE = 128 + 128 + 8 + 8 + 4 + 4;

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

export function decodeMntnsRecord(b: Buffer): MntnsRecord {
  if (b.length < MNTNS_RECORD_SIZE) throw new Error(`mntns record: ${b.length} bytes`);
  return {
    cgroup: cstr(b, 0, 128),
    cgroupParent: cstr(b, 128, 128),
    inode: Number(b.readBigUInt64LE(256)),
    firstExecNs: b.readBigUInt64LE(264),
    pid: b.readUInt32LE(272),
  };
}

/**
 * The container a record names, from its two cgroup names (the leaf holds the id, or on
 * systemd-driven podman the leaf is "container" under libpod-<id>.scope); null: not a container.
 */
export function recordCgroupMatch(r: MntnsRecord): CgroupMatch | null {
  const path = r.cgroupParent ? `/${r.cgroupParent}/${r.cgroup}` : `/${r.cgroup}`;
  return matchCgroupPath(path);
}
