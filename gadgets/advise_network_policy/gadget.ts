// advise network-policy: the kernel side reports distinct flows per network namespace (counted in
// the kernel) and DNS answers; `advise network-policy monitor` (plugin/src/services/advise_network_policy)
// turns them into flow records for `report`, `verify` and `graph`. Run as a plain gadget it
// prints one row per flow report.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { COMMON_HIDDEN_COLUMNS, COMMON_LEADING_COLUMNS } from '../framework/columns.js';
import type { GadgetDescriptor, RawRecord } from '../framework/types.js';
import { formatAddr } from './addr.js';
import { parseDns, type DnsMessage } from './dns.js';
import { drainFlows } from './drain.js';

export const SOURCES = [
  '',
  'tcp-connect',
  'tcp-accept',
  'udp-connect',
  'udp-send',
  'udp-recv',
  'dns',
] as const;
export type FlowSource = Exclude<(typeof SOURCES)[number], ''>;

/** The transform's output: one flow report (count new since the previous one) or a DNS answer. */
export interface NetpolEvent {
  [k: string]: unknown;
  direction: 'egress' | 'ingress';
  protocol: 'TCP' | 'UDP';
  family: 4 | 6;
  local_ip: string;
  local_port: number;
  remote_ip: string;
  remote_port: number;
  /** destination port: the remote one for egress, the local one for ingress */
  port: number;
  netns: number;
  count: number;
  /** kernel boot-clock ns of the flow's first occurrence */
  first_seen_ns: number;
  source: FlowSource;
  /** source 'dns': the answer, parsed */
  dns?: DnsMessage;
}

const IPPROTO_TCP = 6;

function nsInode(link: string): number | undefined {
  const m = /\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

/**
 * netns inode -> (mntns, pid, comm) of a process in it, for accepted connections (attributed
 * by the socket's netns in softirq). The kernel keeps this current afterwards; this seeds it
 * with the servers already running. Prefers the newest process outside the host's mount
 * namespace (a pod's app container rather than its pause container).
 */
export function seedNetnsOwners(
  procRoot = '/proc',
  limit = 16384,
): Array<[Uint8Array, Uint8Array]> {
  let hostMnt: number | undefined;
  try {
    hostMnt = nsInode(readlinkSync(`${procRoot}/1/ns/mnt`));
  } catch {
    hostMnt = undefined;
  }
  const best = new Map<number, { mnt: number; pid: number; comm: string; inHost: boolean }>();
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  for (const d of pids) {
    const pid = Number(d);
    let net: number | undefined;
    let mnt: number | undefined;
    try {
      net = nsInode(readlinkSync(`${procRoot}/${d}/ns/net`));
      mnt = nsInode(readlinkSync(`${procRoot}/${d}/ns/mnt`));
    } catch {
      continue;
    }
    if (net === undefined || mnt === undefined) continue;
    const inHost = mnt === hostMnt;
    const have = best.get(net);
    if (have && (inHost && !have.inHost ? true : inHost === have.inHost && pid < have.pid))
      continue;
    let comm = '';
    try {
      comm = readFileSync(`${procRoot}/${d}/comm`, 'utf8').trim();
    } catch {
      // gone
    }
    best.set(net, { mnt, pid, comm, inHost });
  }
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (const [net, o] of best) {
    if (out.length >= limit) break;
    const k = Buffer.alloc(4);
    k.writeUInt32LE(net);
    // struct netns_owner_val { u64 mntns; u64 mntns_uid; u64 netns_uid; u32 pid; char comm[16];
    // u32 pad; }: the unique ids stay 0 (unknown): the kernel then takes the seed for any netns
    // of that inode, and its records are joined to containers by inode (a live process's own)
    const v = Buffer.alloc(48);
    v.writeBigUInt64LE(BigInt(o.mnt), 0);
    v.writeUInt32LE(o.pid, 24);
    Buffer.from(o.comm).copy(v, 28, 0, 15);
    out.push([k, v]);
  }
  return out;
}

export const descriptor: GadgetDescriptor = {
  command: ['advise', 'network-policy'],
  name: 'advise_network_policy',
  description: 'Observe network flows per pod to write and verify NetworkPolicies',
  docs: `TCP connections (both ends), UDP traffic (cgroup sock_addr hooks at the cgroup v2 root),
IPv4 and IPv6, and the pod's own DNS answers. Repeats are counted in the kernel: a flow is
reported when first seen and then at most every --report-interval with the new count. See
docs/network-policy.md.`,
  params: [
    {
      name: 'report-interval',
      type: 'int',
      default: '1000',
      description: 'Report a busy flow again at most every N milliseconds (with its new count)',
      validate(v) {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 10 || n > 3_600_000)
          throw new Error('expected 10 to 3600000 ms');
      },
    },
    {
      name: 'dns',
      type: 'bool',
      default: 'true',
      description: 'Capture DNS answers of the traced pods (names for peers)',
    },
  ],
  columns: [
    ...COMMON_LEADING_COLUMNS,
    { name: 'pid', width: 7, align: 'right' },
    { name: 'comm', width: 16 },
    { name: 'direction', header: 'DIR', width: 7 },
    { name: 'protocol', header: 'PROTO', width: 5 },
    { name: 'local_ip', header: 'LOCAL', width: 15 },
    { name: 'remote_ip', header: 'REMOTE', width: 15 },
    { name: 'port', width: 5, align: 'right' },
    { name: 'count', width: 5, align: 'right' },
    { name: 'source', width: 11 },
    ...COMMON_HIDDEN_COLUMNS,
    { name: 'netns', width: 10, hidden: true, align: 'right' },
    { name: 'local_port', width: 5, hidden: true, align: 'right' },
    { name: 'remote_port', width: 5, hidden: true, align: 'right' },
    { name: 'family', width: 2, hidden: true },
  ],
  configure(params) {
    return {
      rodata: {
        report_interval_ns: BigInt(Number(params['report-interval'] ?? '1000')) * 1_000_000n,
        capture_dns: params.dns !== 'false',
      },
      maps: { netns_owner: seedNetnsOwners(process.env.KGADGET_PROC_ROOT ?? '/proc') },
    };
  },
  transform(raw: RawRecord): NetpolEvent | null {
    const family = raw.family === 6 ? 6 : 4;
    const source = SOURCES[raw.source as number];
    if (!source) return null;
    const direction = raw.direction === 1 ? 'ingress' : 'egress';
    const protocol = raw.proto === IPPROTO_TCP ? 'TCP' : 'UDP';
    const ev: NetpolEvent = {
      direction,
      protocol,
      family,
      local_ip: formatAddr(raw.laddr as number[], family),
      local_port: raw.lport as number,
      remote_ip: formatAddr(raw.raddr as number[], family),
      remote_port: raw.rport as number,
      port: raw.port as number,
      netns: raw.netns_id as number,
      count: raw.count as number,
      first_seen_ns: raw.first_seen as number,
      source,
    };
    if (source === 'dns') {
      const msg = parseDns(raw.dns as Uint8Array, protocol === 'TCP');
      if (!msg || !msg.response) return null;
      ev.dns = msg;
    }
    return ev;
  },
};

/**
 * End-of-run drain: before closing the object the runtime reads the `flows` map and hands the
 * records from toRecords() to the run like a ring-buffer batch, so the counts of the last report
 * interval are not lost. See drain.ts.
 */
export const drain = { map: 'flows', toRecords: drainFlows } as const;
descriptor.drain = drain;
