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
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI } from '../helpers/cli.js';
import {
  parseFlows,
  type FlowRecord,
} from '../../plugin/src/services/advise_network_policy/flow.js';
import {
  parsePolicies,
  type NetworkPolicy,
} from '../../plugin/src/services/advise_network_policy/policy.js';
import { verifyFlows } from '../../plugin/src/services/advise_network_policy/verify.js';
import {
  NODE_NAME,
  clusterUp,
  deployGadget,
  gadgetRun,
  kubectlOk,
  ok,
  run,
  skipReason,
  teardown,
  type Cluster,
} from './cluster.js';
import {
  DNS_NODE_IP,
  demoFlowSummaries,
  externalDown,
  flowSummary,
  isDemoFlow,
  NODE_DEMO_DB_NS,
  NODE_DEMO_GOLDEN,
  NODE_DEMO_NS,
  startDemo,
} from '../k8s/netpol/demo.js';

const skip = skipReason();
// fixed names: the generated YAML is compared with a golden file
const NS = NODE_DEMO_NS;
const DB_NS = NODE_DEMO_DB_NS;
const GOLDEN = NODE_DEMO_GOLDEN;

let cluster: Cluster | undefined;
let dir = '';
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

describe(
  'advise network-policy on the local Kubernetes node',
  { skip, timeout: 30 * 60_000 },
  () => {
    before(
      () => {
        dir = mkdtempSync(join(tmpdir(), 'kgtest-netpol-node-'));
        cluster = clusterUp();
        deployGadget(c());
        startDemo(c(), dir, join(dir, 'syslog.txt'), NS, DB_NS);
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
      flows = all.filter((f) => isDemoFlow(f, NS, DB_NS));
      assert.deepEqual(flows.map(flowSummary).sort(), demoFlowSummaries(NS, DB_NS));
      for (const f of flows) {
        assert.equal(f.node, NODE_NAME);
        // the apps loop once a second for 20 s: repeats are counted, not listed
        assert.ok(f.count >= 5, `count of ${flowSummary(f)}: ${f.count}`);
        assert.ok(f.first_seen <= f.last_seen);
      }
      const byKey = new Map(flows.map((f) => [flowSummary(f), f]));
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
