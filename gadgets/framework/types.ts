// The contract every gadget folder fulfils. Generic code (daemon runtime, CLI commands and
// output, gRPC) only ever talks to these types, so adding a stream gadget touches only its own
// folder; one with verbs of its own (traceloop, advise network-policy) also has its commands in
// plugin/.

/** One field of a kernel record, derived from the object's BTF at build time (bpf/gen-layout.mjs). */
export type FieldKind =
  | 'u8'
  | 's8'
  | 'u16'
  | 's16'
  | 'u32'
  | 's32'
  | 'u64'
  | 's64'
  | 'bool'
  /** char[N]: NUL-terminated string, invalid UTF-8 escaped. */
  | 'cstring'
  /** flexible array member at the end of the record: raw bytes (length from `<name>_size` if present). */
  | 'bytes'
  /** fixed array of integers */
  | 'array';

export interface FieldLayout {
  name: string;
  kind: FieldKind;
  offset: number;
  size: number;
  /** element kind and count for `array` */
  elem?: FieldKind;
  count?: number;
}

/** The record layout of one gadget's ring-buffer struct, generated from BTF. */
export interface RecordLayout {
  struct: string;
  size: number;
  fields: FieldLayout[];
}

/** A decoded kernel record: field name -> value. u64 `timestamp` is a bigint, other ints numbers. */
export type RawRecord = Record<string, number | bigint | boolean | string | Uint8Array | number[]>;

export type ParamType = 'bool' | 'int' | 'string' | 'string[]';

export interface ParamSpec {
  /** CLI flag name (kebab-case) and key in RunRequest.params */
  name: string;
  type: ParamType;
  description: string;
  default?: string;
  /** short flag, e.g. 'x' */
  char?: string;
  /**
   * `const volatile` global this param sets before load (bool/int only): see gadgetConfig. Only
   * for gadgets loaded per run; a shared gadget (`shared`) sets its globals in shared.globals.
   */
  rodata?: string;
  /** Validate and normalise a string value; throw UserError-like Error with a hint on bad input. */
  validate?: (value: string) => void;
}

export interface ColumnSpec {
  /** key in the output event object (snake_case) */
  name: string;
  /** header text; defaults to name upper-cased */
  header?: string;
  /** minimum width; columns auto-size beyond it */
  width?: number;
  /** the column grows to fill, and is the last one truncated on a TTY */
  flex?: boolean;
  hidden?: boolean;
  align?: 'left' | 'right';
}

/** Output event: snake_case fields, as printed by -o json. */
export type GadgetEvent = Record<string, unknown>;

/** Values set on a loaded object before attach, derived from params by the gadget. */
export interface GadgetConfig {
  /** `const volatile` globals: name -> value (number | boolean | bigint) or raw bytes */
  rodata: Record<string, number | boolean | bigint | Uint8Array>;
  /** extra map entries to insert after load: map name -> list of [key, value] */
  maps?: Record<string, Array<[Uint8Array, Uint8Array]>>;
}

/**
 * One run's own filter over the raw records a shared loaded gadget passes (the kernel passes what
 * any run wants). `rec` holds the record's payload at [off, off + len). Returns true to keep the
 * record, false to drop it, or the payload to send instead (e.g. with a field the run did not ask
 * for removed, so it gets the same bytes as from a gadget loaded for it alone).
 */
export type RecordFilter = (rec: Buffer, off: number, len: number) => boolean | Buffer;

/**
 * How the runs of a gadget share one loaded, attached instance per node
 * (daemon/src/runtime/gadget-instance.ts). Its kernel configuration lives in mutable globals
 * (.bss/.data, rewritten while loaded), not `const volatile`.
 */
export interface SharedConfig {
  /**
   * The globals that pass every record any of these runs wants (a superset: e.g. a flag that
   * drops records only when every run set it, the union of lists when it fits). Called whenever
   * a run starts or ends; `runs` holds each live run's resolved params.
   */
  globals(
    runs: ReadonlyArray<Record<string, string>>,
  ): Record<string, number | boolean | Uint8Array>;
  /**
   * A run's exact filter, applied in user space to the records the kernel passed (built once per
   * run); undefined when the run keeps every record.
   */
  recordFilter?(params: Record<string, string>, layout: RecordLayout): RecordFilter | undefined;
}

/**
 * A gadget that is not run as a stream of events (traceloop records in the kernel and is read on
 * demand through its own commands): listed by list-gadgets, but not runnable through RunGadget.
 */
export interface GadgetListing {
  command: string[];
  name: string;
  description: string;
  docs?: string;
  /** the command to use instead of running it, for the error of a RunGadget request */
  usage: string;
}

export interface GadgetDescriptor {
  /** CLI words, e.g. ['trace', 'exec'] */
  command: string[];
  /** canonical name, e.g. 'trace_exec' (folder name, object name) */
  name: string;
  description: string;
  /** markdown docs shown in README / `list-gadgets --docs` */
  docs?: string;
  /** the arguments of its --help examples, each after `kubectl-gadget <command>` */
  examples?: string[];
  params: ParamSpec[];
  /** columns of the final event, in display order; common columns (node, namespace, ...) included */
  columns: ColumnSpec[];
  /**
   * Runs share one loaded instance of the gadget per node, configured through `shared`; without
   * it (a gadget that aggregates per run in kernel maps, e.g. with `drain`), each run loads its
   * own, configured by `rodata` params and configure().
   */
  shared?: SharedConfig;
  /**
   * Record fields the gadget's program filters itself for -F (gadgets/framework/pushdown.ts):
   * its object defines GADGET_FIELD_FILTER (bpf/gadget.h). Shared gadgets only.
   */
  kernelFilterFields?: readonly string[];
  /**
   * Kernel configuration beyond the params' declared `rodata` globals (lists, maps, computed
   * values); runs in the daemon, or in-process with --local. Called through gadgetConfig.
   */
  configure?(params: Record<string, string>, ctx: { selfPid: number }): Partial<GadgetConfig>;
  /**
   * Turn one decoded kernel record into the gadget's own event fields (runs where output is made:
   * in the CLI). Must be cheap: it runs per event. Common fields (timestamp, pid, comm, ...) are
   * added by the generic pipeline; return only gadget-specific ones, or null to drop the event.
   * Made with `fieldTransform` (fields.ts) when each field is declared, -o json is written
   * straight from the record bytes instead (plugin/src/output/fast-json.ts).
   */
  transform(raw: RawRecord, params: Record<string, string>): GadgetEvent | null;
  /**
   * For gadgets that aggregate in a kernel map and report periodically: at the end of a run,
   * before the object is closed, turn the map's unreported entries into framed records, so the
   * last interval is not lost.
   */
  drain?: {
    map: string;
    toRecords(
      entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
      layout: RecordLayout,
    ): { records: Buffer; count: number };
  };
}
