// One loaded, attached gadget per node, shared by every run of it (issue 13): each run used to
// load its own copy with its own 16 MiB ring buffer, and 64 runs filled a tracepoint's program
// slots. An instance is loaded when its first run starts (off the event loop: ObjectSpec.loadAsync)
// and closed when its last run ends, so nothing stays loaded. Its one ring-buffer reader hands
// each batch to every run (LocalRuntime.run's part: the run's own container decision and its
// gadget's record filter, then its queue).
//
// The kernel filter is the union of what the live runs want, in mutable globals (.bss) and the
// gadget_mntns_filter map:
//   - params: the gadget's shared.globals(params of every run) (e.g. a "drop failed" flag only
//     when every run set it, prefixes as a union when they fit, else none);
//   - -F: the expressions the gadget's program can apply (pushdown.ts), one slot per distinct
//     run filter, so an event passes when one run's might; off once a run has none (the client
//     applies all its -F again, so its output stays exact);
//   - containers: FilterUnion below (INCLUDE: namespaces any run includes; EXCLUDE: namespaces
//     every run excludes; NONE as soon as one run wants everything or INCLUDE and EXCLUDE mix).
// A run whose own configuration is the kernel's gets the records as they are; the others (and
// every run while a change settles) apply their exact filter in user space.
//
// Gadgets without `shared` (they aggregate per run in kernel maps: advise network-policy's
// flows and drain) get a private instance per run, configured from its params as before.

import type { GadgetDescriptor, RecordLayout } from '../../../gadgets/framework/types.js';
import { gadgetConfig } from '../../../gadgets/framework/params.js';
import { gadgetObjectPath } from '../../../gadgets/framework/paths.js';
import { kernelFilterGlobals } from '../../../gadgets/framework/pushdown.js';
import type { FieldFilter } from '../../../gadgets/framework/field-filter.js';
import * as bpf from '../bpf/index.js';
import {
  FILTER_EXCLUDE,
  FILTER_INCLUDE,
  FILTER_NONE,
  type FilterMode,
  type MntnsFilterMap,
} from '../containers/admit.js';
import { bpfDenied, tracepointFull } from './shared.js';

export type GlobalValues = Record<string, number | boolean | bigint | Uint8Array>;

/** Writes the kernel's container filter: the mode global and the gadget_mntns_filter map. */
export interface KernelFilterSink {
  setMode(mode: FilterMode): void;
  update(mntns: number): void;
  delete(mntns: number): void;
}

/** One run's set of mount namespaces, kept by its RunAdmission as if it were the kernel map. */
export class RunFilterSet implements MntnsFilterMap {
  readonly keys = new Set<number>();

  constructor(
    private readonly union: FilterUnion,
    readonly mode: FilterMode,
  ) {}

  update(key: Buffer): void {
    const k = Number(key.readBigUInt64LE(0));
    if (this.keys.has(k)) return;
    this.keys.add(k);
    this.union.count(this.mode, k, 1);
  }

  delete(key: Buffer): void {
    const k = Number(key.readBigUInt64LE(0));
    if (!this.keys.delete(k)) return;
    this.union.count(this.mode, k, -1);
  }
}

/**
 * The kernel's container filter for the runs sharing an instance: a superset of what each run
 * wants (each decides its own records again in user space, RunAdmission.decide).
 */
export class FilterUnion {
  private readonly runsByMode = [0, 0, 0];
  /** namespace -> INCLUDE runs that include it */
  private readonly include = new Map<number, number>();
  /** namespace -> EXCLUDE runs that exclude it */
  private readonly exclude = new Map<number, number>();
  /** what the kernel map holds (written through the sink) */
  private readonly inKernel = new Set<number>();
  private kernelMode: FilterMode | undefined;
  private sink: KernelFilterSink | undefined;

  /** The mode the kernel must run: NONE once a run wants everything or INCLUDE and EXCLUDE mix. */
  get mode(): FilterMode {
    const [none, inc, exc] = this.runsByMode as [number, number, number];
    if (none > 0 || (inc > 0 && exc > 0)) return FILTER_NONE;
    if (exc > 0) return FILTER_EXCLUDE;
    return FILTER_INCLUDE;
  }

  /** The namespaces the kernel map holds now (tests, diagnostics). */
  kernelKeys(): number[] {
    return [...this.inKernel].sort((a, b) => a - b);
  }

  /** A run joins: its set, for its RunAdmission. */
  join(mode: FilterMode): RunFilterSet {
    this.runsByMode[mode]! += 1;
    this.apply();
    return new RunFilterSet(this, mode);
  }

  /** A run ends: its namespaces leave the union. */
  leave(set: RunFilterSet): void {
    const counts = this.counts(set.mode);
    for (const k of set.keys) {
      const n = (counts?.get(k) ?? 0) - 1;
      if (n > 0) counts?.set(k, n);
      else counts?.delete(k);
    }
    set.keys.clear();
    this.runsByMode[set.mode]! -= 1;
    this.apply();
  }

  /** @internal a run's set changed */
  count(mode: FilterMode, key: number, delta: 1 | -1): void {
    const counts = this.counts(mode);
    if (!counts) return;
    const n = (counts.get(key) ?? 0) + delta;
    if (n > 0) counts.set(key, n);
    else counts.delete(key);
    // EXCLUDE: a namespace leaves the kernel map when one run stops excluding it; any change
    // of an INCLUDE count only touches that key
    this.sync(key);
  }

  /** Starts writing the kernel (once the object is loaded): the whole map, then the mode. */
  attach(sink: KernelFilterSink): void {
    this.sink = sink;
    this.kernelMode = undefined;
    this.apply();
  }

  private counts(mode: FilterMode): Map<number, number> | undefined {
    return mode === FILTER_INCLUDE
      ? this.include
      : mode === FILTER_EXCLUDE
        ? this.exclude
        : undefined;
  }

  private want(key: number, mode: FilterMode): boolean {
    if (mode === FILTER_INCLUDE) return this.include.has(key);
    if (mode === FILTER_EXCLUDE) return this.exclude.get(key) === this.runsByMode[FILTER_EXCLUDE];
    return false;
  }

  private sync(key: number): void {
    const sink = this.sink;
    if (!sink || this.kernelMode !== this.mode) return;
    const w = this.want(key, this.kernelMode);
    if (w && !this.inKernel.has(key)) {
      sink.update(key);
      this.inKernel.add(key);
    } else if (!w && this.inKernel.has(key)) {
      sink.delete(key);
      this.inKernel.delete(key);
    }
  }

  /** After runs join or leave: the whole map again, and the mode (through NONE when it changes). */
  private apply(): void {
    const sink = this.sink;
    if (!sink) return;
    const mode = this.mode;
    const change = mode !== this.kernelMode;
    // the map is rewritten while the kernel passes everything: no run misses a record meanwhile
    if (change && this.kernelMode !== FILTER_NONE) sink.setMode(FILTER_NONE);
    for (const k of [...this.inKernel]) {
      if (!this.want(k, mode)) {
        sink.delete(k);
        this.inKernel.delete(k);
      }
    }
    for (const k of mode === FILTER_INCLUDE ? this.include.keys() : this.exclude.keys()) {
      if (mode !== FILTER_NONE && !this.inKernel.has(k) && this.want(k, mode)) {
        sink.update(k);
        this.inKernel.add(k);
      }
    }
    if (change) {
      if (mode !== FILTER_NONE) sink.setMode(mode);
      this.kernelMode = mode;
    }
  }
}

/** Two global configurations are the same (values compared, bytes by content). */
export function sameGlobals(a: GlobalValues, b: GlobalValues): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x = a[k];
    const y = b[k];
    if (x instanceof Uint8Array || y instanceof Uint8Array) {
      if (!(x instanceof Uint8Array && y instanceof Uint8Array)) return false;
      if (Buffer.compare(x, y) !== 0) return false;
    } else if (x !== y) {
      return false;
    }
  }
  return true;
}

/** A run as the instance sees it (LocalRuntime.run's per-run part). */
export interface InstanceRun {
  /** resolved params */
  readonly params: Record<string, string>;
  /** filterMode of its request */
  readonly mode: FilterMode;
  /** its -F expressions the kernel can apply (pushdown.ts); none: it wants every event */
  readonly kernelFilters?: readonly FieldFilter[];
  /**
   * A batch as read (shared by every run: read-only). `exact`: the kernel filtered it exactly as
   * for this run alone, so the run's record filter can be skipped.
   */
  deliver(batch: Buffer, count: number, exact: boolean): void;
  /** deliver threw: the run ends with this error */
  failed(err: unknown): void;
}

export interface InstanceOptions {
  /** ring buffer bytes */
  ringBytes: number;
  /** the daemon's pid, never traced */
  selfPid: number;
  /** points the object's daemon-wide maps at the container tracker's (SharedState.shareMaps) */
  shareMaps(spec: bpf.ObjectSpec): void;
  /** before each batch (SharedState.checkFresh) */
  beforeBatch(): void;
  /** a BPF object load starts (LocalRuntime.loads) */
  onLoad(): void;
  /** the instance closed (its last run ended, or it failed): the runtime forgets it */
  onClose(inst: GadgetInstance): void;
  /** the object file (default: the gadget's build/gadgets/<name>.bpf.o) */
  objectPath?: string;
}

interface Member {
  run: InstanceRun;
  set: RunFilterSet;
  /** the gadget's globals for this run alone */
  own: GlobalValues | undefined;
  exact: boolean;
}

/** Lost-counter reads are cached this long (every run asks for its stats each second). */
const LOST_CACHE_MS = 200;
/**
 * Fan-out work done in one turn of the event loop; the rest waits for the next turn, so that
 * calls (GetInfo, new runs) are served between slices: a burst of batches times 100 runs is
 * seconds of filtering.
 */
const FANOUT_SLICE_MS = 5;
/**
 * Batch bytes read and not yet handed to every run. Beyond it batches are dropped and counted
 * as lost (the fan-out cannot keep up; the ring buffer would have overflowed instead).
 */
const FANOUT_MAX_BYTES = 64 << 20;

/**
 * BPF object loads run one at a time. A load verifies in a libuv worker thread; two at once (the
 * first runs of two gadgets) took both CPUs of a 2-vCPU node, and under SCHED_FIFO (the daemon in
 * e2e/concurrency.test.ts) the event loop, at the same priority, waited 70-90 ms for a CPU.
 */
let loadQueue: Promise<unknown> = Promise.resolve();
function oneLoadAtATime<T>(load: () => Promise<T>): Promise<T> {
  const p = loadQueue.then(load);
  loadQueue = p.catch(() => undefined);
  return p;
}

/** A batch as read, waiting to be handed to the runs that were there when it was read. */
interface Pending {
  batch: Buffer;
  count: number;
  /** the runs and, for each, whether the kernel filtered the batch exactly as for it alone */
  to: Array<[InstanceRun, boolean]>;
  /** runs served so far */
  next: number;
}

export class GadgetInstance {
  readonly filter = new FilterUnion();
  private readonly members = new Map<InstanceRun, Member>();
  private spec: bpf.ObjectSpec | undefined;
  private coll: bpf.Collection | undefined;
  private reader: bpf.RingReader | undefined;
  private ready: Promise<void> | undefined;
  private isClosed = false;
  private globals: GlobalValues = {};
  /** what the loaded object's globals hold */
  private loadedGlobals: GlobalValues = {};
  /** configuration changes whose records may still be in flight (see reconfigure) */
  private settling = 0;
  private lostAt = 0;
  private lostValue = 0;
  /** records read from the ring buffer since load */
  private readTotal = 0;
  /** batches read and not yet handed to every run (see pump) */
  private readonly fanout: Pending[] = [];
  private fanoutBytes = 0;
  private pumpScheduled = false;
  /** batches queued / handed out since load, for flush() */
  private enqueued = 0;
  private dispatched = 0;
  private readonly drainWaiters: Array<{ upTo: number; resolve: () => void }> = [];
  /** records dropped because the fan-out fell FANOUT_MAX_BYTES behind */
  private fanoutDropped = 0;

  constructor(
    readonly gadget: GadgetDescriptor,
    readonly layout: RecordLayout,
    /** shared by every run of the gadget (the gadget has `shared`), else one run's own */
    readonly shared: boolean,
    private readonly opts: InstanceOptions,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** Runs using the instance. */
  get size(): number {
    return this.members.size;
  }

  /** Records read from the ring buffer since load. */
  get records(): number {
    return this.readTotal;
  }

  /**
   * A run joins: its container set (for its RunAdmission), counted in the kernel filter; the
   * kernel globals widen to what it wants too. Call start() next.
   */
  join(run: InstanceRun): MntnsFilterMap {
    if (this.isClosed) throw new Error(`gadget instance ${this.gadget.name} is closed`);
    if (!this.shared && this.members.size > 0)
      throw new Error(`gadget ${this.gadget.name} is loaded per run`);
    const set = this.filter.join(run.mode);
    const own = this.gadget.shared?.globals([run.params]);
    this.members.set(run, { run, set, own, exact: false });
    this.reconfigure();
    return set;
  }

  /**
   * Loads and attaches the instance on the first call (the load off the event loop); every call
   * resolves once it is attached, or rejects with the load's or attach's error.
   */
  start(): Promise<void> {
    if (!this.ready) {
      this.ready = this.load();
      // a load nobody waits for any more (every run cancelled) must not be an unhandled rejection
      this.ready.catch(() => undefined);
    }
    return this.ready;
  }

  /** A run leaves; the last one closes the instance. */
  leave(run: InstanceRun): void {
    const m = this.members.get(run);
    if (!m) return;
    this.members.delete(run);
    this.filter.leave(m.set);
    if (this.members.size === 0) this.close();
    else this.reconfigure();
  }

  /** Kernel-side losses (ring buffer full) since load. */
  lost(): number {
    const c = this.coll;
    if (!c || c.closed) return this.lostValue;
    const now = Date.now();
    if (now - this.lostAt >= LOST_CACHE_MS) {
      this.lostValue = c.map('gadget_lost').perCpuSum(0);
      this.lostAt = now;
    }
    return this.lostValue + this.fanoutDropped;
  }

  /** Resolves once every record the kernel had committed was handed to the runs. */
  async flush(): Promise<void> {
    if (this.reader?.running) await this.reader.flush();
    await this.drained();
  }

  /** Resolves once every batch read so far was handed to its runs. */
  private drained(): Promise<void> {
    const upTo = this.enqueued;
    if (this.dispatched >= upTo) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push({ upTo, resolve }));
  }

  /**
   * A private instance's end of run: stops the reader (it drains the ring first), then turns the
   * gadget's aggregation map into records (drain), so the last interval is not lost.
   */
  async finishPrivate(): Promise<{ records: Buffer; count: number } | undefined> {
    await this.reader?.stop();
    await this.drained();
    const g = this.gadget;
    const c = this.coll;
    if (!g.drain || !c || c.closed) return undefined;
    return g.drain.toRecords(c.map(g.drain.map).entries(), this.layout);
  }

  /** Unloads (links, programs, maps, the ring buffer); a load in progress is freed when over. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.opts.onClose(this);
    // detaching waits for RCU grace periods: off the event loop
    void this.coll?.closeAsync();
    this.spec?.close();
  }

  private async load(): Promise<void> {
    try {
      const spec = bpf.ObjectSpec.open(this.opts.objectPath ?? gadgetObjectPath(this.gadget.name));
      this.spec = spec;
      spec.setGlobal('gadget_self_tgid', this.opts.selfPid);
      spec.setMapMaxEntries('events', this.opts.ringBytes);
      this.opts.shareMaps(spec);
      let maps: Record<string, Array<[Uint8Array, Uint8Array]>> | undefined;
      if (this.shared) {
        for (const [k, v] of Object.entries(this.globals)) spec.setGlobal(k, v);
        this.loadedGlobals = { ...this.globals };
      } else {
        const only = [...this.members.values()][0];
        if (!only) throw new Error('no run');
        const config = gadgetConfig(this.gadget, only.run.params, { selfPid: this.opts.selfPid });
        for (const [k, v] of Object.entries(config.rodata)) spec.setGlobal(k, v);
        maps = config.maps;
      }
      this.opts.onLoad();
      let coll: bpf.Collection;
      try {
        coll = await oneLoadAtATime(async () => {
          // every run ended while an earlier load went on: close() freed the spec
          if (this.isClosed)
            throw new Error(`gadget ${this.gadget.name}: every run ended during its load`);
          return spec.loadAsync();
        });
      } catch (e) {
        throw bpfDenied(e) ?? e;
      }
      this.spec = undefined;
      this.coll = coll;
      if (this.isClosed) {
        coll.close();
        throw new Error(`gadget ${this.gadget.name}: every run ended during its load`);
      }
      const fm = coll.map('gadget_mntns_filter');
      const ONE = Buffer.from([1]);
      const key = (k: number): Buffer => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(BigInt(k));
        return b;
      };
      this.filter.attach({
        setMode: (m) => coll.setGlobal('gadget_filter_mode', m),
        update: (k) => fm.update(key(k), ONE),
        delete: (k) => fm.delete(key(k)),
      });
      for (const [name, entries] of Object.entries(maps ?? {})) {
        const m = coll.map(name);
        for (const [k, v] of entries) m.update(Buffer.from(k), Buffer.from(v));
      }
      // runs that joined or left during the load
      if (this.shared) this.writeGlobals(this.globals);
      this.reader = coll.reader('events', (batch, count) => this.onBatch(batch, count));
      try {
        coll.attach();
      } catch (e) {
        throw tracepointFull(e, coll) ?? e;
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private onBatch(batch: Buffer, count: number): void {
    this.readTotal += count;
    this.opts.beforeBatch();
    if (this.fanoutBytes + batch.length > FANOUT_MAX_BYTES && this.fanout.length > 0) {
      this.fanoutDropped += count;
      return;
    }
    // the runs there now get it (a run joining later does not get records read before it)
    const settled = this.settling === 0;
    const to: Array<[InstanceRun, boolean]> = [];
    for (const m of this.members.values()) to.push([m.run, settled && m.exact]);
    this.fanout.push({ batch, count, to, next: 0 });
    this.fanoutBytes += batch.length;
    this.enqueued++;
    if (!this.pumpScheduled) this.pump();
  }

  /** Hands queued batches to their runs for FANOUT_SLICE_MS, then yields to the event loop. */
  private pump(): void {
    this.pumpScheduled = false;
    const t0 = performance.now();
    for (;;) {
      const p = this.fanout[0];
      if (!p) break;
      if (p.next < p.to.length) {
        const [run, exact] = p.to[p.next++]!;
        // one run's failure must not cost the others their batch
        try {
          run.deliver(p.batch, p.count, exact);
        } catch (e) {
          run.failed(e);
        }
      }
      if (p.next >= p.to.length) {
        this.fanout.shift();
        this.fanoutBytes -= p.batch.length;
        this.dispatched++;
        this.wakeDrained();
      }
      if (this.fanout.length > 0 && performance.now() - t0 >= FANOUT_SLICE_MS) {
        this.pumpScheduled = true;
        setImmediate(() => this.pump());
        return;
      }
    }
  }

  private wakeDrained(): void {
    for (let i = this.drainWaiters.length - 1; i >= 0; i--) {
      const w = this.drainWaiters[i]!;
      if (w.upTo <= this.dispatched) {
        this.drainWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** The kernel globals for the runs now; each run's exactness. */
  private reconfigure(): void {
    const sh = this.gadget.shared;
    if (!this.shared || !sh) {
      for (const m of this.members.values()) m.exact = true;
      return;
    }
    const runs = [...this.members.values()].map((m) => m.run);
    const next = sh.globals(runs.map((r) => r.params));
    // -F in the kernel does not make a run's record filter exact: the client filters on -F
    const all = this.gadget.kernelFilterFields?.length
      ? { ...next, ...kernelFilterGlobals(runs.map((r) => r.kernelFilters ?? [])) }
      : next;
    if (!sameGlobals(all, this.globals)) {
      this.globals = all;
      if (this.coll && !this.coll.closed) {
        this.writeGlobals(all);
        // records the kernel made under the old configuration may still be in the ring: every
        // run filters on its own until they are through
        if (this.reader?.running) {
          this.settling++;
          void this.reader.flush().then(() => this.settling--);
        }
      }
    }
    for (const m of this.members.values()) m.exact = !!m.own && sameGlobals(m.own, next);
  }

  private writeGlobals(g: GlobalValues): void {
    const c = this.coll;
    if (!c || c.closed) return;
    for (const [k, v] of Object.entries(g)) {
      const old = this.loadedGlobals[k];
      if (old !== undefined && sameGlobals({ v: old }, { v })) continue;
      c.setGlobal(k, v);
      this.loadedGlobals[k] = v;
    }
  }
}
