// KubernetesRuntime's fan-in with in-memory node runtimes (no cluster): node stamping, one
// header per node, summed stats, per-node failures, the filter defaults of Kubernetes mode; and
// the event pipeline on the merged stream (two nodes using the same mount namespace number).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import { RunError } from '#gadgets/framework/errors.js';
import type {
  ContainerFilter,
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
} from '#gadgets/framework/runtime.js';
import type { GadgetEvent, RawRecord, RecordLayout } from '#gadgets/framework/types.js';
import type { ObjectSink, Reporter } from '../../output/types.js';
import { EventPipeline } from '../../pipeline/pipeline.js';
import { matchesFilter } from '#gadgets/framework/filter.js';
import {
  KubernetesRuntime,
  kubernetesRequest,
  MAX_DIALS,
  pickPods,
  retryWindowMs,
  withoutGadgetPods,
  type NodeTarget,
} from './runtime.js';
import type { GadgetPod } from './transport.js';

const layout: RecordLayout = {
  struct: 'event',
  size: 16,
  fields: [
    { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
    { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
  ],
};

const MNTNS = 4026532100;

function framed(ts: bigint, mntns: number): Buffer {
  const b = Buffer.alloc(4 + 16 + 4);
  b.writeUInt32LE(16, 0);
  b.writeBigUInt64LE(ts, 4);
  b.writeBigUInt64LE(BigInt(mntns), 12);
  return b;
}

function containerOn(node: string): ContainerInfo {
  return {
    runtime: 'containerd',
    id: node.padEnd(64, '0'),
    name: 'app',
    pid: 1,
    mntnsId: MNTNS,
    generation: 1,
    state: 'running',
    startedAt: 0,
    image: '',
    annotations: {},
    k8s: {
      namespace: 'shop',
      pod: `pod-on-${node}`,
      container: 'app',
      podUid: node,
      labels: {},
      ownerKind: '',
      ownerName: '',
      podIp: '',
      hostNetwork: false,
    },
  };
}

const filter = (f: Partial<ContainerFilter> = {}): ContainerFilter => ({
  containerNames: [],
  containerIds: [],
  host: false,
  namespaces: [],
  pods: [],
  labelSelector: '',
  podsOnly: false,
  ...f,
});

const request = (f: Partial<ContainerFilter> = {}): RunRequest => ({
  gadget: 'trace_exec',
  params: {},
  filter: filter(f),
  timeoutSeconds: 0,
});

/** A node daemon in memory: a fixed script, or an error after `failAfter` messages. */
class FakeNode implements GadgetRuntime {
  seen: RunRequest[] = [];
  aborted = false;
  constructor(
    readonly node: string,
    private readonly script: RunMessage[],
    private readonly fail?: { after: number; error: Error },
  ) {}
  async info(): Promise<NodeInfo> {
    if (this.fail) throw this.fail.error;
    return { node: this.node, kernel: '6.1', version: `0.1.0-${this.node}`, gadgets: [] };
  }
  async listContainers(): Promise<ContainerInfo[]> {
    if (this.fail) throw this.fail.error;
    return [containerOn(this.node)];
  }
  async *run(req: RunRequest, signal: AbortSignal): AsyncGenerator<RunMessage> {
    this.seen.push(req);
    signal.addEventListener('abort', () => (this.aborted = true));
    let n = 0;
    for (const m of this.script) {
      if (this.fail && n === this.fail.after) throw this.fail.error;
      n++;
      await new Promise((r) => setImmediate(r));
      yield m;
    }
    if (this.fail && n === this.fail.after) throw this.fail.error;
  }
  async close(): Promise<void> {}
}

function script(node: string, bootToWallNs: bigint): RunMessage[] {
  return [
    {
      kind: 'header',
      header: { gadget: 'trace_exec', node: 'whatever-the-daemon-says', layout, bootToWallNs },
    },
    { kind: 'containers', containers: [containerOn(node)] },
    { kind: 'batch', records: framed(1_000n, MNTNS), count: 1 },
    { kind: 'stats', stats: { events: 10, lost: 1 } },
    { kind: 'log', level: 'warn', message: 'slow' },
    { kind: 'done', reason: 'timeout' },
  ];
}

const pod = (node: string, extra: Partial<GadgetPod> = {}): GadgetPod => ({
  name: `gadget-${node}`,
  namespace: 'gadget',
  node,
  phase: 'Running',
  ready: true,
  ...extra,
});

function runtime(nodes: FakeNode[], warn?: (m: string) => void): KubernetesRuntime {
  const targets: NodeTarget[] = nodes.map((n) => ({ node: n.node, pod: pod(n.node), runtime: n }));
  return new KubernetesRuntime(targets, { defaultNamespace: 'shop', warn });
}

async function collect(rt: GadgetRuntime, req: RunRequest): Promise<RunMessage[]> {
  const out: RunMessage[] = [];
  for await (const m of rt.run(req, new AbortController().signal)) out.push(m);
  return out;
}

describe('KubernetesRuntime fan-in', () => {
  test('one header per node, node-stamped containers and batches, summed stats, one done', async () => {
    const a = new FakeNode('node-a', script('node-a', 0n));
    const b = new FakeNode('node-b', script('node-b', 5n));
    const msgs = await collect(runtime([a, b]), request({ namespaces: ['shop'] }));
    const headers = msgs.filter((m) => m.kind === 'header');
    assert.deepEqual(headers.map((h) => h.kind === 'header' && h.header.node).sort(), [
      'node-a',
      'node-b',
    ]);
    for (const m of msgs) {
      if (m.kind === 'containers') assert.equal(m.containers[0]!.k8s!.pod, `pod-on-${m.node}`);
      if (m.kind === 'batch') assert.ok(m.node === 'node-a' || m.node === 'node-b');
    }
    // each node's header comes before its containers and batches
    for (const node of ['node-a', 'node-b']) {
      const h = msgs.findIndex((m) => m.kind === 'header' && m.header.node === node);
      const c = msgs.findIndex((m) => m.kind === 'containers' && m.node === node);
      const bt = msgs.findIndex((m) => m.kind === 'batch' && m.node === node);
      assert.ok(h >= 0 && h < c && c < bt, `order on ${node}`);
    }
    const stats = msgs.filter((m) => m.kind === 'stats');
    assert.deepEqual(stats.at(-1), { kind: 'stats', stats: { events: 20, lost: 2 } });
    const logs = msgs.filter((m) => m.kind === 'log').map((m) => m.kind === 'log' && m.message);
    assert.deepEqual(logs.sort(), ['node node-a: slow', 'node node-b: slow']);
    assert.deepEqual(msgs.at(-1), { kind: 'done', reason: 'timeout' });
    assert.equal(msgs.filter((m) => m.kind === 'done').length, 1);
  });

  test('at most MAX_DIALS nodes are dialed at once; every node streams', async () => {
    let dialing = 0;
    let most = 0;
    /** a node whose header comes 2 ms after its dial starts */
    class SlowDial extends FakeNode {
      override async *run(req: RunRequest, signal: AbortSignal): AsyncGenerator<RunMessage> {
        dialing++;
        most = Math.max(most, dialing);
        await new Promise((r) => setTimeout(r, 2));
        dialing--;
        yield* super.run(req, signal);
      }
    }
    const nodes = Array.from(
      { length: 3 * MAX_DIALS },
      (_, i) => new SlowDial(`n${i}`, script(`n${i}`, 0n)),
    );
    const msgs = await collect(runtime(nodes), request({ namespaces: ['shop'] }));
    assert.equal(most, MAX_DIALS);
    assert.equal(msgs.filter((m) => m.kind === 'header').length, nodes.length);
    assert.equal(msgs.filter((m) => m.kind === 'batch').length, nodes.length);
  });

  test('the pipeline keeps the nodes apart (same mntns number, different pods and clocks)', async () => {
    const a = new FakeNode('node-a', script('node-a', 0n));
    const b = new FakeNode('node-b', script('node-b', 1_000_000_000n));
    const events: GadgetEvent[] = [];
    const sink: ObjectSink = {
      kind: 'objects',
      write: (e) => void events.push(...e),
      end: async () => {},
    };
    const rep: Reporter = { warn: () => {}, log: () => {} };
    const p = new EventPipeline({
      descriptor: { name: 'trace_exec', transform: (_r: RawRecord) => ({}) },
      params: {},
      sink,
      reporter: rep,
    });
    for (const m of await collect(runtime([a, b]), request())) await p.handle(m);
    const byNode = Object.fromEntries(events.map((e) => [e.node as string, e]));
    assert.equal(byNode['node-a']!.pod, 'pod-on-node-a');
    assert.equal(byNode['node-b']!.pod, 'pod-on-node-b');
    assert.notEqual(
      byNode['node-a']!.timestamp,
      byNode['node-b']!.timestamp,
      'each node its own clock offset',
    );
  });

  test('many nodes on one abort signal: no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const nodes = Array.from(
        { length: 40 },
        (_, i) => new FakeNode(`n${i}`, script(`n${i}`, 0n)),
      );
      const msgs = await collect(runtime(nodes), request());
      assert.equal(new Set(msgs.flatMap((m) => (m.kind === 'batch' ? [m.node] : []))).size, 40);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('a failing node is a warning naming it; the others go on', async () => {
    const a = new FakeNode('node-a', script('node-a', 0n));
    const b = new FakeNode('node-b', script('node-b', 0n), {
      after: 0,
      error: new RunError(
        'UNAVAILABLE',
        'cannot reach daemon at node "node-b": connect ECONNREFUSED',
      ),
    });
    const msgs = await collect(runtime([a, b]), request());
    const warn = msgs.find((m) => m.kind === 'log' && m.message.startsWith('node node-b:'));
    assert.ok(
      warn && warn.kind === 'log' && warn.level === 'warn',
      JSON.stringify(msgs.filter((m) => m.kind === 'log')),
    );
    assert.ok(msgs.some((m) => m.kind === 'batch' && m.node === 'node-a'));
    assert.deepEqual(msgs.at(-1), { kind: 'done', reason: 'timeout' });
  });

  test('a stream lost mid-run is resumed when the node is back; the gap is reported, stats add up', async () => {
    const lostErr = Object.assign(
      new RunError('UNAVAILABLE', 'lost connection to daemon at node "node-a": tunnel closed'),
      { lost: true },
    );
    const down = new RunError('UNAVAILABLE', 'cannot reach daemon at node "node-a": 503');
    const first = script('node-a', 0n).slice(0, 4); // header, containers, batch, stats
    const plan: Array<{ msgs: RunMessage[]; error?: Error }> = [
      { msgs: first, error: lostErr },
      { msgs: [], error: down },
      { msgs: script('node-a', 0n) },
    ];
    let runs = 0;
    const node: GadgetRuntime = {
      info: async () => ({ node: 'node-a', kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => {},
      async *run() {
        const p = plan[runs++]!;
        for (const m of p.msgs) yield m;
        if (p.error) throw p.error;
      },
    };
    const rt = new KubernetesRuntime([{ node: 'node-a', pod: pod('node-a'), runtime: node }], {
      defaultNamespace: 'shop',
      reconnectBackoffMs: 1,
    });
    const msgs = await collect(rt, request());
    assert.equal(runs, 3);
    const logs = msgs.flatMap((m) => (m.kind === 'log' ? [m.message] : []));
    assert.equal(
      logs[0],
      `node node-a: ${lostErr.message}; reconnecting until its gadget pod answers (for up to 120 s)`,
    );
    assert.match(
      logs[1]!,
      /^node node-a: stream resumed after a gap of \d+\.\d s \(\d\d:\d\d:\d\d\.\d{3}-\d\d:\d\d:\d\d\.\d{3} UTC, 2 attempt\(s\), pod gadget-node-a\): what ran on the node in the gap was not traced$/,
    );
    assert.deepEqual(rt.partialNodes(), []);
    assert.equal(msgs.filter((m) => m.kind === 'header').length, 2);
    assert.equal(msgs.filter((m) => m.kind === 'batch').length, 2);
    // the second stream's stats count from 0 again: the totals add the first stream's
    assert.deepEqual(msgs.filter((m) => m.kind === 'stats').at(-1), {
      kind: 'stats',
      stats: { events: 20, lost: 2 },
    });
    assert.deepEqual(msgs.at(-1), { kind: 'done', reason: 'timeout' });
  });

  test('a lost node that is not back within reconnectMs is given up: a warning, a partial run', async () => {
    const lostErr = Object.assign(new RunError('UNAVAILABLE', 'lost connection: gone'), {
      lost: true,
    });
    let runs = 0;
    const node: GadgetRuntime = {
      info: async () => ({ node: 'n', kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => {},
      async *run() {
        runs++;
        if (runs === 1) yield script('n', 0n)[0]!;
        throw runs === 1 ? lostErr : new RunError('UNAVAILABLE', 'cannot reach daemon: down');
      },
    };
    const rt = new KubernetesRuntime([{ node: 'n', pod: pod('n'), runtime: node }], {
      defaultNamespace: 'shop',
      reconnectMs: 30,
      reconnectBackoffMs: 5,
    });
    const msgs = await collect(rt, request());
    assert.ok(runs >= 2);
    const logs = msgs.flatMap((m) => (m.kind === 'log' ? [m.message] : []));
    assert.match(
      logs.at(-1)!,
      /^node n: not back after 0 s \(cannot reach daemon: down\); giving up on this node$/,
    );
    assert.deepEqual(rt.partialNodes(), ['n']);
    assert.equal(msgs.at(-1)?.kind, 'done');
  });

  test('a node that does not answer: status line; retried through its replaced pod; the other streams meanwhile', async () => {
    const down = new RunError('UNAVAILABLE', 'cannot reach daemon at node "b": 404');
    let aborted = 0;
    /** a node that streams until the run is aborted */
    const live = (node: string): GadgetRuntime => ({
      info: async () => ({ node, kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => {},
      async *run(_req, signal) {
        yield script(node, 0n)[0]!;
        for (let i = 0; !signal.aborted; i++) {
          yield { kind: 'batch', records: framed(BigInt(i), MNTNS), count: 1 };
          await new Promise((r) => setTimeout(r, 5));
        }
        aborted++;
      },
    });
    let oldRuns = 0;
    let closed = 0;
    const old: GadgetRuntime = {
      info: async () => ({ node: 'b', kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => void closed++,
      // eslint-disable-next-line require-yield
      async *run() {
        oldRuns++;
        throw down;
      },
    };
    const replaced: NodeTarget = {
      node: 'b',
      pod: pod('b', { name: 'gadget-b-2' }),
      runtime: live('b'),
    };
    const answers: Array<NodeTarget | string> = [
      'gadget pod gadget-b-2 is Pending, not Ready',
      replaced,
    ];
    const warned: string[] = [];
    const rt = new KubernetesRuntime(
      [
        { node: 'a', pod: pod('a'), runtime: live('a') },
        { node: 'b', pod: pod('b'), runtime: old },
      ],
      {
        defaultNamespace: 'shop',
        reconnectBackoffMs: 5,
        refresh: async (cur) => {
          assert.equal(cur.node, 'b');
          return answers.shift() ?? cur;
        },
      },
    );
    const ac = new AbortController();
    const msgs: RunMessage[] = [];
    for await (const m of rt.run(request(), ac.signal)) {
      msgs.push(m);
      if (m.kind === 'log') warned.push(m.message);
      if (msgs.filter((x) => x.kind === 'batch' && x.node === 'b').length === 3) ac.abort();
    }
    assert.equal(oldRuns, 1);
    assert.equal(closed, 1, "the old pod's connection is closed");
    assert.equal(warned[0], `connected 1/2; not answering: b (${down.message})`);
    assert.equal(
      warned[1],
      `node b: ${down.message}; retrying until its gadget pod answers (for up to 120 s)`,
    );
    assert.match(
      warned[2]!,
      /^node b: stream started after a gap of .*, 2 attempt\(s\), pod gadget-b-2\)/,
    );
    assert.equal(warned.length, 3);
    assert.ok(msgs.some((m) => m.kind === 'batch' && m.node === 'a'));
    assert.equal(rt.nodes[1], replaced, "close() closes the new pod's connection");
    assert.deepEqual(rt.partialNodes(), []);
    assert.equal(aborted, 2);
  });

  test('a gadget pod not Ready at the start is not dialed, but retried until it is Ready', async () => {
    const live = (node: string, runs: { n: number }): GadgetRuntime => ({
      info: async () => ({ node, kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => {},
      async *run(_req, signal) {
        runs.n++;
        yield script(node, 0n)[0]!;
        for (let i = 0; !signal.aborted; i++) {
          yield { kind: 'batch', records: framed(BigInt(i), MNTNS), count: 1 };
          await new Promise((r) => setTimeout(r, 5));
        }
      },
    });
    const runsA = { n: 0 };
    const runsP = { n: 0 };
    const pending: NodeTarget = {
      node: 'p',
      pod: pod('p', { phase: 'Pending', ready: false }),
      runtime: live('p', runsP),
    };
    const answers: Array<NodeTarget | string> = ['gadget pod gadget-p is Running, not Ready'];
    const refreshed: string[] = [];
    const rt = new KubernetesRuntime(
      [{ node: 'a', pod: pod('a'), runtime: live('a', runsA) }, pending],
      {
        defaultNamespace: 'shop',
        reconnectBackoffMs: 5,
        refresh: async (cur) => {
          refreshed.push(cur.node);
          // then Ready: the same pod, so the same target
          return answers.shift() ?? cur;
        },
      },
    );
    const ac = new AbortController();
    const warned: string[] = [];
    let pBatches = 0;
    for await (const m of rt.run(request(), ac.signal)) {
      if (m.kind === 'log') warned.push(m.message);
      if (m.kind === 'batch' && m.node === 'p' && ++pBatches === 3) ac.abort();
    }
    assert.equal(runsP.n, 1, 'dialed once, after it was Ready');
    assert.equal(runsA.n, 1);
    assert.deepEqual(refreshed, ['p', 'p']);
    assert.equal(
      warned[0],
      'connected 1/2; not answering: p (gadget pod gadget-p is Pending, not Ready)',
    );
    assert.equal(
      warned[1],
      'node p: gadget pod gadget-p is Pending, not Ready; retrying until its gadget pod answers (for up to 120 s)',
    );
    assert.match(
      warned[2]!,
      /^node p: stream started after a gap of .*, 2 attempt\(s\), pod gadget-p\)/,
    );
    assert.equal(warned.length, 3);
    assert.deepEqual(rt.partialNodes(), []);
  });

  test('a node still gone when the run is stopped is partial', async () => {
    const down = new RunError('UNAVAILABLE', 'cannot reach daemon: refused');
    const gone: GadgetRuntime = {
      info: async () => ({ node: 'g', kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => {},
      // eslint-disable-next-line require-yield
      async *run() {
        throw down;
      },
    };
    const live: GadgetRuntime = {
      info: async () => ({ node: 'l', kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => {},
      async *run(_req, signal) {
        yield script('l', 0n)[0]!;
        while (!signal.aborted) {
          yield { kind: 'batch', records: framed(1n, MNTNS), count: 1 };
          await new Promise((r) => setTimeout(r, 5));
        }
      },
    };
    const rt = new KubernetesRuntime(
      [
        { node: 'g', pod: pod('g'), runtime: gone },
        { node: 'l', pod: pod('l'), runtime: live },
      ],
      { defaultNamespace: 'shop', reconnectBackoffMs: 5 },
    );
    const ac = new AbortController();
    let batches = 0;
    for await (const m of rt.run(request(), ac.signal))
      if (m.kind === 'batch' && ++batches === 20) ac.abort();
    assert.deepEqual(rt.partialNodes(), ['g']);
  });

  test('a slow node never holds back the others', async () => {
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const slow: GadgetRuntime = {
      info: async () => ({ node: 's', kernel: '', version: '', gadgets: [] }),
      listContainers: async () => [],
      close: async () => {},
      async *run() {
        await stuck; // connected, but answers nothing until released
        yield* script('s', 0n);
      },
    };
    const fast = new FakeNode('f', script('f', 0n));
    const rt = new KubernetesRuntime(
      [
        { node: 's', pod: pod('s'), runtime: slow },
        { node: 'f', pod: pod('f'), runtime: fast },
      ],
      { defaultNamespace: 'shop' },
    );
    const msgs: RunMessage[] = [];
    let released = false;
    for await (const m of rt.run(request(), new AbortController().signal)) {
      msgs.push(m);
      // every message of the fast node arrived while the slow one still says nothing
      if (m.kind === 'stats' && !released) {
        assert.ok(!msgs.some((x) => x.kind === 'header' && x.header.node === 's'));
        released = true;
        release();
      }
    }
    assert.equal(
      msgs
        .filter((m) => m.kind === 'batch')
        .map((m) => m.kind === 'batch' && m.node)
        .join(),
      'f,s',
    );
  });

  test('every node failing the same way: that error, once', async () => {
    const denied = new RunError(
      'PERMISSION_DENIED',
      'permission denied: user "bob" cannot create pods/exec in namespace "shop"',
    );
    const nodes = ['a', 'b', 'c'].map((n) => new FakeNode(n, [], { after: 0, error: denied }));
    await assert.rejects(collect(runtime(nodes), request()), (e: Error) => {
      assert.equal(e, denied);
      return true;
    });
  });

  test('every node failing differently: one error naming each node', async () => {
    const a = new FakeNode('a', [], { after: 0, error: new Error('one') });
    const b = new FakeNode('b', [], { after: 0, error: new Error('two') });
    await assert.rejects(
      collect(runtime([a, b]), request()),
      /every node failed: node a: one; node b: two$/,
    );
  });

  test('filter defaults: -n is the context namespace, -A all, pods only unless --host', async () => {
    const a = new FakeNode('node-a', script('node-a', 0n));
    await collect(runtime([a]), request());
    assert.deepEqual(a.seen[0]!.filter, filter({ namespaces: ['shop'], podsOnly: true }));
    assert.deepEqual(
      kubernetesRequest(request(), { defaultNamespace: 'x', allNamespaces: true }).filter,
      filter({ podsOnly: true }),
    );
    assert.deepEqual(
      kubernetesRequest(request({ namespaces: ['a', 'b'] }), { defaultNamespace: 'x' }).filter,
      filter({ namespaces: ['a', 'b'], podsOnly: true }),
    );
    assert.deepEqual(
      kubernetesRequest(request({ host: true }), { defaultNamespace: 'x' }).filter,
      filter({ host: true }),
    );
  });

  test('abort stops every node stream', async () => {
    const endless: RunMessage[] = [
      { kind: 'header', header: { gadget: 'g', node: 'n', layout, bootToWallNs: 0n } },
    ];
    for (let i = 0; i < 100_000; i++)
      endless.push({ kind: 'batch', records: framed(BigInt(i), MNTNS), count: 1 });
    const a = new FakeNode('a', endless);
    const b = new FakeNode('b', endless);
    const ac = new AbortController();
    let n = 0;
    for await (const m of runtime([a, b]).run(request(), ac.signal)) {
      if (m.kind === 'batch' && ++n === 50) ac.abort();
    }
    assert.ok(a.aborted && b.aborted);
  });

  test('listContainers merges nodes; a failing node is a warning', async () => {
    const warnings: string[] = [];
    const a = new FakeNode('a', []);
    const b = new FakeNode('b', [], { after: 0, error: new Error('gone') });
    const list = await runtime([a, b], (m) => warnings.push(m)).listContainers();
    assert.deepEqual(
      list.map((c) => c.k8s!.pod),
      ['pod-on-a'],
    );
    assert.deepEqual(warnings, ['node b: gone']);
  });

  test('nodeVersions: every node, or why it did not answer', async () => {
    const a = new FakeNode('a', []);
    const b = new FakeNode('b', [], { after: 0, error: new Error('gone') });
    const v = await runtime([a, b]).nodeVersions();
    assert.deepEqual(
      v.map((x) => [x.node, x.info?.version, x.error]),
      [
        ['a', '0.1.0-a', undefined],
        ['b', undefined, 'gone'],
      ],
    );
  });

  test('pickPods: one per node, running and ready first, newest first; unscheduled skipped', () => {
    const created = new Map([
      ['old', 1],
      ['new', 2],
    ]);
    const picked = pickPods(
      [
        pod('n1', { name: 'old' }),
        pod('n1', { name: 'new' }),
        pod('n2', { name: 'pending', phase: 'Pending', ready: false }),
        pod('n2', { name: 'running' }),
        pod('', { name: 'unscheduled' }),
      ],
      created,
    );
    assert.deepEqual(
      picked.map((p) => `${p.node}/${p.name}`),
      ['n1/new', 'n2/running'],
    );
  });
});

test('-A leaves out the gadget pods (their readiness probe) unless -n gadget, -p or -l asks', () => {
  const gadgetPod = containerOn('node-1');
  gadgetPod.k8s = {
    ...gadgetPod.k8s!,
    namespace: 'gadget',
    pod: 'gadget-x7k2p',
    container: 'gadget',
    labels: { 'k8s-app': 'gadget', 'controller-revision-hash': '5c9f' },
  };
  const web = containerOn('node-1');
  web.k8s = { ...web.k8s!, labels: { app: 'web' } };
  const seen = (f: ContainerFilter): string[] =>
    [gadgetPod, web].filter((c) => matchesFilter(f, c)).map((c) => c.k8s!.pod);
  const all = kubernetesRequest(request(), { defaultNamespace: 'x', allNamespaces: true }).filter;
  assert.deepEqual(seen(all), ['gadget-x7k2p', 'pod-on-node-1'], 'the filter as it was');
  assert.deepEqual(withoutGadgetPods(all).labelSelector, 'k8s-app!=gadget');
  assert.deepEqual(seen(withoutGadgetPods(all)), ['pod-on-node-1']);
  // another selector is kept, the exclusion added to it
  assert.deepEqual(seen(withoutGadgetPods({ ...all, labelSelector: '!canary' })), [
    'pod-on-node-1',
  ]);
  // asked for: -n gadget, -p, a -l naming the label, --host
  for (const f of [
    filter({ namespaces: ['gadget'], podsOnly: true }),
    filter({ pods: ['gadget-x7k2p'], podsOnly: true }),
    filter({ labelSelector: 'k8s-app=gadget', podsOnly: true }),
  ]) {
    assert.deepEqual(withoutGadgetPods(f), f);
    assert.deepEqual(seen(withoutGadgetPods(f)), ['gadget-x7k2p']);
  }
  assert.deepEqual(withoutGadgetPods(filter({ host: true })), filter({ host: true }));
});

test('KGADGET_NODE_RETRY_SECONDS: the retry window, 120 s by default; bad values are one-line errors', () => {
  assert.equal(retryWindowMs({}), 120_000);
  assert.equal(retryWindowMs({ KGADGET_NODE_RETRY_SECONDS: '6' }), 6000);
  assert.equal(retryWindowMs({ KGADGET_NODE_RETRY_SECONDS: '0' }), 0);
  assert.equal(retryWindowMs({ KGADGET_NODE_RETRY_SECONDS: '1.5' }), 1500);
  for (const v of ['-1', 'x', '2m'])
    assert.throws(
      () => retryWindowMs({ KGADGET_NODE_RETRY_SECONDS: v }),
      (e: Error) => e.message === `KGADGET_NODE_RETRY_SECONDS=${v}: not a number of seconds`,
    );
});
