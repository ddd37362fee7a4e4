// The one reader of a run stream in the CLI: what a RunMessage stream says about each node (its
// header: layout, decoder and clock; its containers by mount namespace), and the walk over a
// batch's records (proto/ts/records.ts's RecordCursor, with the node's minimum record length).
// The event pipeline (pipeline.ts), `advise network-policy monitor` and `traceloop show` read
// their streams through it and keep only what they make of the records in their per-node data.
// It lives in pipeline/ because it is the pipeline's first step; services consume it from here
// (imports go downward). A fan-in over several nodes (Kubernetes mode) sends a header per node
// and names the node on containers and batches; without a node they belong to the last header.

import type { ContainerInfo } from '#gadgets/framework/containers.js';
import { makeDecoder as defaultMakeDecoder, fixedSize } from '#gadgets/framework/decode.js';
import type { Decoder } from '#gadgets/framework/decode.js';
import type { RunHeader, RunMessage } from '#gadgets/framework/runtime.js';
import type { RecordLayout } from '#gadgets/framework/types.js';
import { RecordCursor } from '#proto/ts/records.js';

export type { Decoder };

/** One node of a run, as its header and containers messages describe it. */
export interface RunNode<T> {
  readonly name: string;
  /** the node's last header */
  readonly header: RunHeader;
  /** header.layout as JSON: nodes with the same layout share what is derived from it */
  readonly layoutKey: string;
  /** the layout's fixed part: a shorter record is malformed */
  readonly minLength: number;
  /** the node's clock: add to a kernel boot-clock timestamp (ns) for unix-epoch ns */
  readonly bootToWallNs: bigint;
  /** the decoder generated from the layout (made on first use, shared by equal layouts) */
  readonly decode: Decoder;
  /** mntns -> container, of this node (kept across a repeated header) */
  readonly containers: Map<number, ContainerInfo>;
  /**
   * mount namespace unique id -> container (containers that carry one): records with a
   * mntns_uid are joined by it, since inodes are reused
   */
  readonly byUid: Map<number, ContainerInfo>;
  /** bumped by each containers message and header of the node: per-mntns caches go stale */
  readonly containersVersion: number;
  /** the consumer's state of this node (RunStreamOptions.init) */
  data: T;
}

export interface RunStreamOptions<T> {
  /**
   * The consumer's state of a node, made at each of its headers; `prev`: its state before a
   * repeated header (the node, its containers and containersVersion are already updated).
   */
  init: (node: RunNode<T>, prev: T | undefined) => T;
  /** injectable for tests; defaults to gadgets/framework/decode.ts */
  makeDecoder?: (layout: RecordLayout) => Decoder;
  /** warnings: a malformed record (the first of the run) */
  warn?: (message: string) => void;
}

class Node<T> implements RunNode<T> {
  header!: RunHeader;
  layoutKey = '';
  minLength = 0;
  bootToWallNs = 0n;
  containersVersion = 0;
  readonly byUid = new Map<number, ContainerInfo>();
  data!: T;
  private decoder: Decoder | undefined;

  constructor(
    readonly name: string,
    readonly containers: Map<number, ContainerInfo>,
    private readonly decoderOf: (layoutKey: string, layout: RecordLayout) => Decoder,
  ) {}

  get decode(): Decoder {
    return (this.decoder ??= this.decoderOf(this.layoutKey, this.header.layout));
  }

  setHeader(h: RunHeader): void {
    const key = JSON.stringify(h.layout);
    if (key !== this.layoutKey) {
      this.layoutKey = key;
      this.minLength = fixedSize(h.layout);
      this.decoder = undefined;
    }
    this.header = h;
    this.bootToWallNs = h.bootToWallNs;
    this.containersVersion++;
  }
}

function addContainer<T>(n: Node<T>, c: ContainerInfo): void {
  n.containers.set(c.mntnsId, c);
  if (c.mntnsUid) n.byUid.set(c.mntnsUid, c);
}

/** A batch message as a transport may extend it (gRPC stream sequence numbers). */
export type BatchMessage = Extract<RunMessage, { kind: 'batch' }>;

export class RunStream<T> {
  /** one per node, by name */
  readonly nodes = new Map<string, RunNode<T>>();
  /** the last header's node: messages without `node` belong to it */
  last: RunNode<T> | undefined;
  /** containers of nodes whose header has not come yet ('' : sent without a node, before any header) */
  private readonly early = new Map<string, ContainerInfo[]>();
  private readonly decoders = new Map<string, Decoder>();
  private readonly makeDecoder: (layout: RecordLayout) => Decoder;
  private malformed = 0;
  private readonly onMalformed = (len: number, minLength: number, left: number): void => {
    if (this.malformed++ === 0) {
      this.opts.warn?.(
        `skipping malformed record (length ${len}, expected at least ${minLength}, ${left} bytes left)`,
      );
    }
  };

  constructor(private readonly opts: RunStreamOptions<T>) {
    this.makeDecoder = opts.makeDecoder ?? defaultMakeDecoder;
  }

  /** A header: the node's layout, decoder and clock; its consumer state made (again). */
  header(h: RunHeader): RunNode<T> {
    let n = this.nodes.get(h.node) as Node<T> | undefined;
    const prev = n?.data;
    if (!n) {
      n = new Node<T>(h.node, new Map(), (key, layout) => this.decoderOf(key, layout));
      for (const k of ['', h.node]) {
        for (const c of this.early.get(k) ?? []) addContainer(n, c);
        this.early.delete(k);
      }
      this.nodes.set(h.node, n);
    }
    n.setHeader(h);
    this.last = n;
    n.data = this.opts.init(n, prev);
    return n;
  }

  /** Containers of a node; undefined when its header has not come yet (they wait for it). */
  containers(m: Extract<RunMessage, { kind: 'containers' }>): RunNode<T> | undefined {
    const n = (m.node === undefined ? this.last : this.nodes.get(m.node)) as Node<T> | undefined;
    if (!n) {
      const k = m.node ?? '';
      this.early.set(k, [...(this.early.get(k) ?? []), ...m.containers]);
      return undefined;
    }
    for (const c of m.containers) addContainer(n, c);
    n.containersVersion++;
    return n;
  }

  /** The node a batch belongs to; a batch before its node's header is a protocol error. */
  nodeOf(m: BatchMessage): RunNode<T> {
    const n = m.node === undefined ? this.last : this.nodes.get(m.node);
    if (!n)
      throw new Error(`protocol error: batch before header${m.node ? ` of node ${m.node}` : ''}`);
    return n;
  }

  /**
   * The records of a node's batch: `while (c.next()) use(c.batch, c.offset, c.length)`. A record
   * shorter than the layout's fixed part is skipped, one cut by the batch's end stops the walk;
   * the first of the run is a warning.
   */
  records(node: RunNode<T>, batch: Buffer): RecordCursor {
    return new RecordCursor(batch, node.minLength, this.onMalformed);
  }

  private decoderOf(key: string, layout: RecordLayout): Decoder {
    let d = this.decoders.get(key);
    if (!d) this.decoders.set(key, (d = this.makeDecoder(layout)));
    return d;
  }
}
