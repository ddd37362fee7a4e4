// The CLI side of the data path: RunMessages in, events out. Reads the stream through RunStream
// (stream.ts: each node's header, layout, clock and containers, and the framing walk), decodes
// raw ring-buffer batches with the decoder generated from the run's layout, adds the common fields
// (timestamp, container, process), applies the gadget's transform and hands each batch to the
// output sink in one piece. Synchronous per message except for backpressure, so it is easy to test
// with hand-made buffers. -o json of a gadget whose transform is made of field specs takes the
// fast path (output/fast-json.ts): lines written straight from the record bytes, byte-identical
// to the object path.

import type { RunMessage } from '#gadgets/framework/runtime.js';
import { clipLine } from '#gadgets/framework/clip.js';
import { fieldSpecsOf, layoutMismatch } from '#gadgets/framework/fields.js';
import { ProtocolError } from '#proto/ts/convert.js';
import type { GadgetDescriptor, GadgetEvent, RecordLayout } from '#gadgets/framework/types.js';
import { LineBuffer, makeTail, toJson } from '../output/json.js';
import { TimestampFormatter, TimestampWriter } from '../output/time.js';
import type { EventSink, Reporter, RunTotals, TextSink } from '../output/types.js';
import { COMMON_FIELD_SET, makeEventBuilders, placement } from './event.js';
import type { EventBuilders, Placement } from './event.js';
import { compileRecordWriter } from '../output/fast-json.js';
import type { CompileResult, FastContext, RecordWriter } from '../output/fast-json.js';
import { RunStream } from './stream.js';
import type { BatchMessage as StreamBatch, Decoder, RunNode } from './stream.js';

export interface PipelineOptions {
  descriptor: Pick<GadgetDescriptor, 'name' | 'transform'>;
  /** resolved gadget params (defaults filled), as the transform sees them */
  params: Record<string, string>;
  sink: EventSink;
  reporter: Reporter;
  /** injectable for tests; defaults to gadgets/framework/decode.ts */
  makeDecoder?: (layout: RecordLayout) => Decoder;
  /**
   * -o json straight from record bytes when the gadget's transform is made of field specs
   * (default true; false forces the object path, for tests and the benchmark's comparison)
   */
  fastJson?: boolean;
  /**
   * -F/--filter: events it rejects are dropped before formatting. A filtered -o json run takes
   * the object path (the fast path writes records without building the objects it tests).
   */
  filter?: (ev: GadgetEvent) => boolean;
}

/** What the pipeline derives from a layout once (nodes with the same layout share it). */
interface LayoutState {
  builders: EventBuilders;
  /** -o json fast path: the layout's compiled writer (or why not) */
  fast: CompileResult | undefined;
}

/** The pipeline's state of a node (RunStream keeps its header, containers and decoder). */
interface NodeState extends LayoutState {
  time: TimestampFormatter;
  /** mntns -> placement, of this node (entries dropped when their container changes) */
  placements: Map<number, Placement>;
  /** mount namespace unique id -> placement, for records with a mntns_uid */
  uidPlacements: Map<number, Placement>;
  hostPlacement: Placement;
  /** -o json fast path: this node's context */
  fastContext: FastContext | undefined;
}

type Node = RunNode<NodeState>;

/** Size of the fast path's output buffers (a batch larger than this gets one of its own). */
const ARENA = 4 << 20;

/** Extra fields a transport may add to a batch (gRPC stream sequence numbers). */
type BatchMessage = StreamBatch & { seq?: number | bigint };

/** Field kinds the decoder does not give as a number, bigint or boolean. */
const NOT_NUMBERS: ReadonlySet<string> = new Set(['cstring', 'bytes', 'array']);

export class EventPipeline {
  readonly totals: RunTotals = { events: 0, lost: 0, dropped: 0 };
  /** why the run ended, once a 'done' message arrived */
  doneReason: string | undefined;

  /** one node per header (several in Kubernetes mode, where the fan-in stamps `node` on messages) */
  private readonly stream: RunStream<NodeState>;
  private readonly layouts = new Map<string, LayoutState>();
  private lastSeq: number | undefined;
  /** -o json: when a transform returns a common field name, lines are built from objects */
  private mergeInObjects = false;
  /** -o json: serializer of the transform's fields, compiled for their shape */
  private tail: ((extra: GadgetEvent) => string) | undefined;
  private readonly lines = new LineBuffer();
  /**
   * Fast path output: batches are written one after the other into this buffer, each handed to
   * the sink as a slice; a full buffer is replaced, never reused (the stream may still hold it).
   * Allocated by the first record.
   */
  private out = Buffer.allocUnsafe(0);
  private outPos = 0;

  constructor(private readonly opts: PipelineOptions) {
    this.stream = new RunStream<NodeState>({
      init: (node) => this.nodeState(node),
      warn: (m) => this.opts.reporter.warn(m),
      ...(opts.makeDecoder ? { makeDecoder: opts.makeDecoder } : {}),
    });
  }

  /** Why -o json of the last header's node takes the object path, or undefined if it does not. */
  get objectPathReason(): string | undefined {
    const f = this.stream.last?.data.fast;
    return f === undefined
      ? this.opts.filter
        ? '-F/--filter given'
        : 'not -o json, or no field specs'
      : 'reason' in f
        ? f.reason
        : undefined;
  }

  get done(): boolean {
    return this.doneReason !== undefined;
  }

  handle(msg: RunMessage): void | Promise<void> {
    switch (msg.kind) {
      case 'header':
        this.stream.header(msg.header);
        return;
      case 'containers': {
        const node = this.stream.containers(msg);
        if (node) {
          const d = node.data;
          for (const c of msg.containers) {
            d.placements.delete(c.mntnsId);
            // a container without a unique id (an older daemon) may stand for records by inode
            if (c.mntnsUid) d.uidPlacements.delete(c.mntnsUid);
            else d.uidPlacements.clear();
          }
        }
        return;
      }
      case 'batch':
        return this.batch(msg);
      case 'stats': {
        const lost = msg.stats.lost;
        if (lost > this.totals.lost) {
          this.opts.reporter.warn(
            `${lost - this.totals.lost} events lost in the kernel (ring buffer full)`,
          );
          this.totals.lost = lost;
        }
        this.opts.reporter.totals?.(this.totals);
        return;
      }
      case 'log':
        this.opts.reporter.log(msg.level, msg.message);
        return;
      case 'done':
        this.doneReason = msg.reason;
        return;
    }
  }

  /** A node's state, made at each of its headers (a repeated header starts its caches afresh). */
  private nodeState(node: Node): NodeState {
    const h = node.header;
    let shared = this.layouts.get(node.layoutKey);
    if (!shared) {
      const declared = fieldSpecsOf(this.opts.descriptor.transform);
      // the pipeline turns every record's timestamp into a BigInt: a cstring one threw
      // SyntaxError per record (found by fuzzing, e2e/fuzz/records.ts)
      const ts = h.layout.fields.find((f) => f.name === 'timestamp');
      const mismatch =
        (ts && NOT_NUMBERS.has(ts.kind) ? `field timestamp is ${ts.kind}, not an integer` : '') ||
        (declared && layoutMismatch(h.layout, declared));
      if (mismatch) {
        throw new ProtocolError(
          `the daemon's ${clipLine(h.gadget, 40)} records do not fit this CLI (${clipLine(mismatch, 80)}): use matching versions`,
        );
      }
      const specs =
        this.opts.sink.kind === 'ndjson' && this.opts.fastJson !== false && !this.opts.filter
          ? declared
          : undefined;
      shared = {
        builders: makeEventBuilders(h.layout),
        fast: specs ? compileRecordWriter(h.layout, specs) : undefined,
      };
      this.layouts.set(node.layoutKey, shared);
    }
    const time = new TimestampFormatter(node.bootToWallNs);
    const st: NodeState = {
      ...shared,
      time,
      placements: new Map(),
      uidPlacements: new Map(),
      hostPlacement: placement(node.name, undefined),
      fastContext: undefined,
    };
    if (shared.fast && 'write' in shared.fast) {
      // consecutive records mostly come from one mount namespace
      let lastMntns = -1;
      let lastUid = -1;
      let lastVersion = -1;
      let lastBytes = st.hostPlacement.bytes;
      st.fastContext = {
        place: (mntns, uid) => {
          if (mntns !== lastMntns || uid !== lastUid || node.containersVersion !== lastVersion) {
            lastBytes = this.placementOf(node, st, mntns, uid).bytes;
            lastMntns = mntns;
            lastUid = uid;
            lastVersion = node.containersVersion;
          }
          return lastBytes;
        },
        host: st.hostPlacement.bytes,
        ts: new TimestampWriter(node.bootToWallNs),
        time,
        decode: node.decode,
      };
    }
    return st;
  }

  /**
   * Where a record ran: by its mount namespace unique id when it has one (the daemon announces
   * containers under it), else by inode. A uid the daemon did not announce is the host's, or a
   * container of an older daemon that sent no uids (by inode then).
   */
  private placementOf(node: Node, st: NodeState, mntns: unknown, uid: unknown = 0): Placement {
    // no usable mntns_id (a layout without it): the host's, as the -o json fast path has it
    // (a uid alone placed it in a container here; found by fuzzing, e2e/fuzz/records.ts)
    if (typeof mntns !== 'number') return st.hostPlacement;
    if (typeof uid === 'number' && uid > 0) {
      let p = st.uidPlacements.get(uid);
      if (p === undefined) {
        let c = node.byUid.get(uid);
        if (!c) {
          const byInode = node.containers.get(mntns);
          if (byInode && !byInode.mntnsUid) c = byInode;
        }
        p = c ? placement(node.name, c) : st.hostPlacement;
        st.uidPlacements.set(uid, p);
      }
      return p;
    }
    let p = st.placements.get(mntns);
    if (p === undefined) {
      const c = node.containers.get(mntns);
      p = c ? placement(node.name, c) : st.hostPlacement;
      st.placements.set(mntns, p);
    }
    return p;
  }

  private checkSeq(seq: number | bigint | undefined): void {
    if (seq === undefined) return;
    const n = Number(seq);
    if (this.lastSeq !== undefined && n > this.lastSeq + 1) {
      const missing = n - this.lastSeq - 1;
      this.totals.dropped += missing;
      this.opts.reporter.warn(`${missing} messages dropped`);
    }
    this.lastSeq = n;
  }

  /** The -o json fast path: the stream's framing walk, each record written by the compiled writer. */
  private fastBatch(
    msg: BatchMessage,
    node: Node,
    write: RecordWriter,
    ctx: FastContext,
  ): void | Promise<void> {
    const c = this.stream.records(node, msg.records);
    const buf = c.batch;
    let out = this.out;
    let from = this.outPos;
    let p = from;
    let n = 0;
    while (c.next()) {
      const start = c.offset;
      const len = c.length;
      let r = write(buf, start, len, out, p, ctx);
      if (r < 0) {
        // a new buffer for this batch and the next ones, with what the batch wrote so far
        const bigger = Buffer.allocUnsafe(Math.max(ARENA, 2 * (p - from - r)));
        out.copy(bigger, 0, from, p);
        p -= from;
        from = 0;
        this.out = out = bigger;
        r = write(buf, start, len, out, p, ctx);
      }
      p = r;
      n++;
    }
    if (n === 0) return;
    this.outPos = p;
    this.totals.events += n;
    this.opts.reporter.totals?.(this.totals);
    return (this.opts.sink as TextSink).write(out.subarray(from, p), n);
  }

  private batch(msg: BatchMessage): void | Promise<void> {
    const node = this.stream.nodeOf(msg);
    this.checkSeq(msg.seq);
    const st = node.data;
    if (st.fastContext && st.fast && 'write' in st.fast)
      return this.fastBatch(msg, node, st.fast.write, st.fastContext);
    const c = this.stream.records(node, msg.records);
    const buf = c.batch;
    const { transform } = this.opts.descriptor;
    const params = this.opts.params;
    const { decode } = node;
    const { time } = st;
    const ndjson = this.opts.sink.kind === 'ndjson';
    const { object, line } = st.builders;
    const events: GadgetEvent[] = [];
    const lines = this.lines;
    const filter = this.opts.filter;
    let n = 0;
    let checked = false;
    while (c.next()) {
      const raw = decode(buf, c.offset, c.length);
      const extra = transform(raw, params);
      if (extra === null) continue;
      const where = this.placementOf(node, st, raw['mntns_id'], raw['mntns_uid']);
      const stamp = raw['timestamp'];
      const ts = stamp === undefined ? '' : time.format(stamp as bigint);
      if (filter) {
        // the filter tests the event as printed (same object as columns/yaml show)
        const ev = object(raw, ts, where, extra);
        if (!filter(ev)) continue;
        n++;
        if (ndjson) lines.add(toJson(ev) + '\n');
        else events.push(ev);
        continue;
      }
      n++;
      if (ndjson) {
        if (!checked) {
          checked = true;
          for (const k in extra) if (COMMON_FIELD_SET.has(k)) this.mergeInObjects = true;
          this.tail ??= makeTail(extra);
        }
        lines.add(
          this.mergeInObjects
            ? toJson(object(raw, ts, where, extra)) + '\n'
            : line(raw, ts, where, extra, this.tail!),
        );
      } else {
        events.push(object(raw, ts, where, extra));
      }
    }
    if (n === 0) return;
    this.totals.events += n;
    this.opts.reporter.totals?.(this.totals);
    const sink = this.opts.sink;
    return sink.kind === 'ndjson' ? sink.write(lines.take(), n) : sink.write(events);
  }
}
