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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalRuntime } from '../daemon/src/runtime/local.js';
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
} from '../plugin/src/services/netpol/flow.js';
import {
  ContainerResolver,
  ResolverChain,
  FallbackResolver,
  type IdentityResolver,
} from '../plugin/src/services/netpol/identity.js';
import { runMonitor } from '../plugin/src/services/netpol/monitor.js';
import { parsePolicies } from '../plugin/src/services/netpol/policy.js';
import { buildReport } from '../plugin/src/services/netpol/report.js';
import { verifyFlows } from '../plugin/src/services/netpol/verify.js';
import { bpftoolAvailable, heldBy, LeakCheck, liveObjects } from './helpers/bpf.js';
import { Cli, sleep } from './helpers/cli.js';

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
          filter: {
            containerNames: [],
            containerIds: [],
            host: false,
            namespaces: [],
            pods: [],
            labelSelector: '',
            podsOnly: false,
          },
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
      const rep = spawnSync(
        process.execPath,
        [CLI, 'advise', 'network-policy', 'report', '--input', flowsFile],
        { encoding: 'utf8' },
      );
      assert.equal(rep.status, 0, rep.stderr);
      assert.equal(rep.stdout, readFileSync(policiesFile, 'utf8'));
      const ver = spawnSync(
        process.execPath,
        [
          CLI,
          'advise',
          'network-policy',
          'verify',
          '--input',
          flowsFile,
          '--policies',
          policiesFile,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(ver.status, 0, ver.stdout + ver.stderr);
      assert.match(ver.stderr, new RegExp(`${flows.length} of ${flows.length} flows allowed`));
      // drop the frontend's rule to the backend Service
      const docs = parsePolicies(readFileSync(policiesFile, 'utf8'));
      const fe = docs.policies.find((p) => p.metadata.name === 'frontend-network')!;
      fe.spec.egress = fe.spec.egress!.filter((r) => !JSON.stringify(r).includes('"backend"'));
      const broken = join(dir, 'broken.yaml');
      writeFileSync(broken, docs.policies.map((p) => JSON.stringify(p)).join('\n---\n'));
      const bad = spawnSync(
        process.execPath,
        [
          CLI,
          'advise',
          'network-policy',
          'verify',
          '--input',
          flowsFile,
          '--policies',
          broken,
          '-o',
          'json',
        ],
        { encoding: 'utf8' },
      );
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
        const g = spawnSync(
          process.execPath,
          [CLI, 'advise', 'network-policy', 'graph', '--input', flowsFile, '--format', fmt],
          { encoding: 'utf8' },
        );
        assert.equal(g.status, 0, g.stderr);
        assert.match(g.stdout, fmt === 'mermaid' ? /^flowchart LR/ : /^digraph services/);
        assert.match(g.stdout, /TCP\/5432 \(postgres\) ×2/);
      }
      if (!spawnSync('dot', ['-V']).error) {
        const svgFile = join(dir, 'map.svg');
        const g = spawnSync(
          process.execPath,
          [CLI, 'advise', 'network-policy', 'graph', '--input', flowsFile, '--output', svgFile],
          { encoding: 'utf8' },
        );
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
          await cliLeaks.assertClean();
          await assertNoNetpolProgs(got.progs, progsBefore);
        } finally {
          if (cli.running) await cli.stop('SIGKILL');
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
