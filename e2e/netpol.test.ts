// advise network-policy, end to end in local mode: network namespaces stand in for the pods of a
// multi-tier demo (frontend -> backend -> postgres, cluster DNS, one external address, kubelet
// probes from the node) on a bridge of their own. monitor captures with eBPF, report writes the
// policies, verify passes on them and fails with any one rule removed, graph renders.
//
// Stand-ins: the namespaces are not pods, so the test maps each one to a fake workload
// (STAND_IN_*): this is the only place where identities are made up.
//
// Runtime: the product's. The main capture is runMonitor() on the daemon's LocalRuntime in this
// process (what `monitor --local` runs, with the stand-in resolver in front of the CLI's
// resolvers); a second capture runs the CLI itself (`advise network-policy monitor --local`).
// Both must attach every program (the cgroup ones at the cgroup v2 root) and leave no BPF
// program of the gadget behind.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalRuntime } from '../daemon/src/runtime/local.js';
import { mntnsUid, RecordCursor } from '../daemon/src/bpf/index.js';
import { makeDecoder } from '../gadgets/framework/decode.js';
import { cleanupLeftovers, NetnsLab } from '../gadgets/advise_network_policy/testdata/netns-lab.js';
import { SERVERS_JS } from '../gadgets/advise_network_policy/testdata/servers.js';
import { ensureCluster, KUBECTL } from './k8s/harness-fake-kubelet.js';
import { packageRoot } from '../gadgets/framework/paths.js';
import {
  endpointName,
  formatFlows,
  parseFlows,
  type Endpoint,
  type FlowRecord,
  type WorkloadRef,
} from '../plugin/src/services/advise_network_policy/flow.js';
import {
  ContainerResolver,
  ResolverChain,
  FallbackResolver,
  type IdentityResolver,
} from '../plugin/src/services/advise_network_policy/identity.js';
import {
  demoFlows,
  flow as fixtureFlow,
  node as fixtureNode,
  pod,
  syntheticFlows,
  writeFlowFile,
} from '../plugin/src/services/advise_network_policy/fixtures.js';
import { runMonitor } from '../plugin/src/services/advise_network_policy/monitor.js';
import { parsePolicies } from '../plugin/src/services/advise_network_policy/policy.js';
import { buildReport } from '../plugin/src/services/advise_network_policy/report.js';
import { verifyFlows } from '../plugin/src/services/advise_network_policy/verify.js';
import { bpftoolAvailable, heldBy, LeakCheck, liveObjects } from './helpers/bpf.js';
import { Cli, notInCi, sleep } from './helpers/cli.js';
import { emptyFilter } from '../gadgets/framework/filter.js';

const ROOT = packageRoot();
const CLI = join(ROOT, 'bin', 'run.js');
const V4 = '10.213.7';
const V6 = 'fd7a:6b67:7';
const SVC_IP = '10.96.213.10';
const NODE = 'kgtest-node';
/** a cgroup v2 hierarchy is mounted (the addon attaches the cgroup programs at its root) */
const cgroup2 =
  existsSync('/proc/self/mounts') &&
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[2] === 'cgroup2');
const canRun = typeof process.getuid === 'function' && process.getuid() === 0 && cgroup2;
const hasBpftool = canRun && bpftoolAvailable();

/** The gadget's programs (program.bpf.c) and, for the cgroup ones, their attach types. */
const NETPOL_LINKS = [
  'netpol_connect4 cgroup_inet4_connect',
  'netpol_connect6 cgroup_inet6_connect',
  'netpol_dns',
  'netpol_recvmsg4 cgroup_udp4_recvmsg',
  'netpol_recvmsg6 cgroup_udp6_recvmsg',
  'netpol_sendmsg4 cgroup_udp4_sendmsg',
  'netpol_sendmsg6 cgroup_udp6_sendmsg',
  'netpol_tcp_state',
];
const isNetpolProg = (name: string | undefined): boolean => /^netpol_/.test(name ?? '');

/** Ids of the gadget's programs loaded now, anywhere on the machine (`bpftool prog show`). */
function netpolProgIds(): Set<number> {
  return new Set(
    liveObjects()
      .progs.filter((p) => isNetpolProg(p.name))
      .map((p) => p.id),
  );
}

/**
 * The links of the gadget's programs that `pid` holds, as "program [cgroup attach type]", sorted;
 * and the ids of those programs.
 */
function netpolLinksOf(pid: number): { links: string[]; progs: Set<number> } {
  const held = heldBy(pid);
  const o = liveObjects();
  const links: string[] = [];
  const progs = new Set<number>();
  for (const l of o.links as Array<{ id: number; prog_id?: number; attach_type?: string }>) {
    if (!held.link.has(l.id)) continue;
    const prog = o.progs.find((p) => p.id === l.prog_id);
    if (!prog || !isNetpolProg(prog.name)) continue;
    progs.add(prog.id);
    const cgroupType = l.attach_type?.startsWith('cgroup_') ? ` ${l.attach_type}` : '';
    links.push(`${prog.name}${cgroupType}`);
  }
  return { links: links.sort(), progs };
}

/** Waits until `pid` has attached every program of the gadget; returns what it holds. */
async function waitAttached(
  pid: number,
  alive: () => boolean,
  timeoutMs = 30_000,
): Promise<ReturnType<typeof netpolLinksOf>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = netpolLinksOf(pid);
    if (got.links.length >= NETPOL_LINKS.length) return got;
    if (!alive()) throw new Error(`process ${pid} ended before it attached the gadget`);
    if (Date.now() >= deadline)
      throw new Error(`the gadget is not attached after ${timeoutMs} ms: ${got.links.join(', ')}`);
    await sleep(100);
  }
}

/** After a run: none of `ran` is loaded, and no program of the gadget is, except `before`'s. */
async function assertNoNetpolProgs(ran: Set<number>, before: Set<number>): Promise<void> {
  let left: number[] = [];
  for (let i = 0; i < 50; i++) {
    left = [...netpolProgIds()].filter((id) => ran.has(id) || !before.has(id));
    if (left.length === 0) return;
    await sleep(100);
  }
  const names = liveObjects()
    .progs.filter((p) => left.includes(p.id))
    .map((p) => `${p.id} ${p.name}`);
  assert.fail(`programs of the gadget still loaded after the run: ${names.join(', ')}`);
}

/** Stand-in workloads: which fake pod each lab namespace plays. */
const STAND_IN_PODS: Record<
  string,
  {
    namespace: string;
    workload: string;
    kind: string;
    pod: string;
    labels: Record<string, string>;
    ports?: Record<string, string>;
  }
> = {
  frontend: {
    namespace: 'kgtest-demo',
    workload: 'frontend',
    kind: 'Deployment',
    pod: 'frontend-7c9d-x1',
    labels: { app: 'frontend', 'pod-template-hash': '7c9d' },
  },
  backend: {
    namespace: 'kgtest-demo',
    workload: 'backend',
    kind: 'Deployment',
    pod: 'backend-5f4b-x2',
    labels: { app: 'backend', tier: 'api', 'pod-template-hash': '5f4b' },
    ports: { 'TCP/8080': 'http' },
  },
  postgres: {
    namespace: 'kgtest-db',
    workload: 'postgres',
    kind: 'StatefulSet',
    pod: 'postgres-0',
    labels: { app: 'postgres', 'controller-revision-hash': 'postgres-6d' },
    ports: { 'TCP/5432': 'postgres' },
  },
  coredns: {
    namespace: 'kube-system',
    workload: 'coredns',
    kind: 'Deployment',
    pod: 'coredns-6f-x3',
    labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '6f' },
  },
};

/** The identity resolver of the stand-ins: lab namespaces and addresses -> fake pods, a fake Service. */
function standInResolver(lab: NetnsLab): IdentityResolver {
  const byNetns = new Map<number, string>();
  const byIp = new Map<string, string>();
  for (const name of Object.keys(STAND_IN_PODS)) {
    const h = lab.host(name);
    byNetns.set(h.inode, name);
    byIp.set(h.ip4, name);
    byIp.set(h.ip6, name);
  }
  const podEndpoint = (name: string, ip: string): Endpoint => {
    const p = STAND_IN_PODS[name]!;
    return {
      kind: 'pod',
      ip,
      namespace: p.namespace,
      workload: p.workload,
      workload_kind: p.kind,
      labels: p.labels,
      pods: [p.pod],
    };
  };
  const backend = STAND_IN_PODS.backend!;
  const backendRef: WorkloadRef = {
    namespace: backend.namespace,
    workload: backend.workload,
    workload_kind: backend.kind,
    labels: backend.labels,
  };
  return {
    local(ctx) {
      const name = byNetns.get(ctx.netns);
      return name ? podEndpoint(name, lab.host(name).ip4) : undefined;
    },
    peer(ip, ctx) {
      if (ip === SVC_IP) {
        return {
          endpoint: {
            kind: 'service',
            ip,
            service: { namespace: 'kgtest-demo', name: 'backend', port: 80 },
            backends: [backendRef],
          },
          port: 8080,
          portName: 'http',
        };
      }
      if (ip === lab.nodeIp4 || ip === lab.nodeIp6)
        return { endpoint: { kind: 'node', ip, node: NODE } };
      const name = byIp.get(ip);
      if (!name) return undefined;
      const portName = STAND_IN_PODS[name]!.ports?.[`${ctx.protocol}/${ctx.port}`];
      return { endpoint: podEndpoint(name, ip), ...(portName ? { portName } : {}) };
    },
    localPortName(local, port, protocol) {
      const p = Object.values(STAND_IN_PODS).find(
        (x) => x.workload === local.workload && x.namespace === local.namespace,
      );
      return p?.ports?.[`${protocol}/${port}`];
    },
  };
}

/** One line per flow, for exact comparison. */
function summary(f: FlowRecord): string {
  const extra = [
    f.port_name ? `name=${f.port_name}` : '',
    f.dns_queries ? `queries=${f.dns_queries.join(',')}` : '',
    f.peer.dns_names ? `names=${f.peer.dns_names.join(',')}` : '',
  ].filter(Boolean);
  return `${endpointName(f.local)} ${f.direction} ${endpointName(f.peer)} ${f.protocol}/${f.port} x${f.count}${extra.length ? ' ' + extra.join(' ') : ''}`;
}

const EXPECTED_FLOWS = [
  'kgtest-db/postgres ingress kgtest-demo/backend TCP/5432 x2 name=postgres',
  'kgtest-db/postgres ingress kgtest-demo/backend UDP/5433 x2',
  'kgtest-demo/backend egress kgtest-db/postgres TCP/5432 x2 name=postgres',
  'kgtest-demo/backend egress kgtest-db/postgres UDP/5433 x2',
  'kgtest-demo/backend egress kube-system/coredns TCP/53 x1 queries=api.partner.example',
  'kgtest-demo/backend egress 10.213.7.100 TCP/80 x1 names=api.partner.example',
  'kgtest-demo/backend ingress kgtest-demo/frontend TCP/8080 x4 name=http',
  'kgtest-demo/backend ingress node/kgtest-node TCP/8080 x1 name=http',
  'kgtest-demo/frontend egress kgtest-demo/backend TCP/8080 x1 name=http',
  // busybox nslookup connects its UDP socket once (one count) and sends two queries (A, AAAA)
  'kgtest-demo/frontend egress kube-system/coredns UDP/53 x1 queries=backend.kgtest-demo.svc.cluster.local',
  'kgtest-demo/frontend egress svc/kgtest-demo/backend TCP/8080 x3 name=http names=backend.kgtest-demo.svc.cluster.local',
  'kube-system/coredns ingress kgtest-demo/backend TCP/53 x1',
  'kube-system/coredns ingress kgtest-demo/frontend UDP/53 x2',
  'node/kgtest-node egress kgtest-demo/backend TCP/8080 x1 name=http',
];

describe(
  'advise network-policy: monitor -> report -> verify -> graph on netns stand-ins',
  { skip: !canRun && 'needs root and the cgroup v2 root' },
  () => {
    const lab = new NetnsLab(V4, V6);
    const dir = mkdtempSync(join(tmpdir(), 'kgtest-netpol-'));
    const flowsFile = join(dir, 'flows.ndjson');
    const policiesFile = join(dir, 'policies.yaml');
    let flows: FlowRecord[] = [];
    /** BPF bookkeeping of the in-process run (with bpftool) */
    let leaks: LeakCheck | undefined;
    let netpolBefore = new Set<number>();
    let attached: ReturnType<typeof netpolLinksOf> | undefined;

    before(async () => {
      cleanupLeftovers(lab.id);
      lab.up();
      lab.add('frontend', 10, ['10.96.0.0/16']);
      lab.add('backend', 20);
      lab.add('postgres', 30);
      lab.add('coredns', 53);
      lab.add('external', 100);
      // the Service ClusterIP: DNAT in the client's namespace, as kube-proxy would on a node
      await ok(
        lab.exec('frontend', [
          'iptables',
          '-t',
          'nat',
          '-A',
          'OUTPUT',
          '-d',
          `${SVC_IP}/32`,
          '-p',
          'tcp',
          '--dport',
          '80',
          '-j',
          'DNAT',
          '--to-destination',
          `${V4}.20:8080`,
        ]),
      );
      const node = process.execPath;
      const servers = [
        lab.spawn('backend', ['busybox', 'nc', '-ll', '-p', '8080', '-e', '/bin/true']),
        lab.spawn('postgres', ['busybox', 'nc', '-ll', '-p', '5432', '-e', '/bin/true']),
        lab.spawn('external', ['busybox', 'nc', '-ll', '-p', '80', '-e', '/bin/true']),
      ];
      const udp = lab.spawn('postgres', [node, SERVERS_JS, 'udp-server', '5433']);
      const dns = lab.spawn('coredns', [
        node,
        SERVERS_JS,
        'dns-server',
        `backend.kgtest-demo.svc.cluster.local=${SVC_IP},api.partner.example=${V4}.100`,
      ]);
      await Promise.all([
        NetnsLab.waitOutput(udp, 'listening'),
        NetnsLab.waitOutput(dns, 'listening'),
      ]);
      await new Promise((r) => setTimeout(r, 200));
      void servers;

      const ac = new AbortController();
      if (hasBpftool) {
        leaks = new LeakCheck();
        netpolBefore = netpolProgIds();
      }
      // the daemon's runtime, in this process, as `monitor --local` runs it
      const runtime = new LocalRuntime({ node: NODE });
      const traffic = async (): Promise<void> => {
        const q = await lab.exec('frontend', [
          'busybox',
          'nslookup',
          'backend.kgtest-demo.svc.cluster.local',
          `${V4}.53`,
        ]);
        assert.match(
          q.stdout,
          new RegExp(SVC_IP.replace(/\./g, '\\.')),
          `nslookup: ${q.stdout} ${q.stderr}`,
        );
        await ok(lab.exec('frontend', [node, SERVERS_JS, 'tcp-connect', SVC_IP, '80', '3', '50']));
        await ok(
          lab.exec('frontend', [
            node,
            SERVERS_JS,
            'tcp-connect',
            lab.host('backend').ip6,
            '8080',
            '1',
          ]),
        );
        const t = await ok(
          lab.exec('backend', [node, SERVERS_JS, 'dns-tcp', `${V4}.53`, 'api.partner.example']),
        );
        assert.match(t.stdout, /api\.partner\.example A 10\.213\.7\.100/);
        await ok(
          lab.exec('backend', [node, SERVERS_JS, 'tcp-connect', `${V4}.30`, '5432', '2', '50']),
        );
        await ok(lab.exec('backend', [node, SERVERS_JS, 'udp-send', `${V4}.30`, '5433', '2']));
        await ok(lab.exec('backend', [node, SERVERS_JS, 'tcp-connect', `${V4}.100`, '80', '1']));
        // the kubelet's probe, from the node itself
        await ok(lab.exec(null, [node, SERVERS_JS, 'tcp-connect', `${V4}.20`, '8080', '1']));
        await new Promise((r) => setTimeout(r, 300));
        ac.abort();
      };
      let trafficDone: Promise<void> = Promise.resolve();
      const result = await runMonitor(runtime, {
        request: {
          gadget: 'advise_network_policy',
          params: { 'report-interval': '1000' },
          filter: emptyFilter(),
          timeoutSeconds: 60,
        },
        params: { 'report-interval': '1000', dns: 'true' },
        resolver: new ResolverChain(
          [standInResolver(lab), new ContainerResolver()],
          new FallbackResolver(new Set([lab.nodeIp4, lab.nodeIp6])),
        ),
        outputFile: flowsFile,
        reporter: { warn: (m) => console.error(`warning: ${m}`), log: () => undefined },
        signal: ac.signal,
        onStarted: () => {
          if (leaks) {
            leaks.track(process.pid);
            attached = netpolLinksOf(process.pid);
          }
          trafficDone = traffic().catch((e: unknown) => {
            ac.abort();
            throw e;
          });
        },
      }).finally(() => runtime.close());
      await trafficDone;
      assert.equal(result.lost, 0);
      // keep only the lab's traffic (the machine may be busy with other tests); the external
      // address's own end is not part of the "cluster"
      const ext = lab.host('external').ip4;
      const inLab = (ip: string): boolean =>
        ip.startsWith(`${V4}.`) || ip.startsWith(`${V6}:`) || ip === SVC_IP;
      flows = parseFlows(readFileSync(flowsFile, 'utf8')).filter(
        (f) =>
          (inLab(f.local.ip) || inLab(f.peer.ip)) &&
          !(f.local.kind === 'unknown' && f.local.ip === ext),
      );
      writeFileSync(flowsFile, formatFlows(flows));
      writeFileSync(policiesFile, buildReport(flows).yaml);
    });

    after(async () => {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    test('monitor recorded exactly the demo flows, both ends of each connection', () => {
      assert.deepEqual(flows.map(summary), EXPECTED_FLOWS);
      const probe = flows.find((f) => f.local.kind === 'node')!;
      assert.equal(probe.peer.ip, `${V4}.20`);
      const v6 = flows.find(
        (f) =>
          f.direction === 'egress' &&
          f.peer.kind === 'pod' &&
          f.peer.workload === 'backend' &&
          f.local.workload === 'frontend',
      )!;
      assert.equal(v6.peer.ip, lab.host('backend').ip6, 'IPv6 flow');
      for (const f of flows) {
        assert.ok(f.first_seen <= f.last_seen);
        assert.ok(Date.parse(f.first_seen) > Date.now() - 600_000);
      }
    });

    test(
      'the run attached every program (cgroup ones at the cgroup v2 root) and left none loaded',
      { skip: !hasBpftool && 'needs bpftool' },
      async () => {
        assert.deepEqual(attached?.links, NETPOL_LINKS);
        // everything the run held (programs, maps, links, BTF; also the runtime's shared state)
        // is gone, and `bpftool prog show` lists no program of the gadget
        await leaks!.assertClean();
        await assertNoNetpolProgs(attached!.progs, netpolBefore);
      },
    );

    test('report writes the expected policies; verify allows all flows and fails with any rule removed', () => {
      const r = buildReport(flows);
      const golden = join(
        ROOT,
        'gadgets',
        'advise_network_policy',
        'testdata',
        'demo-policies.yaml',
      );
      if (process.env.KGTEST_UPDATE_GOLDEN === '1') writeFileSync(golden, r.yaml);
      assert.equal(r.yaml, readFileSync(golden, 'utf8'));
      assert.equal(verifyFlows(parsePolicies(r.yaml), flows).denied, 0);
      let variants = 0;
      r.policies.forEach((p, i) => {
        for (const dir of ['ingress', 'egress'] as const) {
          (p.spec[dir] ?? []).forEach((_, k) => {
            const copy = structuredClone(r.policies);
            copy[i]!.spec[dir]!.splice(k, 1);
            variants++;
            assert.ok(
              verifyFlows({ policies: copy, namespaces: [] }, flows).denied > 0,
              `${p.metadata.name} ${dir}[${k}] removed`,
            );
          });
        }
      });
      assert.ok(variants >= 8);
    });

    test('the CLI: report, verify (exit 0, then 1 with a rule removed), graph', () => {
      const rep = cli(['report', '--input', flowsFile]);
      assert.equal(rep.status, 0, rep.stderr);
      assert.equal(rep.stdout, readFileSync(policiesFile, 'utf8'));
      const ver = cli(['verify', '--input', flowsFile, '--policies', policiesFile]);
      assert.equal(ver.status, 0, ver.stdout + ver.stderr);
      assert.match(ver.stderr, new RegExp(`${flows.length} of ${flows.length} flows allowed`));
      // drop the frontend's rule to the backend Service
      const docs = parsePolicies(readFileSync(policiesFile, 'utf8'));
      const fe = docs.policies.find((p) => p.metadata.name === 'frontend-network')!;
      fe.spec.egress = fe.spec.egress!.filter((r) => !JSON.stringify(r).includes('"backend"'));
      const broken = join(dir, 'broken.yaml');
      writeFileSync(broken, docs.policies.map((p) => JSON.stringify(p)).join('\n---\n'));
      const bad = cli(['verify', '--input', flowsFile, '--policies', broken, '-o', 'json']);
      assert.equal(bad.status, 1, bad.stderr);
      const denied = bad.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { allowed: boolean; flow: FlowRecord })
        .filter((x) => !x.allowed);
      assert.deepEqual(denied.map((d) => summary(d.flow)).sort(), [
        'kgtest-demo/backend ingress kgtest-demo/frontend TCP/8080 x4 name=http',
        'kgtest-demo/frontend egress kgtest-demo/backend TCP/8080 x1 name=http',
        'kgtest-demo/frontend egress svc/kgtest-demo/backend TCP/8080 x3 name=http names=backend.kgtest-demo.svc.cluster.local',
      ]);
      for (const fmt of ['mermaid', 'dot'] as const) {
        const g = cli(['graph', '--input', flowsFile, '--format', fmt]);
        assert.equal(g.status, 0, g.stderr);
        assert.match(g.stdout, fmt === 'mermaid' ? /^flowchart LR/ : /^digraph services/);
        assert.match(g.stdout, /TCP\/5432 \(postgres\) ×2/);
      }
      if (!spawnSync('dot', ['-V']).error) {
        const svgFile = join(dir, 'map.svg');
        const g = cli(['graph', '--input', flowsFile, '--output', svgFile]);
        assert.equal(g.status, 0, g.stderr);
        const svg = readFileSync(svgFile, 'utf8');
        assert.match(svg, /<svg/);
        assert.match(svg, />frontend</);
      }
    });

    test(
      'monitor --local (the CLI) records the lab traffic, the last interval drained, and unloads',
      { skip: !hasBpftool && 'needs bpftool' },
      async () => {
        const out = join(dir, 'cli-flows.ndjson');
        const progsBefore = netpolProgIds();
        const cliLeaks = new LeakCheck();
        const cli = new Cli([
          'advise',
          'network-policy',
          'monitor',
          '--local',
          '--timeout',
          '60',
          '--output',
          out,
        ]);
        try {
          const got = await waitAttached(cli.pid, () => cli.running);
          assert.deepEqual(got.links, NETPOL_LINKS);
          cliLeaks.track(cli.pid);
          // both datagrams go out within one report interval: the second one's count reaches
          // the file only through the runtime's end-of-run drain of the flow map
          const node = process.execPath;
          await ok(
            lab.exec('backend', [node, SERVERS_JS, 'tcp-connect', `${V4}.30`, '5432', '2', '50']),
          );
          await ok(lab.exec('backend', [node, SERVERS_JS, 'udp-send', `${V4}.30`, '5433', '2']));
          await sleep(300);
          const x = await cli.stop('SIGINT');
          assert.equal(x.code, 0, cli.describeExit());
          assert.match(x.stderr, /distinct flow\(s\) from \d+ report\(s\), written to /);
          // no stand-in resolver here: the lab's namespaces are unknown local ends (without an
          // address for unconnected UDP sockets) and its addresses external peers
          const pair = new Set([`${V4}.20`, `${V4}.30`]);
          const labFlows = parseFlows(readFileSync(out, 'utf8')).filter(
            (f) => pair.has(f.peer.ip) && (pair.has(f.local.ip) || f.local.ip === ''),
          );
          assert.deepEqual(labFlows.map(summary).sort(), [
            `unknown/${V4}.20 egress ${V4}.30 TCP/5432 x2`,
            `unknown/${V4}.30 ingress ${V4}.20 TCP/5432 x2`,
            `unknown/? egress ${V4}.30 UDP/5433 x2`,
            `unknown/? ingress ${V4}.20 UDP/5433 x2`,
          ]);
          // piped, stdout is the final table: the file's flows with the file's counts
          const table = x.stdout.split('\n');
          assert.match(table[0]!, /^LOCAL +DIR +PEER +PROTO +PORT +COUNT +KIND *$/);
          const rows = new Set(table.slice(1).map((l) => l.trim().replace(/ +/g, ' ')));
          const all = parseFlows(readFileSync(out, 'utf8'));
          assert.equal(table.filter(Boolean).length, all.length + 1);
          for (const f of labFlows) {
            const row = `${endpointName(f.local)} ${f.direction} ${endpointName(f.peer)} ${f.protocol} ${f.port} ${f.count} ${f.peer.kind}`;
            assert.ok(rows.has(row), `${row} not in:\n${x.stdout}`);
          }
          await cliLeaks.assertClean();
          await assertNoNetpolProgs(got.progs, progsBefore);
        } finally {
          if (cli.running) await cli.stop('SIGKILL');
        }
      },
    );

    test(
      'monitor in a terminal (tmux): one row per flow, its count updated in place; the status line counts',
      { skip: (!hasBpftool || spawnSync('tmux', ['-V']).error) && 'needs bpftool and tmux' },
      async () => {
        const out = join(dir, 'tty-flows.ndjson');
        const session = `kgtest-np-${process.pid}`;
        const tmux = (...args: string[]): string => {
          const r = spawnSync('tmux', args, { encoding: 'utf8' });
          assert.equal(r.status, 0, `tmux ${args.join(' ')}: ${r.stderr}`);
          return r.stdout;
        };
        const screen = (): string[] => tmux('capture-pane', '-p', '-t', session).split('\n');
        const cols = 'columns=local,direction,peer,protocol,port,count';
        const cmd = [process.execPath, CLI, 'advise', 'network-policy', 'monitor', '--local']
          .concat(['--timeout', '60', '--report-interval', '500', '-o', cols, '-o', out])
          .map((a) => `'${a}'`)
          .join(' ');
        tmux(
          'new-session',
          '-d',
          '-s',
          session,
          '-x',
          '150',
          '-y',
          '40',
          `exec ${notInCi()} ${cmd}`,
        );
        try {
          tmux('set-option', '-t', session, 'remain-on-exit', 'on');
          const pid = Number(tmux('list-panes', '-t', session, '-F', '#{pane_pid}').trim());
          const alive = (): boolean =>
            tmux('list-panes', '-t', session, '-F', '#{pane_dead}').trim() === '0';
          await waitAttached(pid, alive);
          const node = process.execPath;
          const rowsOf = (lines: string[], port: number): string[] =>
            lines.filter((l) =>
              new RegExp(`${V4.replace(/\./g, '\\.')}\\.\\d+ +TCP +${port} +\\d+ *$`).test(l),
            );
          const waitRows = async (want: string[]): Promise<string[]> => {
            let got: string[] = [];
            for (let i = 0; i < 100; i++) {
              got = rowsOf(screen(), 5432).map((l) => l.trim().replace(/ +/g, ' '));
              if (JSON.stringify(got) === JSON.stringify(want)) return got;
              await sleep(100);
            }
            assert.deepEqual(got, want, screen().join('\n'));
            return got;
          };
          await ok(
            lab.exec('backend', [node, SERVERS_JS, 'tcp-connect', `${V4}.30`, '5432', '3', '700']),
          );
          // connections further apart than --report-interval: each one is reported (closer ones
          // reach user space at the next report or the end-of-run drain)
          await waitRows([
            `unknown/${V4}.20 egress ${V4}.30 TCP 5432 3`,
            `unknown/${V4}.30 ingress ${V4}.20 TCP 5432 3`,
          ]);
          // more of the same flows: the same two rows, counts updated (no new rows)
          await ok(
            lab.exec('backend', [node, SERVERS_JS, 'tcp-connect', `${V4}.30`, '5432', '2', '700']),
          );
          await waitRows([
            `unknown/${V4}.20 egress ${V4}.30 TCP 5432 5`,
            `unknown/${V4}.30 ingress ${V4}.20 TCP 5432 5`,
          ]);
          const status = screen().find((l) => l.startsWith('advise network-policy monitor'));
          const events = Number(/ events ([\d,]+) /.exec(status ?? '')?.[1]?.replace(/,/g, ''));
          assert.ok(events >= 4, `status line: ${status}`);
          tmux('send-keys', '-t', session, 'C-c');
          for (let i = 0; i < 100 && alive(); i++) await sleep(100);
          assert.ok(!alive(), 'monitor ended on Ctrl-C');
          const file = parseFlows(readFileSync(out, 'utf8')).filter(
            (f) => f.port === 5432 && f.peer.ip.startsWith(`${V4}.`),
          );
          assert.deepEqual(
            file.map((f) => f.count),
            [5, 5],
            'the file agrees with the screen',
          );
          await waitRows([
            `unknown/${V4}.20 egress ${V4}.30 TCP 5432 5`,
            `unknown/${V4}.30 ingress ${V4}.20 TCP 5432 5`,
          ]);
        } finally {
          spawnSync('tmux', ['kill-session', '-t', session]);
        }
      },
    );

    // a running control plane of scripts/k8s/up.sh, else one started (and stopped) here
    test(
      'the generated policies pass kubectl apply --dry-run=server',
      { timeout: 20 * 60_000 },
      () => {
        const cluster = ensureCluster((m) => process.stderr.write(`e2e/netpol: ${m}\n`));
        const env = { KUBECONFIG: cluster.kubeconfig };
        const kubectl = KUBECTL;
        const kenv = { ...process.env, KUBECONFIG: env.KUBECONFIG };
        const created: string[] = [];
        try {
          for (const ns of ['kgtest-demo', 'kgtest-db']) {
            const r = spawnSync(kubectl, ['create', 'namespace', ns], {
              env: kenv,
              encoding: 'utf8',
            });
            if (r.status === 0) created.push(ns);
          }
          const r = spawnSync(kubectl, ['apply', '--dry-run=server', '-f', policiesFile], {
            env: kenv,
            encoding: 'utf8',
          });
          assert.equal(r.status, 0, r.stderr);
          assert.match(
            r.stdout,
            /networkpolicy\.networking\.k8s\.io\/frontend-network created \(server dry run\)/,
          );
          // applied for real, verify --from-cluster reads them back and allows every flow
          const applied = spawnSync(kubectl, ['apply', '-f', policiesFile], {
            env: kenv,
            encoding: 'utf8',
          });
          assert.equal(applied.status, 0, applied.stderr);
          try {
            const v = spawnSync(
              process.execPath,
              [
                CLI,
                'advise',
                'network-policy',
                'verify',
                '--input',
                flowsFile,
                '--from-cluster',
                '--kubeconfig',
                env.KUBECONFIG!,
                '--show',
                'denied',
              ],
              { encoding: 'utf8' },
            );
            assert.equal(v.status, 0, v.stdout + v.stderr);
            assert.match(
              v.stderr,
              new RegExp(`${flows.length} of ${flows.length} flows allowed by \\d+ policies`),
            );
          } finally {
            spawnSync(kubectl, ['delete', '-f', policiesFile, '--wait=false'], { env: kenv });
          }
        } finally {
          for (const ns of created)
            spawnSync(kubectl, ['delete', 'namespace', ns, '--wait=false'], { env: kenv });
          cluster.close();
        }
      },
    );
  },
);

async function ok(
  p: Promise<{ code: number; stdout: string; stderr: string }>,
): Promise<{ stdout: string }> {
  const r = await p;
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.stderr}`);
  return r;
}

/** Runs the CLI to its end. */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'advise', 'network-policy', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('advise network-policy: the CLI on large, malformed and hostile input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kgtest-np-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('report, verify and graph read 200,000 records (100,000 flows seen on two nodes)', () => {
    const file = join(dir, 'large.ndjson');
    const DISTINCT = 100_000;
    assert.equal(
      writeFlowFile(file, syntheticFlows(DISTINCT, 'n1'), syntheticFlows(DISTINCT, 'n2')),
      2 * DISTINCT,
    );
    const rep = cli(['report', '--input', file]);
    assert.equal(rep.status, 0, rep.stderr);
    assert.equal(
      rep.stderr,
      `1000 policies for ${DISTINCT} flow record(s) (merged from ${2 * DISTINCT})\n`,
    );
    assert.match(rep.stdout, /^# Generated by kubectl-gadget advise network-policy report/);
    assert.equal(rep.stdout.match(/^kind: NetworkPolicy$/gm)?.length, 1000);

    // egress of namespace ns0 isolated with no rule: every connection an ns0 pod starts is
    // denied, at its egress record and at its peer's ingress record
    const policy = join(dir, 'ns0-no-egress.yaml');
    writeFileSync(
      policy,
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: no-egress, namespace: ns0}\nspec: {podSelector: {}, policyTypes: [Egress]}\n',
    );
    let denied = 0;
    for (const f of syntheticFlows(DISTINCT)) {
      const src = f.direction === 'egress' ? f.local : f.peer;
      if (src.kind === 'pod' && src.namespace === 'ns0') denied++;
    }
    assert.ok(denied > 1000);
    const ver = cli([
      'verify',
      '--input',
      file,
      '--policies',
      policy,
      '--show',
      'denied',
      '-o',
      'json',
    ]);
    assert.equal(ver.status, 1, ver.stderr);
    assert.equal(
      ver.stderr,
      `${denied} of ${DISTINCT} flows would be denied (${DISTINCT - denied} allowed) by 1 policy\n`,
    );
    const lines = ver.stdout.trim().split('\n');
    assert.equal(lines.length, denied);
    const first = JSON.parse(lines[0]!) as { allowed: boolean; flow: FlowRecord };
    assert.equal(first.allowed, false);
    assert.equal(first.flow.count % 2, 0, 'counts of both nodes added up');

    const g = cli(['graph', '--input', file, '--format', 'dot']);
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stdout, /^digraph services/);
    assert.match(g.stdout, /label="app999"/);
  });

  test('malformed policy files: one line naming the file, exit 1', () => {
    const flows = join(dir, 'demo.ndjson');
    writeFileSync(flows, formatFlows(demoFlows()));
    const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [x, y] of ['ab', 'bc', 'cd', 'de', 'ef', 'fg', 'gh', 'hi']) {
      laughs.push(`${y}: &${y} [${Array(9).fill(`*${x}`).join(',')}]`);
    }
    const cases: Array<[string, string, RegExp]> = [
      ['bomb.yaml', laughs.join('\n') + '\n', /: document 1: Excessive alias count/],
      [
        'syntax.yaml',
        'kind: NetworkPolicy\nmetadata: {name: x\nspec: [\n',
        /: document 1: line 3, column 1: Flow map in block collection must be sufficiently indented/,
      ],
      [
        'configmap.yaml',
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n',
        /: no NetworkPolicy or Namespace in it \(found ConfigMap\)$/,
      ],
      [
        'types.yaml',
        'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec: {podSelector: {}, ingress: [{ports: [{port: [1, 2]}]}]}\n',
        /: document 1 \(NetworkPolicy x\): spec\.ingress\[0\]\.ports\[0\]\.port: must be a number or a port name$/,
      ],
      ['scalar.yaml', '"just a string"\n', /: document 1: not a Kubernetes object$/],
      [
        'tab.yaml',
        '\t\u001b]0;pwned\u0007: x\n',
        /: document 1: line 1, column 1: Tabs are not allowed as indentation$/,
      ],
    ];
    for (const [name, text, want] of cases) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const r = cli(['verify', '--input', flows, '--policies', file]);
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.equal(r.stdout, '', name);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `${name}: ${r.stderr}`);
      assert.ok(lines[0]!.startsWith(`Error: ${file}: `), `${name}: ${lines[0]}`);
      assert.match(lines[0]!, want, name);
    }
  });

  test('control characters of recorded data never reach the terminal raw', () => {
    const ESC = '\u001b';
    const osc = `${ESC}]0;pwned${ESC}\\`;
    const evil = pod('demo', `web${ESC}[2J`, { app: `web${osc}` }, '10.244.0.10');
    const db = pod('demo', `db${osc}`, { app: 'db' }, '10.244.0.30');
    const file = join(dir, 'evil.ndjson');
    writeFileSync(
      file,
      formatFlows([
        fixtureFlow('egress', evil, db, 'TCP', 5432),
        fixtureFlow('ingress', db, evil, 'TCP', 5432),
        fixtureFlow('ingress', evil, fixtureNode(`node${osc}`, '192.168.1.10'), 'TCP', 80),
      ]),
    );
    const policy = join(dir, 'deny.yaml');
    writeFileSync(
      policy,
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: demo}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n',
    );
    const runs = {
      report: cli(['report', '--input', file]),
      verify: cli(['verify', '--input', file, '--policies', policy]),
      mermaid: cli(['graph', '--input', file]),
      dot: cli(['graph', '--input', file, '--format', 'dot']),
    };
    // no control character but the newlines of the output itself
    // eslint-disable-next-line no-control-regex
    const control = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
    for (const [what, r] of Object.entries(runs)) {
      assert.ok(!control.test(r.stdout), `${what} stdout`);
      assert.ok(!control.test(r.stderr), `${what} stderr`);
    }
    assert.equal(runs.verify.status, 1, runs.verify.stderr);
    assert.match(runs.verify.stdout, /DENY +demo\/web\\x1b\[2J /);
    assert.match(
      runs.report.stdout,
      /# node traffic left out: node\/node\\x1b\]0;pwned\\x1b\\ -> demo\/web\\x1b\[2J TCP\/80/,
    );
    assert.match(runs.mermaid.stdout, /\["db\\x1b\]0;pwned\\x1b\\"\]/);
    assert.match(runs.dot.stdout, /label="db\\\\x1b\]0;pwned\\\\x1b\\\\"/);
    // an error quoting a field of the file
    const bad = join(dir, 'bad.ndjson');
    writeFileSync(
      bad,
      formatFlows([fixtureFlow('egress', evil, db, 'TCP', 5432)]).replace(
        '"10.244.0.30"',
        JSON.stringify(`10.${osc}`),
      ),
    );
    const e = cli(['verify', '--input', bad, '--policies', policy]);
    assert.equal(e.status, 1);
    assert.ok(!e.stderr.includes(ESC), e.stderr);
    assert.match(
      e.stderr,
      /^Error: .*bad\.ndjson:1: peer\.ip: "10\.\\x1b\]0;pwned\\x1b\\" is not an IP address\n/,
    );
  });

  test('--help of the group shows its own description, not a command summary', () => {
    for (const args of [['--help'], []]) {
      const r = cli(args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stdout,
        /^Record pod traffic, then write, verify and draw the NetworkPolicies that allow it\n/,
      );
      assert.doesNotMatch(r.stdout.split('COMMANDS')[0]!, /Draw the service dependency map/);
    }
  });
});

// Flow reports carry the owner's mount namespace unique id (the container join key). Two
// namespaces made one after the other usually get the same netns and mount namespace inodes:
// the second one's connection must be reported as its own, not counted into the first one's
// entry of the flow map (same key: netns inode, direction, protocol, peer, port).
describe(
  'advise network-policy: flow reports carry mntns_uid, also on a reused netns inode',
  { skip: !canRun && 'needs root and the cgroup v2 root' },
  () => {
    test("each namespace's connection is reported with its own unique id", async () => {
      const ac = new AbortController();
      const runtime = new LocalRuntime({ node: NODE });
      const seen: Array<{ netns: number; uid: number; pid: number; count: number }> = [];
      const made: Array<{ netns: number; uid: number }> = [];
      let started!: () => void;
      const header = new Promise<void>((r) => (started = r));
      const run = (async () => {
        let decode: ReturnType<typeof makeDecoder> | undefined;
        let size = 0;
        for await (const m of runtime.run(
          {
            gadget: 'advise_network_policy',
            // no repeat report before the end: a hit on a stale entry would only show in the drain
            params: { 'report-interval': '600000', dns: 'false' },
            filter: emptyFilter(),
            timeoutSeconds: 60,
          },
          ac.signal,
        )) {
          if (m.kind === 'header') {
            decode = makeDecoder(m.header.layout);
            size = m.header.layout.size;
            started();
          } else if (m.kind === 'batch' && decode) {
            const c = new RecordCursor(m.records, size, () => undefined);
            while (c.next()) {
              const raw = decode(m.records, c.offset, c.length);
              const peer = (raw.raddr as number[]).slice(0, 4).join('.');
              if (peer !== '127.0.0.1' || raw.port !== 9 || raw.proto !== 6) continue;
              seen.push({
                netns: raw.netns_id as number,
                uid: raw.mntns_uid as number,
                pid: raw.pid as number,
                count: raw.count as number,
              });
            }
          } else if (m.kind === 'done') break;
        }
      })().finally(() => runtime.close());
      await header;
      await sleep(200);
      for (let i = 0; i < 4; i++) {
        // the netns inode is freed once the kernel has cleaned the namespace up (asynchronous):
        // a pause lets the next one reuse it
        if (i > 0) await sleep(500);
        // a new mount and network namespace (unshare execs sh: same pid), lo up, then one
        // connection to a closed port (SYN_SENT is enough)
        const p = spawn(
          'unshare',
          [
            '--mount',
            '--net',
            'sh',
            '-c',
            'ip link set lo up && echo ready && read x && busybox nc -w 1 127.0.0.1 9 </dev/null; exit 0',
          ],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        );
        const exited = new Promise((r) => p.once('exit', r));
        await new Promise<void>((resolve, reject) => {
          p.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          p.once('exit', () => reject(new Error('unshare exited early')));
        });
        const uid = mntnsUid(p.pid!);
        assert.ok(uid && uid > 0, 'the kernel gives mount namespace ids (Linux 6.8+)');
        made.push({ netns: nsInodeOf(p.pid!, 'net'), uid });
        p.stdin.end('go\n');
        await exited;
      }
      await sleep(300);
      ac.abort();
      await run;
      process.stderr.write(
        `e2e/netpol: netns inodes ${made.map((m) => m.netns).join(', ')}, mntns uids ${made.map((m) => m.uid).join(', ')}\n`,
      );
      assert.equal(new Set(made.map((m) => m.uid)).size, made.length, 'unique ids are unique');
      assert.ok(
        made.some((m, i) => i > 0 && m.netns === made[i - 1]!.netns),
        'a netns inode was reused (else this test shows nothing about reuse)',
      );
      // per namespace: its one connection, reported with its own id (a stale entry of the
      // first namespace would give [first uid, count 2] for both)
      const byUid = new Map<number, number>();
      for (const s of seen) byUid.set(s.uid, (byUid.get(s.uid) ?? 0) + s.count);
      assert.deepEqual(
        [...byUid].sort((a, b) => a[0] - b[0]),
        made.map((m) => [m.uid, 1]).sort((a, b) => a[0]! - b[0]!),
        JSON.stringify(seen),
      );
      for (const s of seen) {
        const m = made.find((x) => x.uid === s.uid)!;
        assert.equal(s.netns, m.netns);
      }
    });
  },
);

function nsInodeOf(pid: number, ns: string): number {
  return Number(/\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/${ns}`))![1]);
}
