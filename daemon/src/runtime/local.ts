// LocalRuntime runs gadgets in this process: used by the daemon behind gRPC and by `--local`.

import { existsSync, readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { getGadget, listAllGadgets } from '../../../gadgets/framework/registry.js';
import { gadgetConfig } from '../../../gadgets/framework/params.js';
import { gadgetLayoutPath, gadgetObjectPath } from '../../../gadgets/framework/paths.js';
import type { RecordLayout } from '../../../gadgets/framework/types.js';
import { RunError } from '../../../gadgets/framework/errors.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import type { ContainerRegistryOptions } from '../containers/registry.js';
import { filterMode, RunAdmission } from '../containers/admit.js';
import type {
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
} from '../../../gadgets/framework/runtime.js';
import { resolveParams } from '../../../gadgets/framework/resolve.js';
import { parseLabelSelector } from '../../../gadgets/framework/labels.js';
import { framedSize, RecordCursor } from '../../../proto/ts/records.js';
import { AsyncQueue } from './queue.js';
import { bpfDenied, SharedState, tracepointFull } from './shared.js';
import type { Collection } from '../bpf/index.js';
import { version } from '../../../gadgets/framework/version.js';
import { pinnedAliasMap, TraceloopRecorder } from '../traceloop/recorder.js';

export interface LocalRuntimeOptions {
  node?: string;
  /** container registry settings (poll interval, state dirs under a host root, ...) */
  registry?: ContainerRegistryOptions;
  /** run filter semantics: in Kubernetes mode, only pod processes unless --host */
  kubernetes?: boolean;
  /**
   * The node daemon: traceloop programs an earlier daemon left attached are adopted, so the
   * container tracker fills their alias map (recorder.ts, pinnedAliasMap).
   */
  daemon?: boolean;
}

/**
 * 16 MiB per run: at ~1M events/s, 10 ms polling and ~100-byte records that is 4x the rate x
 * record size x interval rule measured on this machine (a 4 MiB ring lost ~1%).
 */
const RING_BYTES = 16 << 20;

/** Batches queued for a slow consumer before whole batches are dropped (and reported). */
const MAX_QUEUED_BATCHES = 512;

export function preflight(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new RunError(
      'FAILED_PRECONDITION',
      'loading eBPF programs needs root: run with sudo, or use --remote to reach a running daemon',
    );
  }
  const btf = process.env.KGADGET_BTF_PATH ?? '/sys/kernel/btf/vmlinux';
  if (!existsSync(btf)) {
    throw new RunError(
      'FAILED_PRECONDITION',
      `this kernel has no BTF (${btf} is missing): kubectl-gadget needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    );
  }
}

export class LocalRuntime implements GadgetRuntime {
  private shared: SharedState | undefined;
  private recorder: TraceloopRecorder | undefined;
  readonly node: string;

  constructor(private readonly opts: LocalRuntimeOptions = {}) {
    this.node = opts.node ?? hostname();
  }

  private state(): SharedState {
    if (!this.shared) {
      preflight();
      const aliasMap = this.opts.daemon ? pinnedAliasMap() : undefined;
      try {
        this.shared = new SharedState(
          { pollMs: 1000, ...this.opts.registry },
          {
            aliasMap,
            warn: (m) => process.stderr.write(`warning: ${m}\n`),
          },
        );
      } finally {
        aliasMap?.close();
      }
    }
    return this.shared;
  }

  /**
   * The container registry (starts the shared state: needs root). Kubernetes mode feeds pod
   * labels and owners into it (daemon/src/k8s/pods.ts).
   */
  async containerRegistry(): Promise<SharedState['registry']> {
    const st = this.state();
    await st.ready();
    return st.registry;
  }

  async info(): Promise<NodeInfo> {
    const gadgets = await listAllGadgets();
    return {
      node: this.node,
      kernel: release(),
      version,
      gadgets: gadgets.map((g) => ({
        name: g.name,
        command: g.command,
        description: g.description,
      })),
    };
  }

  async listContainers(): Promise<ContainerInfo[]> {
    const st = this.state();
    await st.ready();
    return st.registry.list();
  }

  async *run(req: RunRequest, signal: AbortSignal): AsyncIterable<RunMessage> {
    const g = await getGadget(req.gadget).catch((e: Error) => {
      throw new RunError('NOT_FOUND', e.message);
    });
    const params = resolveParams(g, req.params);
    if (req.filter.labelSelector.trim() !== '') {
      try {
        parseLabelSelector(req.filter.labelSelector);
      } catch (e) {
        throw new RunError('INVALID_ARGUMENT', (e as Error).message);
      }
    }
    const st = this.state();
    await st.ready();
    const registry = st.registry;

    const config = gadgetConfig(g, params, { selfPid: process.pid });
    const mode = filterMode(req.filter, this.opts.kubernetes ?? false);

    const layout = JSON.parse(readFileSync(gadgetLayoutPath(g.name), 'utf8')) as RecordLayout;
    const mntnsField = layout.fields.find((f) => f.name === 'mntns_id');
    const pidField = layout.fields.find((f) => f.name === 'pid');
    if (!mntnsField || !pidField) throw new Error(`layout ${g.name}: no mntns_id/pid field`);
    const mntnsOff = mntnsField.offset;
    const pidOff = pidField.offset;
    // the namespace's unique id, where the gadget reports it: decisions and the client's join
    // of records to containers are keyed by it (inodes are reused)
    const uidField = layout.fields.find((f) => f.name === 'mntns_uid' && f.size === 8);
    const uidOff = uidField ? uidField.offset : -1;

    const spec = st.bpf.ObjectSpec.open(gadgetObjectPath(g.name));
    let coll: Collection | undefined;
    const queue = new AsyncQueue<RunMessage>();
    const cleanups: Array<() => void> = [];
    try {
      // the tracker's namespace hooks, for this run's kernel filter (shared.ts)
      cleanups.push(st.retainNamespaceHooks());
      for (const [k, v] of Object.entries(config.rodata)) spec.setGlobal(k, v);
      spec.setGlobal('gadget_filter_mode', mode);
      spec.setGlobal('gadget_self_tgid', process.pid);
      spec.setMapMaxEntries('events', RING_BYTES);
      st.shareMaps(spec);
      try {
        coll = spec.load();
      } catch (e) {
        throw bpfDenied(e) ?? e;
      }
      const filterMap = coll.map('gadget_mntns_filter');
      for (const [mapName, entries] of Object.entries(config.maps ?? {})) {
        const m = coll.map(mapName);
        for (const [k, v] of entries) m.update(Buffer.from(k), Buffer.from(v));
      }

      const adm = new RunAdmission(req.filter, mode, registry, filterMap);
      for (const c of registry.list()) if (c.state === 'running') adm.admit(c);
      const flushContainers = (): void => {
        if (adm.pending.length)
          queue.push({ kind: 'containers', containers: adm.pending.splice(0) });
      };
      const onAdded = (c: ContainerInfo): void => {
        adm.admit(c);
        flushContainers();
      };
      const onRemoved = (c: ContainerInfo): void => adm.removed(c);
      const onMntnsRemoved = (mntns: number): void => adm.forget(mntns);
      // pod labels and owners arrive from the pod watch, possibly after the container: a label
      // selector may start (or stop) matching, and the client gets the completed identity
      const onUpdated = (c: ContainerInfo): void => {
        if (c.state !== 'running') return;
        adm.admit(c);
        flushContainers();
      };
      registry.on('updated', onUpdated);
      registry.on('added', onAdded);
      registry.on('removed', onRemoved);
      registry.on('mntns-removed', onMntnsRemoved);
      cleanups.push(() => {
        registry.off('updated', onUpdated);
        registry.off('added', onAdded);
        registry.off('removed', onRemoved);
        registry.off('mntns-removed', onMntnsRemoved);
      });
      const decide = adm.decide;

      queue.push({
        kind: 'header',
        header: { gadget: g.name, node: this.node, layout, bootToWallNs: st.bpf.clockOffsetNs() },
      });
      flushContainers();

      let events = 0;
      let dropped = 0;
      const reader = coll.reader('events', (batch: Buffer, count: number) => {
        events += count;
        st.checkFresh();
        const kept = filterBatch(batch, count, mntnsOff, pidOff, decide, uidOff);
        flushContainers();
        if (kept.count === 0) return;
        if (queue.length > MAX_QUEUED_BATCHES) {
          dropped += kept.count;
          return;
        }
        queue.push({ kind: 'batch', records: kept.records, count: kept.count });
      });
      cleanups.push(() => void reader.stop());
      try {
        coll.attach();
      } catch (e) {
        throw tracepointFull(e, coll) ?? e;
      }

      let lastDropped = 0;
      const lostMap = coll.map('gadget_lost');
      const loaded = coll;
      const pushStats = (): void => {
        // the consumer may have gone (cancelled stream) and the collection closed meanwhile
        if (loaded.closed) return;
        queue.push({ kind: 'stats', stats: { events, lost: lostMap.perCpuSum(0) + dropped } });
        if (dropped > lastDropped) {
          queue.push({
            kind: 'log',
            level: 'warn',
            message: `${dropped - lastDropped} events dropped in user space: output too slow`,
          });
          lastDropped = dropped;
        }
      };
      const statsTimer = setInterval(pushStats, 1000);
      cleanups.push(() => clearInterval(statsTimer));

      let finishing = false;
      const finish = (reason: string): void => {
        if (finishing) return;
        finishing = true;
        // the reader drains what the kernel already produced before it ends
        void reader.stop().then(() => {
          if (g.drain && !loaded.closed) {
            const d = g.drain.toRecords(loaded.map(g.drain.map).entries(), layout);
            const kept = filterBatch(d.records, d.count, mntnsOff, pidOff, decide, uidOff);
            flushContainers();
            if (kept.count > 0)
              queue.push({ kind: 'batch', records: kept.records, count: kept.count });
          }
          pushStats();
          queue.push({ kind: 'done', reason });
          queue.end();
        });
      };
      if (req.timeoutSeconds > 0) {
        const t = setTimeout(() => finish('timeout'), req.timeoutSeconds * 1000);
        cleanups.push(() => clearTimeout(t));
      }
      if (signal.aborted) finish('cancelled');
      const onAbort = (): void => finish('cancelled');
      signal.addEventListener('abort', onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener('abort', onAbort));

      for await (const m of queue) {
        yield m;
      }
    } finally {
      for (const c of cleanups.reverse()) {
        try {
          c();
        } catch {
          /* keep closing the rest */
        }
      }
      coll?.close();
      spec.close();
    }
  }

  /** The daemon-wide traceloop recorder (created on first use). */
  traceloop(): TraceloopRecorder {
    if (!this.recorder) {
      const st = this.state();
      this.recorder = new TraceloopRecorder({
        registry: st.registry,
        // the registry's sources: what the runtime exec watch read names a container that
        // is gone before the recording is claimed (its files with it)
        sources: st.metadataSources,
        node: this.node,
        shareMaps: (spec) => st.shareMaps(spec),
        retainNamespaceHooks: () => st.retainNamespaceHooks(),
        // what an operator must know (programs not adopted, links not pinned, ...)
        log: (level, m) => {
          if (level !== 'info') process.stderr.write(`${level}: ${m}\n`);
        },
      });
    }
    return this.recorder;
  }

  async close(): Promise<void> {
    // traceloop keeps its pins: the next daemon resumes the recordings
    this.recorder?.close();
    this.recorder = undefined;
    this.shared?.close();
    this.shared = undefined;
  }
}

/**
 * Drops records whose mount namespace the run must not see (namespaces the kernel passed
 * because user space had not classified them yet). Returns the batch untouched when nothing
 * is dropped, which is the common case. A record too short to hold the mount namespace and pid
 * is left for the client to report (it decodes, the daemon does not).
 */
export function filterBatch(
  batch: Buffer,
  count: number,
  mntnsOff: number,
  pidOff: number,
  keep: (mntns: number, pid: number, uid: number) => boolean,
  /** offset of the u64 mntns_uid, -1 when the layout has none (uid 0) */
  uidOff = -1,
): { records: Buffer; count: number } {
  const c = new RecordCursor(batch, Math.max(mntnsOff + 8, pidOff + 4), () => undefined);
  let lastMntns = -1;
  let lastUid = -1;
  let lastKeep = true;
  let drops: number[] | undefined;
  for (let i = 0; i < count && c.next(); i++) {
    const rec = c.offset;
    const mntns =
      batch.readUInt32LE(rec + mntnsOff) + batch.readUInt32LE(rec + mntnsOff + 4) * 4294967296;
    const uid =
      uidOff < 0 || rec + uidOff + 8 > batch.length
        ? 0
        : batch.readUInt32LE(rec + uidOff) + batch.readUInt32LE(rec + uidOff + 4) * 4294967296;
    if (mntns !== lastMntns || uid !== lastUid) {
      lastKeep = keep(mntns, batch.readUInt32LE(rec + pidOff), uid);
      lastMntns = mntns;
      lastUid = uid;
    }
    if (!lastKeep) (drops ??= []).push(rec - 4, rec - 4 + framedSize(c.length));
  }
  if (!drops) return { records: batch, count };
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < drops.length; i += 2) {
    parts.push(batch.subarray(from, drops[i]));
    from = drops[i + 1]!;
  }
  parts.push(batch.subarray(from));
  return { records: Buffer.concat(parts), count: count - drops.length / 2 };
}
