// The daemon's Prometheus metrics (prom-client). Counts only: no argv, paths, callers or
// container names; the only label is the gadget (from the install's registry, so a caller
// cannot mint label values) and, for BPF memory, the object kind.
//
// Run counters are fed by the gRPC server through RunMetrics (one handle per run, its label
// children bound once, so a batch costs two increments); the rest is read at scrape time.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { bpfMemlock, type BpfMemlock } from './bpf-memory.js';

export const PREFIX = 'kubectl_gadget_';
/** The label value of a gadget name this install does not know (never the caller's string). */
export const OTHER_GADGET = 'other';

/** What a run reports (server.ts calls these; each is a counter or gauge increment). */
export interface RunMetrics {
  /** records delivered to the client */
  delivered(records: number): void;
  /** batches (and their records) dropped for a slow client */
  dropped(batches: number, records: number): void;
  /** events the run lost (kernel ring full, fan-out drops): the increase since the last call */
  lost(events: number): void;
  /** the run ended (whatever the outcome): the active gauge goes down */
  ended(): void;
}

export interface MetricsSources {
  /** containers the registry knows (running and retained exited ones) */
  containers?: () => number;
  /** traceloop's recordings now and evictions so far; undefined while no session exists */
  traceloop?: () => { recordings: number; evictions: number } | undefined;
  /** locked BPF memory of this process (default: /proc/self/fdinfo) */
  bpfMemory?: () => Promise<BpfMemlock>;
  /** process_* and nodejs_* metrics (RSS, CPU, heap, event loop lag); default true */
  processMetrics?: boolean;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly runsActive: Gauge<'gadget'>;
  private readonly runsStarted: Counter<'gadget'>;
  private readonly events: Counter<'gadget'>;
  private readonly lostEvents: Counter<'gadget'>;
  private readonly droppedBatches: Counter<'gadget'>;
  private readonly droppedRecords: Counter<'gadget'>;

  constructor(
    private readonly gadgets: ReadonlySet<string>,
    sources: MetricsSources = {},
  ) {
    const registers = [this.registry];
    const labelNames = ['gadget'] as const;
    this.runsActive = new Gauge({
      name: `${PREFIX}runs_active`,
      help: 'Runs streaming now, by gadget.',
      labelNames,
      registers,
    });
    this.runsStarted = new Counter({
      name: `${PREFIX}runs_started_total`,
      help: 'Runs started since the daemon started, by gadget.',
      labelNames,
      registers,
    });
    this.events = new Counter({
      name: `${PREFIX}events_total`,
      help: 'Records delivered to clients, by gadget (summed over runs).',
      labelNames,
      registers,
    });
    this.lostEvents = new Counter({
      name: `${PREFIX}lost_events_total`,
      help: 'Events runs lost before user space (kernel ring buffer full, fan-out drops), by gadget; a loss of a gadget shared by several runs counts once per run.',
      labelNames,
      registers,
    });
    this.droppedBatches = new Counter({
      name: `${PREFIX}dropped_batches_total`,
      help: 'Batches dropped for slow clients, by gadget.',
      labelNames,
      registers,
    });
    this.droppedRecords = new Counter({
      name: `${PREFIX}dropped_records_total`,
      help: 'Records in the batches dropped for slow clients, by gadget.',
      labelNames,
      registers,
    });
    const containers = sources.containers;
    new Gauge({
      name: `${PREFIX}containers_known`,
      help: 'Containers the node registry knows (running and retained exited ones).',
      registers,
      collect() {
        if (containers) this.set(containers());
      },
    });
    const memory = sources.bpfMemory ?? (() => bpfMemlock());
    new Gauge({
      name: `${PREFIX}bpf_memlock_bytes`,
      help: "Locked memory of the daemon's BPF maps and programs (memlock in /proc/self/fdinfo, each object once).",
      labelNames: ['kind'] as const,
      registers,
      async collect() {
        const m = await memory();
        this.set({ kind: 'map' }, m.maps);
        this.set({ kind: 'prog' }, m.progs);
      },
    });
    const traceloop = sources.traceloop;
    new Gauge({
      name: `${PREFIX}traceloop_recordings`,
      help: 'Traceloop recordings held now (one per container recorded).',
      registers,
      collect() {
        this.set(traceloop?.()?.recordings ?? 0);
      },
    });
    // the recorder counts evictions itself: the counter follows it
    let evictionsSeen = 0;
    new Counter({
      name: `${PREFIX}traceloop_evictions_total`,
      help: 'Traceloop recordings evicted because the memory cap was reached.',
      registers,
      collect() {
        const n = traceloop?.()?.evictions ?? 0;
        if (n > evictionsSeen) this.inc(n - evictionsSeen);
        evictionsSeen = Math.max(evictionsSeen, n);
      },
    });
    if (sources.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** A run of `gadget` started: its handle for the counters below. */
  runStarted(gadget: string): RunMetrics {
    const labels = { gadget: this.gadgets.has(gadget) ? gadget : OTHER_GADGET };
    this.runsStarted.inc(labels);
    const active = this.runsActive.labels(labels);
    active.inc();
    const events = this.events.labels(labels);
    const lost = this.lostEvents.labels(labels);
    const batches = this.droppedBatches.labels(labels);
    const records = this.droppedRecords.labels(labels);
    // a label set shows up at 0 from the first run on, so rate() has a start
    batches.inc(0);
    records.inc(0);
    lost.inc(0);
    events.inc(0);
    let ended = false;
    return {
      delivered: (n) => events.inc(n),
      dropped: (b, r) => {
        batches.inc(b);
        records.inc(r);
      },
      lost: (n) => {
        if (n > 0) lost.inc(n);
      },
      ended: () => {
        if (ended) return;
        ended = true;
        active.dec();
      },
    };
  }

  /** The text exposition format (what GET /metrics answers). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
