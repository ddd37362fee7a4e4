// `advise network-policy monitor`: runs the advise_network_policy gadget, folds its flow reports
// into flow records, shows them live (-o columns) and writes them as NDJSON (--output FILE, kept
// current every few seconds and complete at the end; -o json prints them on stdout at the end).

import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { GadgetRuntime, RunMessage, RunRequest } from '#gadgets/framework/runtime.js';
import { descriptor, type NetpolEvent } from '#gadgets/advise_network_policy/gadget.js';
import type { ColumnSpec } from '#gadgets/framework/types.js';
import { fsReason, UserError } from '../../errors.js';
import { escapeControl } from '../../output/escape.js';
import { writeText } from '../../output/file-out.js';
import type { ObjectSink, Reporter } from '../../output/types.js';
import { RunStream, type RunNode } from '../../pipeline/stream.js';
import { FlowAggregator } from './aggregate.js';
import { endpointName, flowKey, formatFlows, mergeFlows, type FlowRecord } from './flow.js';
import { ResolverChain } from './identity.js';

export const FLOW_COLUMNS: ColumnSpec[] = [
  { name: 'node', header: 'K8S.NODE', width: 8, hidden: true },
  { name: 'local', width: 16 },
  { name: 'direction', header: 'DIR', width: 7 },
  { name: 'peer', width: 16, flex: true },
  { name: 'protocol', header: 'PROTO', width: 5 },
  { name: 'port', width: 5, align: 'right' },
  { name: 'port_name', header: 'PORTNAME', width: 8, hidden: true },
  { name: 'count', width: 5, align: 'right' },
  { name: 'peer_kind', header: 'KIND', width: 8 },
  { name: 'peer_ip', header: 'PEER.IP', width: 15, hidden: true },
  { name: 'dns', header: 'DNS', width: 10, hidden: true },
  { name: 'first_seen', width: 24, hidden: true },
  { name: 'last_seen', width: 24, hidden: true },
];

/** A flow as a live row (text from recorded data escaped: the row may go to a terminal). */
export function flowRow(f: FlowRecord): Record<string, unknown> {
  return {
    node: escapeControl(f.node),
    local: escapeControl(endpointName(f.local)),
    direction: f.direction,
    peer: escapeControl(endpointName(f.peer)),
    protocol: f.protocol,
    port: f.port,
    port_name: escapeControl(f.port_name ?? ''),
    count: f.count,
    peer_kind: f.peer.kind,
    peer_ip: f.peer.ip,
    dns: escapeControl((f.dns_queries ?? f.peer.dns_names ?? []).join(',')),
    first_seen: f.first_seen,
    last_seen: f.last_seen,
  };
}

export interface MonitorOptions {
  request: RunRequest;
  /** resolved gadget params */
  params: Record<string, string>;
  resolver: ResolverChain;
  /** NDJSON flow file, rewritten every flushMs and at the end */
  outputFile?: string;
  /**
   * live rows (columns): a flow's row after each report that added to it, with the count over
   * every node and a `key` field (flowKey) naming the row to update
   */
  live?: ObjectSink;
  /** print the final records as NDJSON here (-o json) */
  jsonOut?: Writable;
  reporter: Reporter;
  signal: AbortSignal;
  flushMs?: number;
  keepLoopback?: boolean;
  /** called once the gadget is attached and reporting (tests start traffic then) */
  onStarted?: () => void;
}

export interface MonitorResult {
  flows: FlowRecord[];
  reason: string;
  events: number;
  lost: number;
}

/** Replaces the file at once (a reader never sees half of it); on failure no temp file stays. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The --output file could not be written: what it holds now, in one line. */
function flowFileError(
  path: string,
  e: unknown,
  flows: number,
  saved: { flows: number; at: Date } | undefined,
): UserError {
  const kept = saved
    ? `it keeps the ${saved.flows} flow(s) of the last complete write (${saved.at.toISOString()})`
    : 'nothing was written to it';
  return new UserError(
    `cannot write the flows to ${path}: ${fsReason(e)}; ${kept}, ${flows} flow(s) seen in all`,
  );
}

/**
 * The container a flow report ran in, as the stream gadgets join it (pipeline.ts): by the mount
 * namespace unique id when the record has one (inodes are reused: a new container may hold a
 * dead one's), by inode for records without one (an older object, a seeded netns owner) or for
 * containers of an older daemon that sent no uid. A uid the daemon did not announce is the host.
 */
export function containerOf(
  node: RunNode<unknown>,
  mntns: number,
  uid: unknown,
): ContainerInfo | undefined {
  if (typeof uid === 'number' && uid > 0) {
    const c = node.byUid.get(uid);
    if (c) return c;
    const byInode = node.containers.get(mntns);
    return byInode && !byInode.mntnsUid ? byInode : undefined;
  }
  return node.containers.get(mntns);
}

export async function runMonitor(
  runtime: GadgetRuntime,
  opts: MonitorOptions,
): Promise<MonitorResult> {
  // the stream keeps each node's header, decoder and containers (a Kubernetes-mode fan-in sends
  // a header per node); a node's flows fold into its own aggregator, made at its first header
  let started = false;
  const stream = new RunStream<FlowAggregator>({
    init: (node, prev) => {
      if (!started) {
        started = true;
        opts.onStarted?.();
      }
      return (
        prev ??
        new FlowAggregator({
          resolver: opts.resolver,
          node: node.name,
          bootToWallNs: node.bootToWallNs,
          ...(opts.keepLoopback ? { keepLoopback: true } : {}),
        })
      );
    },
    warn: (m) => opts.reporter.warn(m),
  });
  let events = 0;
  let lost = 0;
  let reason = 'ended';
  let dirty = false;
  const records = (): FlowRecord[] => {
    const all = [...stream.nodes.values()].flatMap((n) => n.data.records());
    return stream.nodes.size > 1 ? mergeFlows(all) : all;
  };
  // a write that fails (a full disk) ends the run: the error says what the file still holds
  const ac = new AbortController();
  const signal = AbortSignal.any([opts.signal, ac.signal]);
  let writeError: UserError | undefined;
  let saved: { flows: number; at: Date } | undefined;
  const save = (flows: FlowRecord[]): void => {
    try {
      writeAtomic(opts.outputFile!, formatFlows(flows));
      saved = { flows: flows.length, at: new Date() };
    } catch (e) {
      writeError ??= flowFileError(opts.outputFile!, e, flows.length, saved);
      ac.abort();
    }
  };
  const flush = (): void => {
    if (opts.outputFile && dirty && !writeError) {
      save(records());
      dirty = false;
    }
  };
  const timer = opts.outputFile ? setInterval(flush, opts.flushMs ?? 5000) : undefined;
  // the file merges a flow's records of every node: so does its live row
  const liveRow = (f: FlowRecord): Record<string, unknown> => {
    const key = flowKey(f);
    let count = 0;
    for (const n of stream.nodes.values()) count += n.data.countOf(key);
    return { ...flowRow(f), count, key };
  };

  const handle = async (m: RunMessage): Promise<void> => {
    switch (m.kind) {
      case 'header':
        stream.header(m.header);
        return;
      case 'containers':
        stream.containers(m);
        return;
      case 'batch': {
        const node = stream.nodeOf(m);
        const agg = node.data;
        const { decode } = node;
        /** flows this batch added to: one live row each */
        const live = new Set<FlowRecord>();
        const c = stream.records(node, m.records);
        while (c.next()) {
          const raw = decode(c.batch, c.offset, c.length);
          const ev = descriptor.transform(raw, opts.params) as NetpolEvent | null;
          events++;
          if (!ev) continue;
          const mntns = raw.mntns_id as number;
          const container = containerOf(node, mntns, raw.mntns_uid);
          const u = agg.add(ev, {
            mntns,
            pid: raw.pid as number,
            comm: raw.comm as string,
            timestampNs: raw.timestamp as bigint,
            ...(container ? { container } : {}),
          });
          if (u && u.delta > 0) {
            dirty = true;
            live.add(u.flow);
          }
        }
        if (live.size && opts.live) await opts.live.write([...live].map(liveRow));
        opts.reporter.totals?.({ events, lost, dropped: 0 });
        return;
      }
      case 'stats':
        if (m.stats.lost > lost) {
          opts.reporter.warn(
            `${m.stats.lost - lost} flow reports lost in the kernel (ring buffer full)`,
          );
          lost = m.stats.lost;
          opts.reporter.totals?.({ events, lost, dropped: 0 });
        }
        return;
      case 'log':
        opts.reporter.log(m.level, m.message);
        return;
      case 'done':
        reason = m.reason;
        return;
    }
  };

  try {
    for await (const m of runtime.run(opts.request, signal)) {
      await handle(m);
      if (m.kind === 'done' || writeError) break;
    }
  } catch (e) {
    if (!signal.aborted) throw e;
    reason = 'interrupted';
  } finally {
    if (timer) clearInterval(timer);
  }
  if (writeError) {
    await opts.live?.end();
    throw writeError;
  }
  const flows = records();
  if (opts.outputFile) save(flows);
  if (writeError) {
    await opts.live?.end();
    throw writeError;
  }
  // `-o json > FILE`: whole lines only, and a full disk is an error (file-out.ts)
  if (opts.jsonOut) await writeText(opts.jsonOut, formatFlows(flows));
  await opts.live?.end();
  if (opts.signal.aborted && reason === 'ended') reason = 'interrupted';
  return { flows, reason, events, lost };
}
