import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { GadgetRuntime, RunMessage, RunRequest } from '#gadgets/framework/runtime.js';
import { buildDns } from '#gadgets/advise_network_policy/dns.js';
import { LAYOUT } from '#gadgets/advise_network_policy/testdata/layout.js';
import type { GadgetEvent } from '#gadgets/framework/types.js';
import type { RunTotals } from '../../output/types.js';
import { endpointName, parseFlows } from './flow.js';
import {
  ContainerResolver,
  FallbackResolver,
  INIT_NETNS,
  ResolverChain,
  workloadOwner,
} from './identity.js';
import { flowRow, runMonitor } from './monitor.js';
import { emptyFilter } from '#gadgets/framework/filter.js';

interface Rec {
  ts?: bigint;
  mntns?: number;
  /** mntns_uid: the namespace's unique id (0: none) */
  uid?: number;
  pid?: number;
  netns: number;
  first?: bigint;
  count?: number;
  dir: 0 | 1;
  proto: 6 | 17;
  source: number;
  port: number;
  laddr?: number[];
  raddr: number[];
  family?: 4 | 6;
  dns?: Buffer;
}

function at(name: string): number {
  const f = LAYOUT.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name}`);
  return f.offset;
}

function frame(recs: Rec[]): { records: Buffer; count: number } {
  const parts: Buffer[] = [];
  for (const r of recs) {
    const dns = r.dns ?? Buffer.alloc(0);
    const len = LAYOUT.size + dns.length;
    const b = Buffer.alloc((4 + len + 7) & ~7);
    b.writeUInt32LE(len, 0);
    const o = (name: string): number => 4 + at(name);
    b.writeBigUInt64LE(r.ts ?? 2_000_000_000n, o('timestamp'));
    b.writeBigUInt64LE(BigInt(r.mntns ?? 0), o('mntns_id'));
    b.writeBigUInt64LE(BigInt(r.uid ?? 0), o('mntns_uid'));
    b.writeUInt32LE(r.pid ?? 0, o('pid'));
    b.writeUInt32LE(r.netns, o('netns_id'));
    b.write('comm', o('comm'));
    b.writeBigUInt64LE(r.first ?? 1_000_000_000n, o('first_seen'));
    b.writeBigUInt64LE(BigInt(r.count ?? 1), o('count'));
    b[o('direction')] = r.dir;
    b[o('proto')] = r.proto;
    b[o('family')] = r.family ?? 4;
    b[o('source')] = r.source;
    b.writeUInt16LE(r.port, o('port'));
    Buffer.from(r.laddr ?? [0, 0, 0, 0]).copy(b, o('laddr'));
    Buffer.from(r.raddr).copy(b, o('raddr'));
    b.writeUInt32LE(dns.length, o('dns_size'));
    dns.copy(b, o('dns'));
    parts.push(b);
  }
  return { records: Buffer.concat(parts), count: recs.length };
}

class FakeRuntime implements GadgetRuntime {
  constructor(private readonly messages: RunMessage[]) {}
  async info() {
    return { node: 'n1', kernel: '', version: '', gadgets: [] };
  }
  async listContainers() {
    return [];
  }
  async close() {}
  async *run(_req: RunRequest, _signal: AbortSignal): AsyncIterable<RunMessage> {
    for (const m of this.messages) yield m;
  }
}

const REQUEST: RunRequest = {
  gadget: 'advise_network_policy',
  params: {},
  filter: emptyFilter(),
  timeoutSeconds: 0,
};

const WEB: ContainerInfo = {
  runtime: 'containerd',
  id: 'a'.repeat(64),
  name: 'web',
  pid: 10,
  mntnsId: 4026532001,
  generation: 1,
  state: 'running',
  startedAt: 0,
  image: 'web',
  annotations: {},
  k8s: {
    namespace: 'shop',
    pod: 'web-6d8f9-abcde',
    container: 'web',
    podUid: 'u1',
    labels: { app: 'web', 'pod-template-hash': '6d8f9' },
    ownerKind: 'ReplicaSet',
    ownerName: 'web-6d8f9',
    podIp: '10.244.1.5',
    hostNetwork: false,
  },
};

test('monitor: reports fold into flows; DNS names the peers; loopback dropped; file and live rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kgtest-mon-'));
  try {
    const file = join(dir, 'flows.ndjson');
    const answer = buildDns({
      id: 1,
      qname: 'api.example.com',
      response: true,
      answers: [{ type: 'A', data: '203.0.113.9' }],
    });
    const WEB_NETNS = 4026532100;
    const messages: RunMessage[] = [
      {
        kind: 'header',
        header: {
          gadget: 'advise_network_policy',
          node: 'n1',
          layout: LAYOUT,
          bootToWallNs: 1_700_000_000_000_000_000n,
        },
      },
      { kind: 'containers', containers: [WEB] },
      {
        kind: 'batch',
        ...frame([
          // a lookup (connected UDP socket, then the answer), then the connection to the answer's
          // address (reported twice)
          {
            netns: WEB_NETNS,
            mntns: WEB.mntnsId,
            dir: 0,
            proto: 17,
            source: 3,
            port: 53,
            raddr: [10, 96, 0, 10],
          },
          {
            netns: WEB_NETNS,
            mntns: WEB.mntnsId,
            dir: 0,
            proto: 17,
            source: 6,
            port: 53,
            raddr: [10, 96, 0, 10],
            dns: answer,
          },
          {
            netns: WEB_NETNS,
            mntns: WEB.mntnsId,
            dir: 0,
            proto: 6,
            source: 1,
            port: 443,
            raddr: [203, 0, 113, 9],
          },
          {
            netns: WEB_NETNS,
            mntns: WEB.mntnsId,
            dir: 0,
            proto: 6,
            source: 1,
            port: 443,
            raddr: [203, 0, 113, 9],
            count: 5,
            ts: 3_000_000_000n,
          },
          // accepted in softirq: mntns learned from the netns
          {
            netns: WEB_NETNS,
            mntns: WEB.mntnsId,
            dir: 1,
            proto: 6,
            source: 2,
            port: 8080,
            laddr: [10, 244, 1, 5],
            raddr: [192, 168, 0, 1],
          },
          // loopback, and the node's own traffic
          {
            netns: WEB_NETNS,
            mntns: WEB.mntnsId,
            dir: 0,
            proto: 6,
            source: 1,
            port: 9000,
            raddr: [127, 0, 0, 1],
          },
          {
            netns: INIT_NETNS,
            mntns: 1,
            dir: 0,
            proto: 6,
            source: 1,
            port: 8080,
            raddr: [10, 244, 1, 5],
          },
        ]),
      },
      { kind: 'stats', stats: { events: 7, lost: 0 } },
      { kind: 'done', reason: 'timeout' },
    ];
    const rows: GadgetEvent[] = [];
    const warnings: string[] = [];
    const totals: RunTotals[] = [];
    const r = await runMonitor(new FakeRuntime(messages), {
      request: REQUEST,
      params: {},
      resolver: new ResolverChain(
        [new ContainerResolver()],
        new FallbackResolver(new Set(['192.168.0.1'])),
      ),
      outputFile: file,
      live: { kind: 'objects', write: (evs) => void rows.push(...evs), end: async () => undefined },
      reporter: {
        warn: (m) => warnings.push(m),
        log: () => undefined,
        totals: (t) => totals.push(t),
      },
      signal: new AbortController().signal,
    });
    assert.equal(r.reason, 'timeout');
    assert.equal(r.events, 7);
    const lines = r.flows.map(
      (f) =>
        `${endpointName(f.local)} ${f.direction} ${endpointName(f.peer)} ${f.protocol}/${f.port} x${f.count} ${(f.peer.dns_names ?? f.dns_queries ?? []).join(',')}`,
    );
    assert.deepEqual(lines, [
      'shop/web egress 10.96.0.10 UDP/53 x1 api.example.com',
      'shop/web egress 203.0.113.9 TCP/443 x6 api.example.com',
      'shop/web ingress node/n1 TCP/8080 x1 ',
      'node/n1 egress 10.244.1.5 TCP/8080 x1 ',
    ]);
    const web = r.flows[1]!;
    assert.deepEqual(web.local, {
      kind: 'pod',
      ip: '10.244.1.5',
      namespace: 'shop',
      workload: 'web',
      workload_kind: 'Deployment',
      labels: { app: 'web' },
      pods: ['web-6d8f9-abcde'],
    });
    assert.equal(web.first_seen, '2023-11-14T22:13:21.000Z');
    assert.equal(web.last_seen, '2023-11-14T22:13:23.000Z');
    assert.deepEqual(parseFlows(readFileSync(file, 'utf8')), r.flows);
    assert.deepEqual(flowRow(web).peer, '203.0.113.9');
    assert.deepEqual(warnings, []);
    // one live row per flow and batch, naming its flow (the live table updates that row in
    // place) with its count so far
    assert.deepEqual(rows.map((x) => `${String(x.peer)} x${String(x.count)}`).sort(), [
      '10.244.1.5 x1',
      '10.96.0.10 x1',
      '203.0.113.9 x6',
      'node/n1 x1',
    ]);
    assert.equal(new Set(rows.map((x) => x.key)).size, 4);
    assert.deepEqual(totals.at(-1), { events: 7, lost: 0, dropped: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('identity: owners of pods', () => {
  assert.deepEqual(
    workloadOwner('web-6d8f9-abcde', { 'pod-template-hash': '6d8f9' }, 'ReplicaSet', 'web-6d8f9'),
    { kind: 'Deployment', name: 'web' },
  );
  assert.deepEqual(workloadOwner('db-0', {}, 'StatefulSet', 'db'), {
    kind: 'StatefulSet',
    name: 'db',
  });
  assert.deepEqual(workloadOwner('rs-x', {}, 'ReplicaSet', 'rs'), {
    kind: 'ReplicaSet',
    name: 'rs',
  });
  assert.deepEqual(workloadOwner('bare', {}, '', ''), { kind: 'Pod', name: 'bare' });
  assert.deepEqual(
    workloadOwner('j-1', { 'batch.kubernetes.io/cronjob-name': 'nightly' }, 'Job', 'nightly-28'),
    { kind: 'CronJob', name: 'nightly' },
  );
});

test('monitor: a fan-in over several nodes keeps one state per node', async () => {
  const header = (node: string, off: bigint): RunMessage => ({
    kind: 'header',
    header: { gadget: 'advise_network_policy', node, layout: LAYOUT, bootToWallNs: off },
  });
  const rec = (port: number): Rec => ({
    netns: INIT_NETNS,
    dir: 0,
    proto: 6,
    source: 1,
    port,
    raddr: [203, 0, 113, 1],
  });
  const r = await runMonitor(
    new FakeRuntime([
      header('n1', 1_700_000_000_000_000_000n),
      header('n2', 1_700_000_100_000_000_000n),
      { kind: 'batch', node: 'n1', ...frame([rec(443)]) },
      { kind: 'batch', node: 'n2', ...frame([rec(443), rec(80)]) },
      { kind: 'batch', ...frame([rec(80)]) }, // no node: the last header's (n2)
      { kind: 'done', reason: 'timeout' },
    ]),
    {
      request: REQUEST,
      params: {},
      resolver: new ResolverChain([new ContainerResolver()], new FallbackResolver(new Set())),
      reporter: { warn: () => undefined, log: () => undefined },
      signal: new AbortController().signal,
    },
  );
  assert.deepEqual(
    r.flows.map((f) => `${f.node} ${endpointName(f.local)} ${f.port} x${f.count} ${f.first_seen}`),
    [
      'n1 node/n1 443 x1 2023-11-14T22:13:21.000Z',
      'n2 node/n2 80 x2 2023-11-14T22:15:01.000Z',
      'n2 node/n2 443 x1 2023-11-14T22:15:01.000Z',
    ],
  );
});

test('monitor: records with a mntns_uid are joined to containers by it: two pods on one mount namespace inode keep their own names', async () => {
  // a short-lived pod's mount namespace inode is reused at once by the next pod's: records of
  // the dead one (its last counts, drained at the end) must not be named after the new one
  const INODE = 4026532001;
  const pod = (name: string, uid: number, ip: string): ContainerInfo => ({
    ...WEB,
    id: name[0]!.repeat(64),
    name,
    mntnsId: INODE,
    mntnsUid: uid,
    k8s: {
      ...WEB.k8s!,
      pod: name,
      podUid: name,
      labels: { app: name },
      ownerKind: '',
      ownerName: '',
      podIp: ip,
    },
  });
  const one = pod('job-a', 11, '10.244.1.7');
  const two = pod('job-b', 12, '10.244.1.8');
  const rec = (uid: number, port: number): Rec => ({
    netns: 4026532200 + uid,
    mntns: INODE,
    uid,
    dir: 0,
    proto: 6,
    source: 1,
    port,
    raddr: [203, 0, 113, 1],
  });
  const flows = async (containers: ContainerInfo[], recs: Rec[]) => {
    const r = await runMonitor(
      new FakeRuntime([
        {
          kind: 'header',
          header: { gadget: 'advise_network_policy', node: 'n1', layout: LAYOUT, bootToWallNs: 0n },
        },
        { kind: 'containers', containers },
        { kind: 'batch', ...frame(recs) },
        { kind: 'done', reason: 'timeout' },
      ]),
      {
        request: REQUEST,
        params: {},
        resolver: new ResolverChain([new ContainerResolver()], new FallbackResolver(new Set())),
        reporter: { warn: () => undefined, log: () => undefined },
        signal: new AbortController().signal,
      },
    );
    return r.flows.map((f) => `${endpointName(f.local)} ${f.port} x${f.count}`);
  };
  assert.deepEqual(await flows([one, two], [rec(11, 443), rec(12, 80), rec(11, 8443)]), [
    'shop/job-a 443 x1',
    'shop/job-a 8443 x1',
    'shop/job-b 80 x1',
  ]);
  // a uid the daemon did not announce is not the inode's container
  assert.deepEqual(await flows([one, two], [rec(13, 443)]), ['unknown/? 443 x1']);
  // records without a uid (an older object, a seeded netns owner) are joined by inode; so are
  // records with one to the containers of an older daemon that sent no uid
  const noUid = { ...two, mntnsUid: undefined };
  delete noUid.mntnsUid;
  assert.deepEqual(await flows([one, two], [{ ...rec(12, 80), uid: 0 }]), ['shop/job-b 80 x1']);
  assert.deepEqual(await flows([noUid], [rec(12, 80)]), ['shop/job-b 80 x1']);
});
