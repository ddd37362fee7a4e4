import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '#gadgets/framework/paths.js';
import { DEMO, demoFlows, external, flow, node, pod, service } from './fixtures.js';
import type { FlowRecord } from './flow.js';
import { parsePolicies, type NetworkPolicy } from './policy.js';
import { buildReport } from './report.js';
import { verifyFlows } from './verify.js';

const GOLDEN = join(
  packageRoot(),
  'plugin/src/services/advise_network_policy/testdata/demo-policies.yaml',
);

function shuffled<T>(a: T[], seed: number): T[] {
  const out = [...a];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Every policy set obtained by deleting exactly one rule of one policy. */
function withOneRuleRemoved(
  policies: NetworkPolicy[],
): Array<{ what: string; policies: NetworkPolicy[] }> {
  const out: Array<{ what: string; policies: NetworkPolicy[] }> = [];
  policies.forEach((p, i) => {
    for (const dir of ['ingress', 'egress'] as const) {
      (p.spec[dir] ?? []).forEach((_, r) => {
        const copy = structuredClone(policies);
        copy[i]!.spec[dir]!.splice(r, 1);
        out.push({
          what: `${p.metadata.namespace}/${p.metadata.name} ${dir}[${r}]`,
          policies: copy,
        });
      });
    }
  });
  return out;
}

test('report: the demo app gives the expected policies (golden file)', () => {
  const r = buildReport(demoFlows());
  assert.equal(r.yaml, readFileSync(GOLDEN, 'utf8'));
  assert.deepEqual(
    r.policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
    [
      'db/postgres-network',
      'demo/backend-network',
      'demo/frontend-network',
      'kube-system/coredns-network',
    ],
  );
  // the YAML reads back as the same policies
  assert.deepEqual(parsePolicies(r.yaml).policies, r.policies);
});

test('report: output is deterministic whatever the input order', () => {
  const base = buildReport(demoFlows()).yaml;
  for (const seed of [1, 2, 3, 42])
    assert.equal(buildReport(shuffled(demoFlows(), seed)).yaml, base);
  assert.equal(buildReport(demoFlows().reverse()).yaml, base);
});

test('report: the generated policies allow 100% of their flows; removing any one rule breaks that', () => {
  const flows = demoFlows();
  const r = buildReport(flows);
  const all = verifyFlows({ policies: r.policies, namespaces: [] }, flows);
  assert.equal(all.denied, 0);
  assert.equal(all.allowed, flows.length);
  const variants = withOneRuleRemoved(r.policies);
  assert.ok(variants.length >= 8);
  for (const v of variants) {
    const res = verifyFlows({ policies: v.policies, namespaces: [] }, flows);
    assert.ok(res.denied > 0, `removing ${v.what} still allows every flow`);
  }
});

test('report: revision labels are dropped, Ingress and Egress always present', () => {
  const r = buildReport(demoFlows());
  const fe = r.policies.find((p) => p.metadata.name === 'frontend-network')!;
  assert.deepEqual(fe.spec.podSelector, { matchLabels: { app: 'frontend' } });
  assert.deepEqual(fe.spec.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(fe.spec.ingress, [], 'nothing came in: deny all ingress');
  const pg = r.policies.find((p) => p.metadata.name === 'postgres-network')!;
  assert.deepEqual(pg.spec.podSelector, { matchLabels: { app: 'postgres' } });
});

test('report: rules differing only by port are one rule; peers with the same ports share a rule', () => {
  const be = DEMO.backend;
  const flows: FlowRecord[] = [
    flow('egress', be, DEMO.db, 'TCP', 5432),
    flow('egress', be, DEMO.db, 'TCP', 5433),
    flow('egress', be, DEMO.db, 'UDP', 5432),
    flow('egress', be, external('198.51.100.1'), 'TCP', 443),
    flow('egress', be, external('198.51.100.2'), 'TCP', 443),
    flow('egress', be, external('198.51.100.2'), 'TCP', 443, { node: 'node-2' }),
  ];
  const r = buildReport(flows);
  const egress = r.policies.find((p) => p.metadata.name === 'backend-network')!.spec.egress!;
  assert.deepEqual(egress, [
    {
      to: [
        {
          podSelector: { matchLabels: { app: 'postgres' } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'db' } },
        },
      ],
      ports: [
        { protocol: 'TCP', port: 5432 },
        { protocol: 'TCP', port: 5433 },
        { protocol: 'UDP', port: 5432 },
      ],
    },
    {
      to: [{ ipBlock: { cidr: '198.51.100.1/32' } }, { ipBlock: { cidr: '198.51.100.2/32' } }],
      ports: [{ protocol: 'TCP', port: 443 }],
    },
  ]);
});

test('report: node traffic is noted and left out, or allowed by ipBlock on request', () => {
  const flows = [
    flow('ingress', DEMO.backend, node('node-1', '192.168.1.10'), 'TCP', 8080),
    flow(
      'ingress',
      DEMO.backend,
      pod('monitoring', 'exporter', { app: 'x' }, '192.168.1.10', { host_network: true }),
      'TCP',
      9100,
    ),
  ];
  const r = buildReport(flows);
  assert.deepEqual(r.notes, [
    'node traffic left out: node/node-1 -> demo/backend TCP/8080',
    'node traffic left out: monitoring/exporter (hostNetwork) -> demo/backend TCP/9100',
  ]);
  assert.deepEqual(r.policies[0]!.spec.ingress, []);
  assert.match(r.yaml, /^# node traffic left out: node\/node-1 -> demo\/backend TCP\/8080$/m);
  const withNode = buildReport(flows, { includeNode: true });
  assert.deepEqual(withNode.policies[0]!.spec.ingress, [
    {
      from: [{ ipBlock: { cidr: '192.168.1.10/32' } }],
      ports: [
        { protocol: 'TCP', port: 8080 },
        { protocol: 'TCP', port: 9100 },
      ],
    },
  ]);
  assert.equal(verifyFlows({ policies: withNode.policies, namespaces: [] }, flows).denied, 0);
});

test('report: a Service stands for its backends; DNS to an unidentified server goes to kube-dns', () => {
  const fe = DEMO.frontend;
  const svc = service('demo', 'api', '10.96.0.9', 80, [
    { namespace: 'demo', workload: 'api-v1', labels: { app: 'api', version: 'v1' } },
    {
      namespace: 'demo',
      workload: 'api-v2',
      labels: { app: 'api', version: 'v2', 'pod-template-hash': 'x' },
    },
  ]);
  const dnsSvc = service('kube-system', 'kube-dns', '10.96.0.10', 53, []);
  const r = buildReport([
    flow('egress', fe, svc, 'TCP', 8080),
    flow('egress', fe, dnsSvc, 'UDP', 53),
    flow('egress', fe, service('demo', 'gone', '10.96.0.11', 80, []), 'TCP', 80),
  ]);
  assert.deepEqual(r.policies[0]!.spec.egress, [
    {
      to: [
        {
          podSelector: { matchLabels: { app: 'api', version: 'v1' } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'demo' } },
        },
        {
          podSelector: { matchLabels: { app: 'api', version: 'v2' } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'demo' } },
        },
      ],
      ports: [{ protocol: 'TCP', port: 8080 }],
    },
    {
      to: [
        {
          podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        },
      ],
      ports: [
        { protocol: 'TCP', port: 53 },
        { protocol: 'UDP', port: 53 },
      ],
    },
  ]);
  assert.deepEqual(r.notes, [
    'no rule for demo/frontend -> svc/demo/gone TCP/80: the Service has no known backends',
  ]);
});

test('report: named ports on request, unlabeled workloads get no policy, one-sided records give both sides', () => {
  const fe = DEMO.frontend;
  const be = DEMO.backend;
  const named = buildReport([flow('egress', fe, be, 'TCP', 8080, { port_name: 'http' })], {
    namedPorts: true,
  });
  assert.deepEqual(
    named.policies.find((p) => p.metadata.name === 'frontend-network')!.spec.egress![0]!.ports,
    [{ protocol: 'TCP', port: 'http' }],
  );

  const bare = buildReport([flow('egress', pod('demo', 'bare', {}, '10.0.0.5'), be, 'TCP', 80)]);
  assert.deepEqual(bare.policies, []);
  assert.deepEqual(bare.notes, [
    'no policy for demo/bare: its pods have no labels to select them by',
  ]);
  assert.match(bare.yaml, /# \(no policies\)\n$/);

  // only the server's ingress record, but both workloads are local somewhere: both get the rule
  const flows = [
    flow('ingress', be, fe, 'TCP', 8080),
    flow('egress', fe, external('203.0.113.1'), 'TCP', 443),
  ];
  const r = buildReport(flows);
  const fePol = r.policies.find((p) => p.metadata.name === 'frontend-network')!;
  assert.equal(fePol.spec.egress!.length, 2);
  assert.equal(verifyFlows({ policies: r.policies, namespaces: [] }, flows).denied, 0);
  // a peer never seen as a local end gets no policy of its own
  const one = buildReport([flow('ingress', be, fe, 'TCP', 8080)]);
  assert.deepEqual(
    one.policies.map((p) => p.metadata.name),
    ['backend-network'],
  );
});

test('report: policy names are DNS labels, unique per namespace', () => {
  const a = pod('demo', 'Web_App', { app: 'a' }, '10.0.0.1');
  const b = pod('demo', 'web-app', { app: 'b' }, '10.0.0.2');
  const r = buildReport([flow('egress', a, b, 'TCP', 1), flow('egress', b, a, 'TCP', 1)]);
  assert.deepEqual(r.policies.map((p) => p.metadata.name).sort(), [
    'web-app-network',
    'web-app-network-2',
  ]);
});
