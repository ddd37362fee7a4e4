// RedactingRuntime: the runtime the daemon serves when redaction is on. It wraps the node's
// LocalRuntime and rewrites the batches of gadgets that carry command lines or buffers (see
// records.ts, REDACTABLE) before the gRPC server sees them, so a secret never leaves the node:
// RunGadget streams and TraceloopShow alike. Everything else passes through.

import type {
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
  TraceloopApi,
} from '../../../gadgets/framework/runtime.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import type { Redactor } from './patterns.js';
import { recordRedaction, type RecordRedaction } from './records.js';

export class RedactingRuntime implements GadgetRuntime {
  readonly traceloop?: () => TraceloopApi;

  constructor(
    private readonly inner: GadgetRuntime,
    readonly redactor: Redactor,
  ) {
    const tl = inner.traceloop?.bind(inner);
    if (tl) {
      this.traceloop = (): TraceloopApi => {
        const api = tl();
        return {
          start: (o) => api.start(o),
          stop: (id) => api.stop(id),
          list: (id) => api.list(id),
          delete: (id, c) => api.delete(id, c),
          show: (req, signal) => this.redactStream(api.show(req, signal)),
        };
      };
    }
  }

  /** The inner runtime's count of BPF loads (LocalRuntime.loads), which GetInfo reports. */
  get loads(): number | undefined {
    const n = (this.inner as { loads?: unknown }).loads;
    return typeof n === 'number' ? n : undefined;
  }

  info(): Promise<NodeInfo> {
    return this.inner.info();
  }

  listContainers(): Promise<ContainerInfo[]> {
    return this.inner.listContainers();
  }

  run(req: RunRequest, signal: AbortSignal): AsyncIterable<RunMessage> {
    return this.redactStream(this.inner.run(req, signal));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Batches rewritten with the redaction of the header they follow (per node: a fan-in stamps
   * `node` on batches; a batch without it belongs to the last header).
   */
  private async *redactStream(src: AsyncIterable<RunMessage>): AsyncGenerator<RunMessage> {
    const byNode = new Map<string, RecordRedaction | undefined>();
    let last: RecordRedaction | undefined;
    for await (const m of src) {
      if (m.kind === 'header') {
        last = recordRedaction(m.header.gadget, m.header.layout, this.redactor);
        byNode.set(m.header.node, last);
      } else if (m.kind === 'batch') {
        const r = m.node === undefined ? last : byNode.get(m.node);
        if (r) {
          const out = r.batch(m.records, m.count);
          if (out.records !== m.records) {
            yield { ...m, records: out.records, count: out.count };
            continue;
          }
        }
      }
      yield m;
    }
  }
}
