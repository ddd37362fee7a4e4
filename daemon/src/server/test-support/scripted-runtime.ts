// TEST DOUBLE. A deterministic GadgetRuntime for transport tests: it loads nothing and touches
// no kernel; it replays known message sequences so the gRPC mapping can be checked exactly.
// Never use it outside tests.
//
// Gadget names select a script (params.tag names the run in reports):
//   scripted   header, containers, batches, stats, logs, done  (scriptedMessages(tag))
//   endless    header, then a small batch every params.interval ms (default 20) until aborted
//   flood      header, params.batches batches of params.size bytes (params.count records each)
//              as fast as possible, then stats and done
//   missing    throws RunError NOT_FOUND (with a hint) before any message
//   bad        header, then throws RunError INVALID_ARGUMENT
//   crash      header, then throws a plain Error

import type { ContainerInfo } from '../../../../gadgets/framework/containers.js';
import { RunError } from '../../../../gadgets/framework/errors.js';
import type {
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
} from '../../../../gadgets/framework/runtime.js';
import type { GadgetSummary } from '../../../../proto/ts/convert.js';

export type RuntimeReport =
  | { event: 'run-start'; tag: string; gadget: string }
  | { event: 'run-abort'; tag: string }
  | { event: 'run-end'; tag: string };

export const SCRIPTED_INFO: NodeInfo = {
  node: 'node-1',
  kernel: '6.8.0-test',
  version: '0.1.0-test',
  gadgets: [
    { name: 'trace_exec', command: ['trace', 'exec'], description: 'Trace process execution' },
    { name: 'scripted', command: ['scripted'], description: 'Test double: fixed messages' },
  ],
};

export const SCRIPTED_GADGETS: GadgetSummary[] = [
  {
    name: 'trace_exec',
    command: ['trace', 'exec'],
    description: 'Trace process execution',
    docs: '# trace exec\n\nShows every execve.',
    params: [
      { name: 'ignore-failed', type: 'bool', description: 'hide failed execs', default: 'false' },
      { name: 'paths', type: 'string[]', description: 'path prefixes', char: 'p' },
      { name: 'max-args', type: 'int', description: 'argv entries', default: '20' },
      { name: 'comm', type: 'string', description: 'command name' },
    ],
    columns: [
      { name: 'node', width: 12, hidden: true },
      { name: 'pid', header: 'PID', width: 7, align: 'right' },
      { name: 'comm', width: 16, align: 'left' },
      { name: 'args', flex: true },
    ],
  },
];

export const SCRIPTED_CONTAINERS: ContainerInfo[] = [
  {
    runtime: 'podman',
    id: 'a'.repeat(64),
    name: 'web',
    pid: 4242,
    mntnsId: 4026532001,
    generation: 1,
    state: 'running',
    startedAt: 1732000000123,
    image: 'docker.io/library/nginx:1.27',
    annotations: { 'io.podman.annotations.autoremove': 'FALSE' },
  },
  {
    runtime: 'containerd',
    id: 'b'.repeat(64),
    name: 'api',
    pid: 0,
    mntnsId: 4294967295,
    generation: 2 ** 40 + 3,
    state: 'exited',
    startedAt: 1732000000000,
    exitedAt: 1732000099999,
    image: 'registry.example/api:v2',
    annotations: {
      'io.kubernetes.cri.container-name': 'api',
      'io.kubernetes.cri.sandbox-name': 'api-7d9f',
    },
    k8s: {
      namespace: 'shop',
      pod: 'api-7d9f',
      container: 'api',
      podUid: '0f0e0d0c-0b0a-0908-0706-050403020100',
      labels: { app: 'api', 'app.kubernetes.io/part-of': 'shop', ünïcode: 'välue' },
      ownerKind: 'ReplicaSet',
      ownerName: 'api-7d9f',
      podIp: '10.244.1.7',
      hostNetwork: false,
    },
  },
];

/** Every byte value, then the tag: shows the batch bytes travel untouched. */
function allBytes(tag: string): Buffer {
  const b = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) b[i] = i;
  return Buffer.concat([b, Buffer.from(tag, 'utf8')]);
}

/** The exact sequence the `scripted` gadget yields for a tag. */
export function scriptedMessages(tag: string): RunMessage[] {
  return [
    {
      kind: 'header',
      header: {
        gadget: 'scripted',
        node: 'node-1',
        layout: {
          struct: 'event',
          size: 64,
          fields: [
            { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
            { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
            { name: 'pid', kind: 'u32', offset: 16, size: 4 },
            { name: 'retval', kind: 's32', offset: 20, size: 4 },
            { name: 'flags', kind: 'u16', offset: 24, size: 2 },
            { name: 'delta', kind: 's16', offset: 26, size: 2 },
            { name: 'cpu', kind: 'u8', offset: 28, size: 1 },
            { name: 'prio', kind: 's8', offset: 29, size: 1 },
            { name: 'upper_layer', kind: 'bool', offset: 30, size: 1 },
            { name: 'off', kind: 's64', offset: 32, size: 8 },
            { name: 'comm', kind: 'cstring', offset: 40, size: 8 },
            { name: 'ids', kind: 'array', offset: 48, size: 16, elem: 'u32', count: 4 },
            { name: 'args', kind: 'bytes', offset: 64, size: 0 },
          ],
        },
        // beyond 2^53: must survive as a bigint
        bootToWallNs: 1732000000123456789n,
      },
    },
    { kind: 'containers', containers: SCRIPTED_CONTAINERS },
    { kind: 'batch', records: allBytes(tag), count: 3 },
    { kind: 'batch', records: Buffer.alloc(0), count: 0 },
    { kind: 'stats', stats: { events: 2 ** 40, lost: 7 } },
    { kind: 'log', level: 'info', message: `info for ${tag}` },
    { kind: 'log', level: 'warn', message: 'wärn: ünïcode ✓' },
    { kind: 'log', level: 'error', message: 'error line' },
    { kind: 'batch', records: Buffer.from(`last batch of ${tag}`), count: 1 },
    { kind: 'done', reason: `completed ${tag}` },
  ];
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export class ScriptedRuntime implements GadgetRuntime {
  closed = false;

  constructor(private readonly report: (r: RuntimeReport) => void = () => {}) {}

  async info(): Promise<NodeInfo> {
    return SCRIPTED_INFO;
  }

  async listContainers(): Promise<ContainerInfo[]> {
    return SCRIPTED_CONTAINERS;
  }

  async *run(req: RunRequest, signal: AbortSignal): AsyncGenerator<RunMessage> {
    const tag = req.params.tag ?? '';
    this.report({ event: 'run-start', tag, gadget: req.gadget });
    const onAbort = (): void => this.report({ event: 'run-abort', tag });
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      yield* this.script(req, tag, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.report({ event: 'run-end', tag });
    }
  }

  private async *script(
    req: RunRequest,
    tag: string,
    signal: AbortSignal,
  ): AsyncGenerator<RunMessage> {
    const header = scriptedMessages(tag)[0]!;
    switch (req.gadget) {
      case 'scripted':
        for (const m of scriptedMessages(tag)) {
          if (signal.aborted) return;
          yield m;
        }
        return;
      case 'endless': {
        yield header;
        const interval = Number(req.params.interval ?? '20');
        for (let i = 0; !signal.aborted; i++) {
          yield { kind: 'batch', records: Buffer.from(`${tag}#${i}`), count: 1 };
          await sleep(interval, signal);
        }
        return;
      }
      case 'flood': {
        yield header;
        const batches = Number(req.params.batches ?? '100');
        const size = Number(req.params.size ?? '65536');
        const count = Number(req.params.count ?? '10');
        const records = Buffer.alloc(size, 0x5a);
        for (let i = 0; i < batches && !signal.aborted; i++) {
          yield { kind: 'batch', records, count };
          // let I/O run, as a real reader thread's callbacks would
          if (i % 8 === 7) await new Promise((r) => setImmediate(r));
        }
        yield { kind: 'stats', stats: { events: batches * count, lost: 0 } };
        yield { kind: 'done', reason: 'flood complete' };
        return;
      }
      case 'missing':
        throw new RunError(
          'NOT_FOUND',
          `unknown gadget "missing"`,
          'run `kubectl-gadget list-gadgets`',
        );
      case 'bad':
        yield header;
        throw new RunError(
          'INVALID_ARGUMENT',
          'invalid value "x" for --max-args: expected an integer',
        );
      case 'crash':
        yield header;
        throw new Error('boom: the reader thread failed');
      default:
        throw new RunError('NOT_FOUND', `unknown gadget "${req.gadget}"`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
