// `advise network-policy report --from-cluster` against a REAL kube-apiserver (scripts/k8s/up.sh:
// the cluster of KGADGET_KUBECONFIG, else a running one in $KGADGET_CLUSTER_DIR, else one started
// here and stopped afterwards), with partial policies already applied:
//
//   node scripts/run-tests.mjs integration k8s/netpol-merge
//
// The flows are a recording of the demo app (frontend -> Service -> backend -> postgres in a
// second namespace, DNS to kube-dns, an external address, a kubelet probe) written with the
// flow-record builders, in this test's namespaces; the policies, namespaces and everything the
// commands read come from the API server. Without an enforcer, "every flow passes" is verify's
// verdict on the cluster's policies (verify --from-cluster), as the brief allows; the enforced
// run is e2e/k8s-node (kube-router).
//
// Checked: before the proposal, verify --from-cluster denies exactly the flows the partial
// policies do not cover and -o json explains each denial; report --from-cluster prints a
// unified diff (changed objects with only added lines, new objects), names the policy it would
// widen with the reason, and --output writes objects that `kubectl apply` accepts; afterwards
// verify --from-cluster allows every flow, every old rule is still in its policy, and a second
// report --from-cluster proposes nothing.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI } from '../helpers/cli.js';
import {
  flow,
  pod,
  service,
  node,
  external,
} from '../../plugin/src/services/advise_network_policy/fixtures.js';
import {
  formatFlows,
  type FlowRecord,
} from '../../plugin/src/services/advise_network_policy/flow.js';
import type { Denial } from '../../plugin/src/services/advise_network_policy/verify.js';
import {
  ensureCluster,
  KUBECTL,
  ok,
  removeDir,
  run,
  type ClusterHandle,
} from './harness-fake-kubelet.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = process.env.KGADGET_SKIP_K8S_E2E
  ? 'KGADGET_SKIP_K8S_E2E is set'
  : !isRoot && !process.env.KGADGET_KUBECONFIG
    ? 'needs root to start the control plane (or KGADGET_KUBECONFIG)'
    : false;

const NS = 'kgtest-merge';
const DB_NS = 'kgtest-merge-db';
const t0 = Date.now();
const log = (m: string): void => {
  process.stderr.write(`[netpol-merge +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
};

/** The demo as monitor records it on one node: both ends of each pod-to-pod connection. */
function demoFlows(): FlowRecord[] {
  const frontend = pod(NS, 'frontend', { app: 'frontend' }, '10.244.0.10');
  const backend = pod(NS, 'backend', { app: 'backend', tier: 'api' }, '10.244.0.20');
  const db = pod(DB_NS, 'postgres', { app: 'postgres' }, '10.244.0.30', {
    workload_kind: 'StatefulSet',
  });
  const dns = pod('kube-system', 'coredns', { 'k8s-app': 'kube-dns' }, '10.244.0.53');
  const backendSvc = service(NS, 'backend', '10.96.0.20', 80, [
    { namespace: NS, workload: 'backend', workload_kind: 'Deployment', labels: backend.labels! },
  ]);
  return [
    flow('egress', frontend, backendSvc, 'TCP', 8080, { port_name: 'http', count: 40 }),
    flow('ingress', backend, frontend, 'TCP', 8080, { port_name: 'http', count: 40 }),
    flow('egress', backend, db, 'TCP', 5432, { count: 12 }),
    flow('ingress', db, backend, 'TCP', 5432, { count: 12 }),
    flow('egress', backend, db, 'UDP', 5433, { count: 7 }),
    flow('ingress', db, backend, 'UDP', 5433, { count: 7 }),
    flow('egress', frontend, dns, 'UDP', 53, { count: 5 }),
    flow('egress', backend, dns, 'UDP', 53, { count: 3 }),
    flow('egress', backend, external('203.0.113.7'), 'TCP', 443, { count: 2 }),
    flow('ingress', backend, node('kgtest-node', '10.243.0.1'), 'TCP', 8080, { count: 30 }),
  ];
}

/** What the team applied before: a default-deny egress with DNS, backend's ingress, postgres' TCP. */
const PARTIAL = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DB_NS, labels: { tier: 'data' } } },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'default-deny-egress', namespace: NS },
    spec: {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [{ protocol: 'UDP', port: 53 }],
        },
      ],
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'backend-ingress', namespace: NS },
    spec: {
      podSelector: { matchLabels: { app: 'backend' } },
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { app: 'frontend' } } }],
          ports: [{ protocol: 'TCP', port: 8080 }],
        },
      ],
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'postgres', namespace: DB_NS },
    spec: {
      podSelector: { matchLabels: { app: 'postgres' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
              podSelector: { matchLabels: { app: 'backend' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 5432 }],
        },
      ],
    },
  },
];
// sorted as strings ('-' before '/')
const PARTIAL_POLICIES = [
  'kgtest-merge-db/postgres',
  'kgtest-merge/backend-ingress',
  'kgtest-merge/default-deny-egress',
];

interface ApiPolicy {
  metadata: { name: string; namespace: string };
  spec: { ingress?: unknown[]; egress?: unknown[]; podSelector: unknown; policyTypes?: string[] };
}

describe(
  'report --from-cluster merges with the policies of a real API server',
  { skip, concurrency: 1 },
  () => {
    let cluster: ClusterHandle | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'kgtest-netpol-merge-'));
    const flowsFile = join(dir, 'flows.ndjson');
    const proposal = join(dir, 'proposal.yaml');
    let kubeconfig = '';
    const kubectl = async (args: string[], input?: string): Promise<string> =>
      ok(
        await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { input }),
        `kubectl ${args.join(' ')}`,
      );
    const netpol = (args: string[]) =>
      run(
        process.execPath,
        [CLI, 'advise', 'network-policy', ...args, '--kubeconfig', kubeconfig],
        {
          timeoutMs: 120_000,
        },
      );
    /** The partial policies as the API server holds them (defaults filled in). */
    const live = async (): Promise<Map<string, ApiPolicy>> => {
      const list = JSON.parse(
        await kubectl(['get', 'networkpolicies', '-n', NS, '-o', 'json']),
      ) as { items: ApiPolicy[] };
      const db = JSON.parse(
        await kubectl(['get', 'networkpolicies', '-n', DB_NS, '-o', 'json']),
      ) as { items: ApiPolicy[] };
      return new Map(
        [...list.items, ...db.items].map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]),
      );
    };
    let old: Map<string, ApiPolicy> = new Map();
    const flows = demoFlows();

    before(async () => {
      cluster = ensureCluster(log);
      kubeconfig = cluster.kubeconfig;
      for (const ns of [NS, DB_NS])
        await run(KUBECTL, [
          '--kubeconfig',
          kubeconfig,
          'delete',
          'namespace',
          ns,
          '--wait=true',
          '--ignore-not-found',
        ]);
      writeFileSync(flowsFile, formatFlows(flows));
      await kubectl(['apply', '-f', '-'], PARTIAL.map((o) => JSON.stringify(o)).join('\n'));
      old = await live();
      assert.deepEqual([...old.keys()].sort(), PARTIAL_POLICIES);
    });

    after(async () => {
      if (kubeconfig)
        for (const ns of [NS, DB_NS])
          await run(KUBECTL, [
            '--kubeconfig',
            kubeconfig,
            'delete',
            'namespace',
            ns,
            '--wait=false',
            '--ignore-not-found',
          ]);
      cluster?.close();
      removeDir(dir);
    });

    test('before: verify --from-cluster denies what the partial policies miss, and says why', async () => {
      const r = await netpol([
        'verify',
        '-i',
        flowsFile,
        '--from-cluster',
        '--show',
        'denied',
        '-o',
        'json',
      ]);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { flow: FlowRecord; denials: Denial[] });
      const short = lines.map((l) => ({
        flow: `${l.flow.local.workload} ${l.flow.direction} ${l.flow.peer.workload ?? l.flow.peer.service?.name ?? l.flow.peer.ip} ${l.flow.protocol}/${l.flow.port}`,
        denials: l.denials.map(
          (d) =>
            `${d.direction} ${d.pod}: ` +
            d.policies
              .map(
                (p) =>
                  `${p.policy}[${p.rules.map((x) => x.mismatches.map((m) => m.reason).join('+')).join(',')}]`,
              )
              .join(' '),
        ),
      }));
      // one mismatch per peer (the first gate it fails: namespace before pod labels), then ports
      const byFlow = (a: { flow: string }, b: { flow: string }): number =>
        a.flow < b.flow ? -1 : a.flow > b.flow ? 1 : 0;
      assert.deepEqual(
        short.sort(byFlow),
        [
          {
            flow: 'backend egress 203.0.113.7 TCP/443',
            denials: [
              'egress kgtest-merge/backend: kgtest-merge/default-deny-egress[selector+protocol]',
            ],
          },
          {
            flow: 'backend egress postgres TCP/5432',
            denials: [
              'egress kgtest-merge/backend: kgtest-merge/default-deny-egress[namespace+protocol]',
            ],
          },
          {
            flow: 'backend egress postgres UDP/5433',
            denials: [
              'egress kgtest-merge/backend: kgtest-merge/default-deny-egress[namespace+port]',
              'ingress kgtest-merge-db/postgres: kgtest-merge-db/postgres[protocol]',
            ],
          },
          {
            flow: 'backend ingress frontend TCP/8080',
            denials: [
              'egress kgtest-merge/frontend: kgtest-merge/default-deny-egress[namespace+protocol]',
            ],
          },
          {
            flow: 'frontend egress backend TCP/8080',
            denials: [
              'egress kgtest-merge/frontend: kgtest-merge/default-deny-egress[namespace+protocol]',
            ],
          },
          {
            flow: 'postgres ingress backend TCP/5432',
            denials: [
              'egress kgtest-merge/backend: kgtest-merge/default-deny-egress[namespace+protocol]',
            ],
          },
          {
            flow: 'postgres ingress backend UDP/5433',
            denials: [
              'egress kgtest-merge/backend: kgtest-merge/default-deny-egress[namespace+port]',
              'ingress kgtest-merge-db/postgres: kgtest-merge-db/postgres[protocol]',
            ],
          },
        ].sort(byFlow),
      );
      assert.match(r.stderr, /^7 of 10 flows would be denied \(3 allowed\) by \d+ polic(y|ies)\n$/);
    });

    test('report --from-cluster: a diff of what to add, the widening named, objects kubectl applies', async () => {
      const r = await netpol(['report', '-i', flowsFile, '--from-cluster', '--output', proposal]);
      assert.equal(r.status, 0, r.stderr);
      const diff = r.stdout;
      // one section per changed or new object, in kubectl diff's form
      const heads = [...diff.matchAll(/^diff -u -N live\/(\S+) merged\/(\S+)$/gm)].map((m) => {
        assert.equal(m[1], m[2]);
        return m[1];
      });
      assert.deepEqual(heads, [
        'networking.k8s.io.v1.NetworkPolicy.kgtest-merge-db.postgres',
        'networking.k8s.io.v1.NetworkPolicy.kgtest-merge.backend-network',
        'networking.k8s.io.v1.NetworkPolicy.kgtest-merge.frontend-network',
      ]);
      // an existing policy only gains lines
      const pg = diff.slice(0, diff.indexOf('diff -u -N', 10));
      assert.match(pg, /^@@ -\d+,\d+ \+\d+,\d+ @@$/m);
      assert.equal(
        pg.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---')).length,
        0,
      );
      assert.match(pg, /^\+ {10}port: 5433$/m);
      // new objects are all additions (@@ -0,0)
      assert.equal([...diff.matchAll(/^@@ -0,0 \+1,\d+ @@$/gm)].length, 2);
      assert.match(
        r.stderr,
        /^note: kgtest-merge\/default-deny-egress isolates kgtest-merge\/backend for Egress but its podSelector \{\} selects every pod of namespace kgtest-merge: adding kgtest-merge\/backend's 2 egress rules to it would widen it for them; they are in the new policy kgtest-merge\/backend-network$/m,
      );
      assert.match(
        r.stderr,
        /^note: kgtest-merge\/default-deny-egress isolates kgtest-merge\/frontend for Egress but its podSelector \{\} selects every pod of namespace kgtest-merge: adding kgtest-merge\/frontend's 1 egress rule to it would widen it for them; they are in the new policy kgtest-merge\/frontend-network$/m,
      );
      assert.match(
        r.stderr,
        /^note: node traffic left out: node\/kgtest-node -> kgtest-merge\/backend TCP\/8080$/m,
      );
      assert.match(
        r.stderr,
        /^1 changed policy \(1 rule\(s\) appended, none removed\), 2 new policies for 10 flow record\(s\); objects written to /m,
      );
      assert.match(
        r.stderr,
        /^note: kgtest-merge-db\/postgres gains 1 ingress rule for flows of kgtest-merge-db\/postgres it denied; its old rules are kept$/m,
      );
      assert.doesNotMatch(r.stderr, /still be denied/);
      const yaml = readFileSync(proposal, 'utf8');
      assert.match(
        yaml,
        /^# Generated by kubectl-gadget advise network-policy report from 10 flow records, merged with \d+ existing polic(y|ies):$/m,
      );
      // the API server validates and stores them
      const applied = await kubectl(['apply', '-f', proposal]);
      assert.match(applied, /networkpolicy\.networking\.k8s\.io\/postgres configured/);
      assert.match(applied, /networkpolicy\.networking\.k8s\.io\/backend-network created/);
      assert.match(applied, /networkpolicy\.networking\.k8s\.io\/frontend-network created/);
    });

    test('after: every flow passes verify --from-cluster, the old rules are all still there', async () => {
      const r = await netpol(['verify', '-i', flowsFile, '--from-cluster']);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`^${flows.length} of ${flows.length} flows allowed by \\d+ policies\\n$`),
      );
      const now = await live();
      for (const id of PARTIAL_POLICIES) {
        const was = old.get(id)!;
        const is = now.get(id);
        assert.ok(is, `${id} is gone`);
        assert.deepEqual(is.spec.podSelector, was.spec.podSelector, id);
        assert.deepEqual(is.spec.policyTypes, was.spec.policyTypes, id);
        for (const dir of ['ingress', 'egress'] as const) {
          const prev = was.spec[dir] ?? [];
          assert.deepEqual((is.spec[dir] ?? []).slice(0, prev.length), prev, `${id} ${dir}`);
        }
      }
      // postgres gained exactly one ingress rule; the two others are untouched
      assert.equal(now.get('kgtest-merge-db/postgres')!.spec.ingress!.length, 2);
      assert.deepEqual(
        now.get('kgtest-merge/backend-ingress')!.spec,
        old.get('kgtest-merge/backend-ingress')!.spec,
      );
      assert.deepEqual(
        now.get('kgtest-merge/default-deny-egress')!.spec,
        old.get('kgtest-merge/default-deny-egress')!.spec,
      );
    });

    test('again: report --from-cluster has nothing left to propose', async () => {
      const r = await netpol(['report', '-i', flowsFile, '--from-cluster']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        /^no change: the \d+ existing policies allow what the 10 flow record\(s\) need$/m,
      );
    });
  },
);
