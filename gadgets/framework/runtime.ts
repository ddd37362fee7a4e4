// The runtime interface: one local (in-process) and one remote (gRPC) implementation.
// Messages mirror proto/gadget/v1/gadget.proto RunResponse so the remote side is a thin mapping.

import type { RecordLayout } from './types.js';
import type { ContainerInfo } from './containers.js';
import type { ContainerFilter } from './filter.js';
import type {
  TraceloopEntry,
  TraceloopSession,
  TraceloopShowRequest,
  TraceloopStartOptions,
} from './traceloop.js';

export type { ContainerFilter };

export interface RunRequest {
  /** canonical gadget name, e.g. 'trace_exec' */
  gadget: string;
  params: Record<string, string>;
  filter: ContainerFilter;
  /** seconds; 0 = until cancelled */
  timeoutSeconds: number;
  /**
   * The -F expressions the gadget's program can apply (pushdown.ts), as `field:[!][op]value`;
   * the daemon filters their union over the runs in the kernel, the client applies every -F again
   */
  kernelFilters?: string[];
}

export interface RunHeader {
  gadget: string;
  node: string;
  layout: RecordLayout;
  /** add to a kernel boot-clock ns timestamp to get unix-epoch ns */
  bootToWallNs: bigint;
}

export interface RunStats {
  /** records read from the ring buffer since start */
  events: number;
  /** records the kernel could not reserve (per-CPU counter, summed) */
  lost: number;
}

/**
 * A run's messages. A fan-in over several nodes (Kubernetes mode, plugin/src/runtimes/k8s/
 * runtime.ts) sends one header per node and stamps `node` on containers and batches, naming the
 * header they belong to; without `node` they belong to the last header.
 */
export type RunMessage =
  | { kind: 'header'; header: RunHeader }
  /** containers (by mntns) that later batches may reference; sent before the first such batch */
  | { kind: 'containers'; containers: ContainerInfo[]; node?: string }
  /** concatenated records, each: u32 length (LE), payload, zero padding to 8 bytes */
  | { kind: 'batch'; records: Buffer; count: number; node?: string }
  | { kind: 'stats'; stats: RunStats }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { kind: 'done'; reason: string };

export interface GadgetInfo {
  name: string;
  command: string[];
  description: string;
}

export interface NodeInfo {
  node: string;
  kernel: string;
  version: string;
  gadgets: GadgetInfo[];
}

export interface GadgetRuntime {
  info(): Promise<NodeInfo>;
  listContainers(): Promise<ContainerInfo[]>;
  /** Streams until done, timeout or abort; aborting detaches and closes everything. */
  run(req: RunRequest, signal: AbortSignal): AsyncIterable<RunMessage>;
  /** The node's traceloop recorder (daemon/src/traceloop); absent where there is none. */
  traceloop?(): TraceloopApi;
  close(): Promise<void>;
}

/**
 * The traceloop API of a node. Implemented in-process by TraceloopRecorder and over gRPC by the
 * CLI's RemoteRuntime; both look the same.
 */
export interface TraceloopApi {
  start(o: TraceloopStartOptions): Promise<TraceloopSession>;
  /** Detaches the programs and removes the bpffs pins; recordings stay readable until delete. */
  stop(sessionId: string): Promise<void>;
  list(sessionId: string): Promise<TraceloopEntry[]>;
  /**
   * One recording as a RunMessage stream: header (layout of struct tl_slot), containers (the
   * recorded one), log lines (other instances), batches of raw slots in time order, stats, done.
   */
  show(req: TraceloopShowRequest, signal: AbortSignal): AsyncIterable<RunMessage>;
  /** Deletes one container's recordings, or everything (container ''), stopping first. */
  delete(sessionId: string, container: string): Promise<number>;
}
