// advise network-policy on the real node (scripts/k8s/up.sh --node): a multi-tier demo app of
// real pods (Deployment frontend -> Service -> Deployment backend -> Service -> StatefulSet
// postgres in another namespace), cluster DNS through the kube-dns Service, one external address
// (a network namespace this test creates in the node's test-only external range), and kubelet
// readiness probes. monitor (through the gadget pod, port-forward and --from-cluster identities)
// -> report -> kubectl apply --dry-run=server and for real -> verify (file and --from-cluster),
// failing with any one rule removed -> graph (Mermaid, DOT, SVG).
//
//   node scripts/run-tests.mjs integration k8s-node/netpol
//
// Starts its own cluster in /tmp/kgadget-e2e-node (and removes it), unless
// KGADGET_NODE_KUBECONFIG names a running one (see cluster.ts).

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, ROOT } from '../helpers/cli.js';
import {
  endpointName,
  parseFlows,
  type FlowRecord,
} from '../../plugin/src/services/advise_network_policy/flow.js';
import {
  parsePolicies,
  type NetworkPolicy,
} from '../../plugin/src/services/advise_network_policy/policy.js';
import { verifyFlows } from '../../plugin/src/services/advise_network_policy/verify.js';
import {
  BUSYBOX_IMAGE,
  NODE_NAME,
  clusterUp,
  deleteNamespace,
  deployGadget,
  gadgetRun,
  kubectl,
  kubectlOk,
  ok,
  run,
  skipReason,
  teardown,
  type Cluster,
} from './cluster.js';

const skip = skipReason();
// fixed names: the generated YAML is compared with a golden file
const NS = 'kgtest-shop';
const DB_NS = 'kgtest-shop-db';
// the node's test-only external range (scripts/k8s/lib.sh EXTERNAL_CIDR): pods route it, the
// machine blackholes it, this namespace answers on a more specific route
const EXT_NETNS = 'kgtest-ext';
const EXT_HOST_IF = 'kgtext0';
const EXT_IP = '10.242.0.2';
const EXT_GW = '10.242.0.1';
const DNS_NODE_IP = '10.243.0.1';
const GOLDEN = join(
  ROOT,
  'gadgets',
  'advise_network_policy',
  'testdata',
  'node-demo-policies.yaml',
);

const sh = (script: string): string[] => ['/bin/sh', '-c', script];
// busybox-static's wget cannot resolve names (static glibc), so the apps look up with nslookup
// (busybox's own resolver: the pod's DNS traffic) and connect to the address
const lookup = (name: string): string => `$(nslookup ${name} | sed -n 's/^Address: //p' | tail -1)`;

function container(name: string, script: string, extra: Record<string, unknown> = {}): unknown {
  return {
    name,
    image: BUSYBOX_IMAGE,
    imagePullPolicy: 'Never',
    command: sh(script),
    ...extra,
  };
}

function podSpec(containers: unknown[]): Record<string, unknown> {
  return {
    nodeName: NODE_NAME,
    terminationGracePeriodSeconds: 1,
    enableServiceLinks: false,
    containers,
  };
}

function demoObjects(): unknown[] {
  const service = (ns: string, name: string, port: number, target: string): unknown => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: { app: name }, ports: [{ name: target, port, targetPort: target }] },
  });
  const deployment = (name: string, labels: Record<string, string>, c: unknown): unknown => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, ...labels } }, spec: podSpec([c]) },
    },
  });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DB_NS } },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'postgres', namespace: DB_NS },
      spec: {
        serviceName: 'postgres',
        replicas: 1,
        selector: { matchLabels: { app: 'postgres' } },
        template: {
          metadata: { labels: { app: 'postgres' } },
          spec: podSpec([
            container('db', 'echo row > /tmp/index.html; exec httpd -f -p 5432 -h /tmp', {
              ports: [{ name: 'postgres', containerPort: 5432 }],
            }),
          ]),
        },
      },
    },
    service(DB_NS, 'postgres', 5432, 'postgres'),
    deployment(
      'backend',
      { tier: 'api' },
      container(
        'api',
        'echo api > /tmp/index.html; httpd -p 8080 -h /tmp; ' +
          // logs shipped to a collector outside the cluster, over UDP
          `syslogd -n -R ${EXT_IP}:5514 & ` +
          `while :; do wget -q -O- http://${lookup(`postgres.${DB_NS}.svc.cluster.local`)}:5432/ >/dev/null; ` +
          'logger backend-tick; sleep 1; done',
        {
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 2 },
        },
      ),
    ),
    service(NS, 'backend', 80, 'http'),
    deployment(
      'frontend',
      {},
      container(
        'web',
        `while :; do wget -q -O- http://${lookup(`backend.${NS}.svc.cluster.local`)}/ >/dev/null; ` +
          `wget -q -O- http://${EXT_IP}:8443/ >/dev/null; sleep 1; done`,
      ),
    ),
  ];
}

let cluster: Cluster | undefined;
let dir = '';
const servers: ChildProcess[] = [];
let flows: FlowRecord[] = [];
let policiesYaml = '';
const c = (): Cluster => {
  assert.ok(cluster, 'cluster');
  return cluster;
};
/** A network-policy command against the cluster (monitor, verify --from-cluster). */
const netpol = (args: string[]): ReturnType<typeof gadgetRun> =>
  gadgetRun(c(), ['advise', 'network-policy', ...args]);
/** An offline one (report, verify of files, graph): no kubeconfig. */
const offline = (args: string[]): ReturnType<typeof run> =>
  run(process.execPath, [CLI, 'advise', 'network-policy', ...args]);

function ip(args: string[]): void {
  ok(run('ip', args), `ip ${args.join(' ')}`);
}

function externalDown(): void {
  for (const s of servers.splice(0)) s.kill('SIGKILL');
  run('ip', ['link', 'del', EXT_HOST_IF]);
  run('ip', ['netns', 'del', EXT_NETNS]);
}

/** The "outside world": a namespace on a veth, an HTTPS-port web server and a UDP log sink. */
function externalUp(): void {
  externalDown();
  ip(['netns', 'add', EXT_NETNS]);
  ip(['link', 'add', EXT_HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', EXT_NETNS]);
  ip(['addr', 'add', `${EXT_GW}/30`, 'dev', EXT_HOST_IF]);
  ip(['link', 'set', EXT_HOST_IF, 'up']);
  ip(['-n', EXT_NETNS, 'addr', 'add', `${EXT_IP}/30`, 'dev', 'eth0']);
  ip(['-n', EXT_NETNS, 'link', 'set', 'eth0', 'up']);
  ip(['-n', EXT_NETNS, 'link', 'set', 'lo', 'up']);
  ip(['-n', EXT_NETNS, 'route', 'add', '10.244.0.0/16', 'via', EXT_GW]);
  const www = join(dir, 'www');
  rmSync(www, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', www]);
  writeFileSync(join(www, 'index.html'), 'external\n');
  const opts = { stdio: 'ignore' as const };
  servers.push(
    spawn(
      'ip',
      ['netns', 'exec', EXT_NETNS, 'busybox', 'httpd', '-f', '-p', '8443', '-h', www],
      opts,
    ),
    spawn(
      'ip',
      [
        'netns',
        'exec',
        EXT_NETNS,
        process.execPath,
        '-e',
        `require('dgram').createSocket('udp4').on('message', () => {}).bind(5514, '${EXT_IP}')`,
      ],
      opts,
    ),
  );
}

/** A flow as the test states it: local, direction, peer, protocol/port(name), peer kind. */
function summary(f: FlowRecord): string {
  const port = `${f.protocol}/${f.port}${f.port_name ? `(${f.port_name})` : ''}`;
  return `${endpointName(f.local)} ${f.direction} ${endpointName(f.peer)} ${port} ${f.peer.kind}`;
}

const ours = (f: FlowRecord): boolean =>
  [NS, DB_NS].includes(f.local.namespace ?? '') ||
  (f.peer.kind === 'pod' && [NS, DB_NS].includes(f.peer.namespace ?? ''));

describe(
  'advise network-policy on the local Kubernetes node',
  { skip, timeout: 30 * 60_000 },
  () => {
    before(
      () => {
        dir = mkdtempSync(join(tmpdir(), 'kgtest-netpol-node-'));
        cluster = clusterUp();
        deployGadget(c());
        deleteNamespace(c(), NS);
        deleteNamespace(c(), DB_NS);
        externalUp();
        const objs = demoObjects();
        kubectlOk(
          c(),
          ['apply', '-f', '-'],
          JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }),
        );
        for (const [ns, what] of [
          [DB_NS, 'statefulset/postgres'],
          [NS, 'deployment/backend'],
          [NS, 'deployment/frontend'],
        ] as const) {
          ok(
            kubectl(
              c(),
              ['-n', ns, 'rollout', 'status', what, '--timeout=120s'],
              undefined,
              130_000,
            ),
            `rollout of ${ns}/${what}`,
          );
        }
      },
      { timeout: 25 * 60_000 },
    );

    after(
      () => {
        externalDown();
        teardown(cluster, [NS, DB_NS]);
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
      { timeout: 5 * 60_000 },
    );

    test('monitor: every flow of the demo, once per distinct flow, named by workload', () => {
      const file = join(dir, 'flows.ndjson');
      const r = netpol(['monitor', '-A', '--timeout', '20', '--output', file]);
      ok(r, 'monitor');
      assert.match(r.stderr, /distinct flow\(s\) from \d+ report\(s\), written to/);
      const all = parseFlows(readFileSync(file, 'utf8'), file);
      flows = all.filter(ours);
      assert.deepEqual(flows.map(summary).sort(), [
        `${DB_NS}/postgres ingress ${NS}/backend TCP/5432(postgres) pod`,
        `${NS}/backend egress 10.242.0.2 UDP/5514 external`,
        `${NS}/backend egress svc/${DB_NS}/postgres TCP/5432(postgres) service`,
        `${NS}/backend egress svc/kube-system/kube-dns UDP/53 service`,
        `${NS}/backend ingress ${NS}/frontend TCP/8080(http) pod`,
        `${NS}/backend ingress node/${NODE_NAME} TCP/8080(http) node`,
        `${NS}/frontend egress 10.242.0.2 TCP/8443 external`,
        `${NS}/frontend egress svc/${NS}/backend TCP/8080(http) service`,
        `${NS}/frontend egress svc/kube-system/kube-dns UDP/53 service`,
      ]);
      for (const f of flows) {
        assert.equal(f.node, NODE_NAME);
        // the apps loop once a second for 20 s: repeats are counted, not listed
        assert.ok(f.count >= 5, `count of ${summary(f)}: ${f.count}`);
        assert.ok(f.first_seen <= f.last_seen);
      }
      const byKey = new Map(flows.map((f) => [summary(f), f]));
      const pg = byKey.get(
        `${NS}/backend egress svc/${DB_NS}/postgres TCP/5432(postgres) service`,
      )!;
      assert.equal(pg.peer.service?.port, 5432);
      assert.deepEqual(
        pg.peer.backends?.map((b) => [b.namespace, b.workload, b.workload_kind, b.labels]),
        [[DB_NS, 'postgres', 'StatefulSet', { app: 'postgres' }]],
        'ClusterIP -> EndpointSlice -> the StatefulSet, per-pod labels dropped',
      );
      const be = byKey.get(`${NS}/frontend egress svc/${NS}/backend TCP/8080(http) service`)!;
      assert.equal(be.peer.service?.port, 80, 'the Service port the client dialled');
      assert.deepEqual(be.local.labels, { app: 'frontend' }, 'pod-template-hash dropped');
      const dns = byKey.get(`${NS}/frontend egress svc/kube-system/kube-dns UDP/53 service`)!;
      assert.deepEqual(dns.peer.backends, []);
      assert.deepEqual(dns.peer.backend_ips, [DNS_NODE_IP], 'CoreDNS runs on the node');
      assert.ok(
        dns.peer.dns_names === undefined,
        'the DNS server address itself is not the answer of a lookup',
      );
    });

    test('report: the policies (golden file), which pass kubectl apply --dry-run=server', () => {
      assert.ok(flows.length, 'flows from the monitor test');
      const file = join(dir, 'ours.ndjson');
      writeFileSync(file, flows.map((f) => JSON.stringify(f)).join('\n') + '\n');
      const r = offline(['report', '--input', file]);
      policiesYaml = ok(r, 'report');
      if (process.env.KGTEST_UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, policiesYaml);
      assert.equal(policiesYaml, readFileSync(GOLDEN, 'utf8'));
      assert.match(
        policiesYaml,
        /^# node traffic left out: node\/kgnode -> kgtest-shop\/backend TCP\/8080$/m,
      );
      const dry = kubectlOk(c(), ['apply', '--dry-run=server', '-f', '-'], policiesYaml);
      assert.deepEqual(dry.trim().split('\n'), [
        `networkpolicy.networking.k8s.io/backend-network created (server dry run)`,
        `networkpolicy.networking.k8s.io/frontend-network created (server dry run)`,
        `networkpolicy.networking.k8s.io/postgres-network created (server dry run)`,
      ]);
    });

    test('verify: every observed flow allowed; any one rule removed denies some', () => {
      const file = join(dir, 'ours.ndjson');
      const pols = join(dir, 'policies.yaml');
      writeFileSync(pols, policiesYaml);
      const r = offline(['verify', '--input', file, '--policies', pols]);
      ok(r, 'verify');
      assert.match(r.stderr, /^9 of 9 flows allowed by 3 policies$/m);
      const set = parsePolicies(policiesYaml);
      let variants = 0;
      set.policies.forEach((p: NetworkPolicy, i) => {
        for (const d of ['ingress', 'egress'] as const) {
          (p.spec[d] ?? []).forEach((_, k) => {
            const copy = structuredClone(set.policies);
            copy[i]!.spec[d]!.splice(k, 1);
            variants++;
            assert.ok(
              verifyFlows({ policies: copy, namespaces: [] }, flows).denied > 0,
              `${p.metadata.name} ${d}[${k}] removed`,
            );
          });
        }
      });
      assert.equal(variants, 8);
      // the CLI's exit code with the kube-dns rule of frontend removed
      const cut = structuredClone(set.policies);
      const fe = cut.find((p) => p.metadata.name === 'frontend-network')!;
      fe.spec.egress = fe.spec.egress!.filter((rule) => !JSON.stringify(rule).includes('kube-dns'));
      writeFileSync(pols, cut.map((p) => JSON.stringify(p)).join('\n---\n'));
      const bad = offline(['verify', '--input', file, '--policies', pols]);
      assert.equal(bad.status, 1, bad.stderr);
      assert.match(
        bad.stdout,
        /^DENY +kgtest-shop\/frontend +egress +svc\/kube-system\/kube-dns +UDP +53 /m,
      );
    });

    test('verify --from-cluster: the policies applied for real allow every flow', () => {
      kubectlOk(c(), ['apply', '-f', '-'], policiesYaml);
      const r = netpol(['verify', '--input', join(dir, 'ours.ndjson'), '--from-cluster']);
      ok(r, 'verify --from-cluster');
      assert.match(r.stderr, /^9 of 9 flows allowed by 3 policies$/m);
    });

    test('graph: Mermaid, DOT and SVG of the service map', () => {
      const file = join(dir, 'ours.ndjson');
      const mermaid = ok(
        offline(['graph', '--input', file, '--format', 'mermaid']),
        'graph mermaid',
      );
      assert.match(mermaid, /^flowchart LR$/m);
      for (const edge of [
        /-->\|"TCP\/8080 \(http\) via svc\/backend ×\d+"\|/,
        /-->\|"TCP\/5432 \(postgres\) via svc\/postgres ×\d+"\|/,
        /-->\|"UDP\/53 ×\d+"\|/,
        /-->\|"TCP\/8443 ×\d+"\|/,
        /-->\|"UDP\/5514 ×\d+"\|/,
      ]) {
        assert.match(mermaid, edge);
      }
      const dot = ok(offline(['graph', '--input', file, '--format', 'dot']), 'graph dot');
      assert.match(dot, /^digraph /);
      const svg = join(dir, 'map.svg');
      ok(offline(['graph', '--input', file, '--output', svg]), 'graph svg');
      const text = readFileSync(svg, 'utf8');
      assert.match(text, /<svg /);
      for (const label of ['frontend', 'backend', 'postgres', '10.242.0.2']) {
        assert.ok(text.includes(label), `${label} drawn in the SVG`);
      }
    });
  },
);
