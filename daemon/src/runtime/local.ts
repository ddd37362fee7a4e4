// LocalRuntime runs gadgets in this process: used by the daemon behind gRPC and by `--local`.

import { existsSync, readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { getGadget, listAllGadgets } from '../../../gadgets/framework/registry.js';
import { gadgetLayoutPath } from '../../../gadgets/framework/paths.js';
import type {
  GadgetDescriptor,
  RecordFilter,
  RecordLayout,
} from '../../../gadgets/framework/types.js';
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
import { parseKernelFilters } from '../../../gadgets/framework/pushdown.js';
import type { FieldFilter } from '../../../gadgets/framework/field-filter.js';
import { framedSize, RecordCursor } from '../../../proto/ts/records.js';
import { AsyncQueue } from './queue.js';
import { SharedState } from './shared.js';
import { GadgetInstance, type InstanceRun } from './gadget-instance.js';
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
 * 16 MiB per loaded gadget (shared by its runs): at ~1M events/s, 10 ms polling and ~100-byte records that is 4x the rate x
 * record size x interval rule measured on this machine (a 4 MiB ring lost ~1%).
 */
const RING_BYTES = 16 << 20;

/** What a run follows of the container registry (one set of registry listeners for all runs). */
interface RunHooks {
  added(c: ContainerInfo): void;
  removed(c: ContainerInfo): void;
  updated(c: ContainerInfo): void;
  mntnsRemoved(mntns: number): void;
}

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
  /** every loaded (or loading) gadget instance */
  private readonly instances = new Set<GadgetInstance>();
  /** the instance runs of each shared gadget join */
  private readonly byGadget = new Map<string, GadgetInstance>();
  private loadCount = 0;
  private readonly layouts = new Map<string, RecordLayout>();
  private readonly hooks = new Set<RunHooks>();

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
      const reg = this.shared.registry;
      reg.on('added', (c) => this.hooks.forEach((h) => h.added(c)));
      reg.on('removed', (c) => this.hooks.forEach((h) => h.removed(c)));
      reg.on('updated', (c) => this.hooks.forEach((h) => h.updated(c)));
      reg.on('mntns-removed', (n) => this.hooks.forEach((h) => h.mntnsRemoved(n)));
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

  /**
   * BPF object loads of gadget instances since this runtime started (one per gadget while runs
   * share it; one per run for a gadget loaded per run). Not counted: the container tracker and
   * traceloop.
   */
  get loads(): number {
    return this.loadCount;
  }

  /** The gadgets loaded now, with the runs sharing each (diagnostics, tests). */
  loadedGadgets(): Array<{ gadget: string; runs: number }> {
    return [...this.instances].map((i) => ({ gadget: i.gadget.name, runs: i.size }));
  }

  private layoutOf(name: string): RecordLayout {
    let l = this.layouts.get(name);
    if (!l) {
      l = JSON.parse(readFileSync(gadgetLayoutPath(name), 'utf8')) as RecordLayout;
      this.layouts.set(name, l);
    }
    return l;
  }

  /** The shared instance of a gadget (loaded by its first run), or a new one of a run's own. */
  private instanceFor(g: GadgetDescriptor, layout: RecordLayout, st: SharedState): GadgetInstance {
    if (g.shared) {
      const have = this.byGadget.get(g.name);
      if (have && !have.closed) return have;
    }
    const inst = new GadgetInstance(g, layout, !!g.shared, {
      ringBytes: RING_BYTES,
      selfPid: process.pid,
      shareMaps: (spec) => st.shareMaps(spec),
      beforeBatch: () => st.checkFresh(),
      onLoad: () => void (this.loadCount += 1),
      onClose: (i) => {
        this.instances.delete(i);
        if (this.byGadget.get(g.name) === i) this.byGadget.delete(g.name);
      },
    });
    this.instances.add(inst);
    if (g.shared) this.byGadget.set(g.name, inst);
    return inst;
  }

  async *run(req: RunRequest, signal: AbortSignal): AsyncIterable<RunMessage> {
    // a stream cancelled before its run got going loads and attaches nothing
    const cancelled: RunMessage = { kind: 'done', reason: 'cancelled' };
    if (signal.aborted) {
      yield cancelled;
      return;
    }
    const g = await getGadget(req.gadget).catch((e: Error) => {
      throw new RunError('NOT_FOUND', e.message);
    });
    const params = resolveParams(g, req.params);
    let kernelFilters: FieldFilter[];
    try {
      kernelFilters = parseKernelFilters(req.kernelFilters ?? [], g.kernelFilterFields);
    } catch (e) {
      throw new RunError('INVALID_ARGUMENT', (e as Error).message);
    }
    if (req.filter.labelSelector.trim() !== '') {
      try {
        parseLabelSelector(req.filter.labelSelector);
      } catch (e) {
        throw new RunError('INVALID_ARGUMENT', (e as Error).message);
      }
    }
    if (signal.aborted) {
      yield cancelled;
      return;
    }
    const st = this.state();
    await st.ready();
    if (signal.aborted) {
      yield cancelled;
      return;
    }
    const registry = st.registry;
    const mode = filterMode(req.filter, this.opts.kubernetes ?? false);

    const layout = this.layoutOf(g.name);
    const mntnsField = layout.fields.find((f) => f.name === 'mntns_id');
    const pidField = layout.fields.find((f) => f.name === 'pid');
    if (!mntnsField || !pidField) throw new Error(`layout ${g.name}: no mntns_id/pid field`);
    const mntnsOff = mntnsField.offset;
    const pidOff = pidField.offset;
    // the namespace's unique id, where the gadget reports it: decisions and the client's join
    // of records to containers are keyed by it (inodes are reused)
    const uidField = layout.fields.find((f) => f.name === 'mntns_uid' && f.size === 8);
    const uidOff = uidField ? uidField.offset : -1;
    // this run's own filter over what the kernel passes for every run of the gadget
    const recordFilter = g.shared?.recordFilter?.(params, layout);

    const queue = new AsyncQueue<RunMessage>();
    const cleanups: Array<() => void> = [];
    let events = 0;
    let dropped = 0;
    let adm: RunAdmission | undefined;
    const flushContainers = (): void => {
      if (adm?.pending.length)
        queue.push({ kind: 'containers', containers: adm.pending.splice(0) });
    };
    let detached = false;
    let runError: unknown;
    const member: InstanceRun = {
      params,
      mode,
      kernelFilters,
      deliver: (batch, count, exact) => {
        if (detached || !adm) return;
        events += count;
        const kept = filterBatch(
          batch,
          count,
          mntnsOff,
          pidOff,
          adm.decide,
          uidOff,
          exact ? undefined : recordFilter,
        );
        flushContainers();
        if (kept.count === 0) return;
        if (queue.length > MAX_QUEUED_BATCHES) {
          dropped += kept.count;
          return;
        }
        queue.push({ kind: 'batch', records: kept.records, count: kept.count });
      },
      failed: (e) => {
        if (detached) return;
        detached = true;
        runError = e;
        queue.end();
      },
    };
    // the tracker's unshare hooks feed the kernel filter's namespace bookkeeping while runs last
    cleanups.push(st.retainNamespaceHooks());
    try {
      const inst = this.instanceFor(g, layout, st);
      const filterMap = inst.join(member);
      cleanups.push(() => inst.leave(member));
      const a = new RunAdmission(req.filter, mode, registry, filterMap);
      adm = a;
      for (const c of registry.list()) if (c.state === 'running') a.admit(c);
      const hooks: RunHooks = {
        added: (c) => {
          a.admit(c);
          flushContainers();
        },
        removed: (c) => a.removed(c),
        mntnsRemoved: (mntns) => a.forget(mntns),
        // pod labels and owners arrive from the pod watch, possibly after the container: a label
        // selector may start (or stop) matching, and the client gets the completed identity
        updated: (c) => {
          if (c.state !== 'running') return;
          a.admit(c);
          flushContainers();
        },
      };
      this.hooks.add(hooks);
      cleanups.push(() => this.hooks.delete(hooks));

      queue.push({
        kind: 'header',
        header: { gadget: g.name, node: this.node, layout, bootToWallNs: st.bpf.clockOffsetNs() },
      });
      flushContainers();

      // the first run of a gadget loads it (off the event loop) and attaches it; later runs find
      // it attached. A cancel meanwhile ends this run at once; the load is freed when over.
      let onAbortWait: (() => void) | undefined;
      const abortWait = new Promise<void>((resolve) => {
        onAbortWait = () => resolve();
        signal.addEventListener('abort', onAbortWait, { once: true });
      });
      cleanups.push(() => signal.removeEventListener('abort', onAbortWait!));
      await Promise.race([inst.start(), abortWait]);
      const lost0 = signal.aborted ? 0 : inst.lost();

      let lastDropped = 0;
      const fullCount = (): number => Object.values(st.mapFull).reduce((x, y) => x + y, 0);
      let lastFull = 0;
      const pushStats = (): void => {
        const full = fullCount();
        if (full > lastFull) {
          const maps = Object.keys(st.mapFull).join(', ');
          queue.push({
            kind: 'log',
            level: 'warn',
            message: `node's container map full (${maps}): ${full} mount namespaces not in the kernel's maps, their events may be missed by container filters`,
          });
          lastFull = full;
        }
        // kernel losses are the shared ring's: those since this run started
        queue.push({
          kind: 'stats',
          stats: { events, lost: Math.max(0, inst.lost() - lost0) + dropped },
        });
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
        const end = async (): Promise<void> => {
          if (inst.shared) {
            // what the kernel already produced reaches this run before it ends
            await inst.flush();
          } else {
            // a run's own instance: its reader drains, then the gadget's aggregation map
            const d = await inst.finishPrivate().catch(() => undefined);
            if (d) {
              const kept = filterBatch(d.records, d.count, mntnsOff, pidOff, a.decide, uidOff);
              flushContainers();
              if (kept.count > 0)
                queue.push({ kind: 'batch', records: kept.records, count: kept.count });
            }
          }
          detached = true;
          inst.leave(member);
          pushStats();
          queue.push({ kind: 'done', reason });
          queue.end();
        };
        void end();
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
      if (runError !== undefined) throw runError;
    } finally {
      detached = true;
      for (const c of cleanups.reverse()) {
        try {
          c();
        } catch {
          /* keep closing the rest */
        }
      }
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
    for (const i of [...this.instances]) i.close();
    // traceloop keeps its pins: the next daemon resumes the recordings
    this.recorder?.close();
    this.recorder = undefined;
    this.shared?.close();
    this.shared = undefined;
  }
}

/**
 * Drops records whose mount namespace the run must not see (namespaces the kernel passed
 * because user space had not classified them yet, or another run sharing the gadget wanted), and
 * applies the run's own record filter (`recordFilter`: keep, drop, or a rewritten payload).
 * Returns the batch untouched when nothing changes, which is the common case. A record too short
 * to hold the mount namespace and pid is left for the client to report (it decodes, the daemon
 * does not).
 */
export function filterBatch(
  batch: Buffer,
  count: number,
  mntnsOff: number,
  pidOff: number,
  keep: (mntns: number, pid: number, uid: number) => boolean,
  /** offset of the u64 mntns_uid, -1 when the layout has none (uid 0) */
  uidOff = -1,
  recordFilter?: RecordFilter,
): { records: Buffer; count: number } {
  const c = new RecordCursor(batch, Math.max(mntnsOff + 8, pidOff + 4), () => undefined);
  let lastMntns = -1;
  let lastUid = -1;
  let lastKeep = true;
  // the output, once a record is dropped or rewritten: one buffer written in place (every run
  // filters every batch; per-record buffers and a concat made the daemon's GC pause for
  // hundreds of ms with 100 runs)
  let out: Buffer | undefined;
  let w = 0;
  /** bytes of the batch before `from` that are not in `out` */
  let skipped = 0;
  let from = 0;
  let drops = 0;
  const put = (bytes: number): void => {
    if (!out) {
      out = Buffer.allocUnsafe(Math.max(batch.length - skipped, bytes));
    } else if (w + bytes > out.length) {
      const bigger = Buffer.allocUnsafe(w + bytes + (batch.length - from));
      out.copy(bigger, 0, 0, w);
      out = bigger;
    }
  };
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
    const v = lastKeep && recordFilter ? recordFilter(batch, rec, c.length) : lastKeep;
    if (v === true) continue;
    // dropped or rewritten: the batch up to this record, then the new payload, framed
    const start = rec - 4;
    if (start > from) {
      put(start - from);
      w += batch.copy(out!, w, from, start);
    }
    if (!out) skipped += start + framedSize(c.length) - from;
    from = start + framedSize(c.length);
    if (v === false) {
      drops++;
      continue;
    }
    const size = framedSize(v.length);
    put(size);
    out!.writeUInt32LE(v.length, w);
    out!.set(v, w + 4);
    out!.fill(0, w + 4 + v.length, w + size);
    w += size;
  }
  if (from === 0) return { records: batch, count };
  if (batch.length > from) {
    put(batch.length - from);
    w += batch.copy(out!, w, from);
  }
  return { records: out ? out.subarray(0, w) : Buffer.alloc(0), count: count - drops };
}
