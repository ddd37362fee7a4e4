// Kernel flow reports -> flow records (one per key), with identities resolved at capture time
// and DNS names from the pod's own lookups attached to the peers they resolved to.

import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { NetpolEvent } from '#gadgets/advise_network_policy/gadget.js';
import { FLOW_SCHEMA, canonicalFlow, flowKey, sortFlows, type FlowRecord } from './flow.js';
import { isLoopback, type ResolverChain } from './identity.js';
import { normalizeIp } from './ip.js';

export interface EventMeta {
  mntns: number;
  pid: number;
  comm: string;
  /** kernel boot-clock ns of the report (the flow's last occurrence) */
  timestampNs: bigint;
  container?: ContainerInfo;
}

export interface AggregatorOptions {
  resolver: ResolverChain;
  node: string;
  /** add to a boot-clock ns timestamp to get unix-epoch ns */
  bootToWallNs: bigint;
  /** keep flows whose peer is a loopback address (same network namespace; default false) */
  keepLoopback?: boolean;
}

export interface FlowUpdate {
  flow: FlowRecord;
  /** occurrences added by this report */
  delta: number;
  /** first report of this flow */
  added: boolean;
}

function iso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

export class FlowAggregator {
  private readonly flows = new Map<string, FlowRecord>();
  /** netns -> address -> names it was an answer for */
  private readonly names = new Map<number, Map<string, Set<string>>>();
  /** flow key -> netns of its local end (for names) */
  private readonly netnsOf = new Map<string, Set<number>>();
  /** reports dropped as loopback */
  loopback = 0;

  constructor(private readonly opts: AggregatorOptions) {}

  get size(): number {
    return this.flows.size;
  }

  /** The count so far of the flow with this key (0 if not seen). */
  countOf(key: string): number {
    return this.flows.get(key)?.count ?? 0;
  }

  /** Folds one transformed kernel report in; returns what changed (undefined if dropped). */
  add(ev: NetpolEvent, meta: EventMeta): FlowUpdate | undefined {
    const remote = normalizeIp(ev.remote_ip);
    if (!remote) return undefined;
    if (!this.opts.keepLoopback && isLoopback(remote)) {
      this.loopback++;
      return undefined;
    }
    if (ev.source === 'dns' && ev.dns) this.learnNames(ev.netns, ev.dns);

    const { resolver, node } = this.opts;
    const local = resolver.local({
      node,
      netns: ev.netns,
      mntns: meta.mntns,
      pid: meta.pid,
      comm: meta.comm,
      ip: ev.local_ip,
      ...(meta.container ? { container: meta.container } : {}),
    });
    const answer = resolver.peer(remote, {
      node,
      direction: ev.direction,
      protocol: ev.protocol,
      port: ev.port,
      local,
    });
    let port = ev.port;
    let portName: string | undefined;
    if (ev.direction === 'egress') {
      if (answer.port !== undefined) port = answer.port;
      portName = answer.portName;
    } else {
      portName = resolver.localPortName(local, ev.port, ev.protocol);
    }
    const first = iso(this.opts.bootToWallNs + BigInt(ev.first_seen_ns));
    const last = iso(this.opts.bootToWallNs + meta.timestampNs);
    const f: FlowRecord = {
      schema: FLOW_SCHEMA,
      node,
      direction: ev.direction,
      protocol: ev.protocol,
      port,
      ...(portName ? { port_name: portName } : {}),
      local,
      peer: answer.endpoint,
      count: 0,
      first_seen: first,
      last_seen: last,
    };
    const key = flowKey(f);
    let have = this.flows.get(key);
    const added = !have;
    if (!have) {
      this.flows.set(key, (have = f));
      this.netnsOf.set(key, new Set([ev.netns]));
    } else {
      this.netnsOf.get(key)?.add(ev.netns);
      if (first < have.first_seen) have.first_seen = first;
      if (last > have.last_seen) have.last_seen = last;
      for (const p of local.pods ?? [])
        if (!have.local.pods?.includes(p)) (have.local.pods ??= []).push(p);
    }
    // a DNS answer is not a datagram of its own: it only names the lookup of an existing flow
    const delta = ev.source === 'dns' ? (added ? 1 : 0) : ev.count;
    have.count += delta;
    if (ev.source === 'dns' && ev.dns?.qname) {
      const q = new Set(have.dns_queries ?? []);
      q.add(ev.dns.qname.toLowerCase());
      have.dns_queries = [...q].sort();
    }
    return { flow: have, delta, added };
  }

  private learnNames(netns: number, msg: NonNullable<NetpolEvent['dns']>): void {
    let m = this.names.get(netns);
    if (!m) this.names.set(netns, (m = new Map()));
    // every name on the CNAME chain from the question to an address
    const chain = new Set([msg.qname.toLowerCase()]);
    for (const a of msg.answers) if (a.type === 'CNAME') chain.add(a.data.toLowerCase());
    for (const a of msg.answers) {
      if (a.type !== 'A' && a.type !== 'AAAA') continue;
      const ip = normalizeIp(a.data);
      if (!ip) continue;
      let s = m.get(ip);
      if (!s) m.set(ip, (s = new Set()));
      for (const n of chain) s.add(n);
      s.add(a.name.toLowerCase());
    }
  }

  /** The flow records so far: canonical, sorted, DNS names attached to the peers. */
  records(): FlowRecord[] {
    const out: FlowRecord[] = [];
    for (const [key, f] of this.flows) {
      const names = new Set<string>();
      if (f.peer.ip) {
        for (const ns of this.netnsOf.get(key) ?? []) {
          for (const n of this.names.get(ns)?.get(f.peer.ip) ?? []) names.add(n);
        }
      }
      const c = canonicalFlow(f);
      if (names.size) c.peer.dns_names = [...names].sort();
      out.push(c);
    }
    return sortFlows(out);
  }
}
