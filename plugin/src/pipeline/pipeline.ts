// The CLI side of the data path: RunMessages in, events out. Decodes raw ring-buffer batches
// with the decoder generated from the run's layout, adds the common fields (timestamp, container,
// process), applies the gadget's transform and hands each batch to the output sink in one piece.
// Synchronous per message except for backpressure, so it is easy to test with hand-made buffers.
// -o json of a gadget whose transform is made of field specs takes the fast path (output/fast-json.ts):
// lines written straight from the record bytes, byte-identical to the object path.

import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { RunMessage } from '#gadgets/framework/runtime.js';
import { makeDecoder as defaultMakeDecoder, fixedSize } from '#gadgets/framework/decode.js';
import { fieldSpecsOf } from '#gadgets/framework/fields.js';
import type {
  GadgetDescriptor,
  GadgetEvent,
  RawRecord,
  RecordLayout,
} from '#gadgets/framework/types.js';
import { LineBuffer, makeTail, toJson } from '../output/json.js';
import { TimestampFormatter, TimestampWriter } from '../output/time.js';
import type { EventSink, Reporter, RunTotals, TextSink } from '../output/types.js';
import { COMMON_FIELD_SET, makeEventBuilders, placement } from './event.js';
import type { EventBuilders, Placement } from './event.js';
import { compileRecordWriter } from '../output/fast-json.js';
import type { CompileResult, FastContext, RecordWriter } from '../output/fast-json.js';

type Decoder = (buf: Buffer, offset: number, length: number) => RawRecord;

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
}

interface RunState {
  decode: Decoder;
  minLength: number;
  builders: EventBuilders;
  time: TimestampFormatter;
  node: string;
  /** the layout as JSON: nodes with the same layout share the decoder */
  layoutKey: string;
  /** mntns -> container, of this node */
  containers: Map<number, ContainerInfo>;
  placements: Map<number, Placement>;
  /** bumped when containers change placements (invalidates the fast path's last placement) */
  placementsVersion: number;
  hostPlacement: Placement;
  /** -o json fast path: the layout's compiled writer (or why not), and this node's context */
  fast: CompileResult | undefined;
  fastContext: FastContext | undefined;
}

/** Size of the fast path's output buffers (a batch larger than this gets one of its own). */
const ARENA = 4 << 20;

/** Extra fields a transport may add to a batch (gRPC stream sequence numbers). */
type BatchMessage = Extract<RunMessage, { kind: 'batch' }> & { seq?: number | bigint };

export class EventPipeline {
  readonly totals: RunTotals = { events: 0, lost: 0, dropped: 0 };
  /** why the run ended, once a 'done' message arrived */
  doneReason: string | undefined;

  /** the last header's node: messages without `node` belong to it */
  private state: RunState | undefined;
  /** one per node (several in Kubernetes mode, where the fan-in stamps `node` on messages) */
  private readonly states = new Map<string, RunState>();
  /** containers that came before any header (kept for the first one) */
  private readonly early = new Map<number, ContainerInfo>();
  private lastSeq: number | undefined;
  private malformed = 0;
  /** -o json: when a transform returns a common field name, lines are built from objects */
  private mergeInObjects = false;
  /** -o json: serializer of the transform's fields, compiled for their shape */
  private tail: ((extra: GadgetEvent) => string) | undefined;
  private readonly lines = new LineBuffer();
  private readonly makeDecoder: (layout: RecordLayout) => Decoder;
  /**
   * Fast path output: batches are written one after the other into this buffer, each handed to
   * the sink as a slice; a full buffer is replaced, never reused (the stream may still hold it).
   * Allocated by the first record.
   */
  private out = Buffer.allocUnsafe(0);
  private outPos = 0;

  constructor(private readonly opts: PipelineOptions) {
    this.makeDecoder = opts.makeDecoder ?? defaultMakeDecoder;
  }

  /** Why -o json of the last header's node takes the object path, or undefined if it does not. */
  get objectPathReason(): string | undefined {
    const f = this.state?.fast;
    return f === undefined
      ? 'not -o json, or no field specs'
      : 'reason' in f
        ? f.reason
        : undefined;
  }

  get done(): boolean {
    return this.doneReason !== undefined;
  }

  handle(msg: RunMessage): void | Promise<void> {
    switch (msg.kind) {
      case 'header': {
        const h = msg.header;
        const layoutKey = JSON.stringify(h.layout);
        const prev = this.states.get(h.node);
        // another node with the same layout: reuse its generated decoder and builders
        const same = [...this.states.values()].find((s) => s.layoutKey === layoutKey);
        const decode = same?.decode ?? this.makeDecoder(h.layout);
        const specs =
          this.opts.sink.kind === 'ndjson' && this.opts.fastJson !== false
            ? fieldSpecsOf(this.opts.descriptor.transform)
            : undefined;
        const fast = same?.fast ?? (specs ? compileRecordWriter(h.layout, specs) : undefined);
        const time = new TimestampFormatter(h.bootToWallNs);
        const st: RunState = {
          decode,
          minLength: fixedSize(h.layout),
          builders: same?.builders ?? makeEventBuilders(h.layout),
          time,
          node: h.node,
          layoutKey,
          containers: prev?.containers ?? new Map(this.early),
          placements: new Map(),
          placementsVersion: 0,
          hostPlacement: placement(h.node, undefined),
          fast,
          fastContext: undefined,
        };
        if (fast && 'write' in fast) {
          // consecutive records mostly come from one mount namespace
          let lastMntns = -1;
          let lastVersion = -1;
          let lastBytes = st.hostPlacement.bytes;
          st.fastContext = {
            place: (mntns) => {
              if (mntns !== lastMntns || st.placementsVersion !== lastVersion) {
                lastBytes = this.placementOf(st, mntns).bytes;
                lastMntns = mntns;
                lastVersion = st.placementsVersion;
              }
              return lastBytes;
            },
            host: st.hostPlacement.bytes,
            ts: new TimestampWriter(h.bootToWallNs),
            time,
            decode,
          };
        }
        this.early.clear();
        this.states.set(h.node, st);
        this.state = st;
        return;
      }
      case 'containers': {
        const st = msg.node === undefined ? this.state : this.states.get(msg.node);
        const map = st?.containers ?? this.early;
        for (const c of msg.containers) {
          map.set(c.mntnsId, c);
          st?.placements.delete(c.mntnsId);
        }
        if (st) st.placementsVersion++;
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

  private placementOf(st: RunState, mntns: unknown): Placement {
    if (typeof mntns !== 'number') return st.hostPlacement;
    let p = st.placements.get(mntns);
    if (p === undefined) {
      const c = st.containers.get(mntns);
      p = c ? placement(st.node, c) : st.hostPlacement;
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

  /** Reports a malformed record (once per run); false: the batch cannot go on. */
  private malformedRecord(len: number, minLength: number, left: number): boolean {
    this.malformed++;
    if (this.malformed === 1) {
      this.opts.reporter.warn(
        `skipping malformed record (length ${len}, expected at least ${minLength}, ${left} bytes left)`,
      );
    }
    return len <= left;
  }

  /** The -o json fast path: the same framing walk, each record written by the compiled writer. */
  private fastBatch(
    msg: BatchMessage,
    st: RunState,
    write: RecordWriter,
    ctx: FastContext,
  ): void | Promise<void> {
    const buf = msg.records;
    const end = buf.length;
    const { minLength } = st;
    let out = this.out;
    let from = this.outPos;
    let p = from;
    let n = 0;
    let off = 0;
    while (off + 4 <= end) {
      const len = buf.readUInt32LE(off);
      const start = off + 4;
      off = start + len;
      off += (8 - (off & 7)) & 7;
      if (start + len > end || len < minLength) {
        if (!this.malformedRecord(len, minLength, end - start)) break;
        continue;
      }
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
    const st = msg.node === undefined ? this.state : this.states.get(msg.node);
    if (!st)
      throw new Error(
        `protocol error: batch before header${msg.node ? ` of node ${msg.node}` : ''}`,
      );
    this.checkSeq(msg.seq);
    if (st.fastContext && st.fast && 'write' in st.fast)
      return this.fastBatch(msg, st, st.fast.write, st.fastContext);
    const buf = msg.records;
    const end = buf.length;
    const { transform } = this.opts.descriptor;
    const params = this.opts.params;
    const { decode, minLength, time } = st;
    const ndjson = this.opts.sink.kind === 'ndjson';
    const { object, line } = st.builders;
    const events: GadgetEvent[] = [];
    const lines = this.lines;
    let n = 0;
    let checked = false;
    let off = 0;
    while (off + 4 <= end) {
      const len = buf.readUInt32LE(off);
      const start = off + 4;
      off = start + len;
      off += (8 - (off & 7)) & 7;
      if (start + len > end || len < minLength) {
        if (!this.malformedRecord(len, minLength, end - start)) break;
        continue;
      }
      const raw = decode(buf, start, len);
      const extra = transform(raw, params);
      if (extra === null) continue;
      const where = this.placementOf(st, raw['mntns_id']);
      const stamp = raw['timestamp'];
      const ts = stamp === undefined ? '' : time.format(stamp as bigint);
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
