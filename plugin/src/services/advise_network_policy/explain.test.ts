// verify's explanation of denials (verify.ts explainPolicy, flowDenials; `verify -o json`
// "denials"): for each denying side, the policies that isolate the pod and, for each of their
// rules, why it does not match: selector, namespace, ipBlock, port, protocol.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { reportCommand, verifyCommand, type IoStreams } from './commands.js';
import { external, flow, pod } from './fixtures.js';
import { formatFlows, type FlowRecord } from './flow.js';
import { parsePolicies } from './policy.js';
import { flowDenials, verdictText, verifyFlows, type Denial } from './verify.js';

const POLICIES = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{protocol: TCP, port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-monitoring, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: ops}}, podSelector: {matchLabels: {app: prometheus}}}]
    ports: [{port: metrics}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: crawler-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: crawler}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
    ports: [{protocol: TCP, port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: vault}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {team: ops}}
`;

const api = pod('shop', 'api', { app: 'api' }, '10.244.1.20');
const web = pod('shop', 'web', { app: 'web' }, '10.244.1.10');
const admin = pod('shop', 'admin', { app: 'admin' }, '10.244.1.11');
const webElsewhere = pod('other', 'web', { app: 'web' }, '10.244.2.10');
const crawler = pod('shop', 'crawler', { app: 'crawler' }, '10.244.1.30');
const vault = pod('vault', 'vault', { app: 'vault' }, '10.244.3.10');

function denials(f: FlowRecord): Denial[] {
  const r = verifyFlows(parsePolicies(POLICIES), [f]).results[0]!;
  assert.equal(r.allowed, false);
  return flowDenials(r);
}

/** The api's ingress side, as every case below is denied there. */
const apiIngress = (src: string, policies: Denial['policies']): Denial[] => [
  { direction: 'ingress', pod: 'shop/api', src, dst: 'shop/api', policies },
];
/** api-monitoring's rule does not match any client of these tests: another pod, another namespace */
const monitoringRule = (ns: string, port: string) => ({
  policy: 'shop/api-monitoring',
  rules: [
    {
      rule: 0,
      mismatches: [
        {
          reason: 'namespace' as const,
          peer: 0,
          detail: `namespaceSelector team=ops does not select namespace ${ns}`,
        },
        {
          reason: 'port' as const,
          detail: `the rule allows TCP/metrics, not ${port} (the destination port has no recorded name)`,
        },
      ],
    },
  ],
});

test('explain: selector (the podSelector does not select the client)', () => {
  assert.deepEqual(
    denials(flow('ingress', api, admin, 'TCP', 8080)),
    apiIngress('shop/admin', [
      {
        policy: 'shop/api-ingress',
        rules: [
          {
            rule: 0,
            mismatches: [
              {
                reason: 'selector',
                peer: 0,
                detail: 'podSelector app=web does not select shop/admin (labels app=admin)',
              },
            ],
          },
        ],
      },
      monitoringRule('shop', 'TCP/8080'),
    ]),
  );
});

test('explain: namespace (same labels, another namespace)', () => {
  assert.deepEqual(
    denials(flow('ingress', api, webElsewhere, 'TCP', 8080)),
    apiIngress('other/web', [
      {
        policy: 'shop/api-ingress',
        rules: [
          {
            rule: 0,
            mismatches: [
              {
                reason: 'namespace',
                peer: 0,
                detail:
                  'podSelector without namespaceSelector selects pods of shop only, other/web is in other',
              },
            ],
          },
        ],
      },
      monitoringRule('other', 'TCP/8080'),
    ]),
  );
});

test('explain: port (the right client, another port)', () => {
  assert.deepEqual(
    denials(flow('ingress', api, web, 'TCP', 9090)),
    apiIngress('shop/web', [
      {
        policy: 'shop/api-ingress',
        rules: [
          {
            rule: 0,
            mismatches: [{ reason: 'port', detail: 'the rule allows TCP/8080, not TCP/9090' }],
          },
        ],
      },
      monitoringRule('shop', 'TCP/9090'),
    ]),
  );
});

test('explain: protocol (the right client and port number, over UDP)', () => {
  const d = denials(flow('ingress', api, web, 'UDP', 8080));
  assert.deepEqual(d[0]!.policies[0], {
    policy: 'shop/api-ingress',
    rules: [
      {
        rule: 0,
        mismatches: [{ reason: 'protocol', detail: 'the rule allows TCP/8080, not UDP/8080' }],
      },
    ],
  });
  assert.deepEqual(d[0]!.policies[1]!.rules[0]!.mismatches[1], {
    reason: 'protocol',
    detail: 'the rule allows TCP/metrics, not UDP/8080',
  });
});

test('explain: ipBlock (outside the block, inside its except) and egress sides', () => {
  const rule = (detail: string): Denial['policies'] => [
    {
      policy: 'shop/crawler-egress',
      rules: [{ rule: 0, mismatches: [{ reason: 'ipBlock', peer: 0, detail }] }],
    },
  ];
  const egress = (dst: string, policies: Denial['policies']): Denial[] => [
    { direction: 'egress', pod: 'shop/crawler', src: 'shop/crawler', dst, policies },
  ];
  assert.deepEqual(
    denials(flow('egress', crawler, external('198.51.100.7'), 'TCP', 443)),
    egress('198.51.100.7', rule('198.51.100.7 is not in ipBlock 203.0.113.0/24')),
  );
  assert.deepEqual(
    denials(flow('egress', crawler, external('203.0.113.200'), 'TCP', 443)),
    egress(
      '203.0.113.200',
      rule('203.0.113.200 is in ipBlock 203.0.113.0/24 but also in its except 203.0.113.128/25'),
    ),
  );
});

test('explain: a policy without rules only isolates; allowed sides carry no explanation', () => {
  assert.deepEqual(denials(flow('ingress', vault, web, 'TCP', 8200)), [
    {
      direction: 'ingress',
      pod: 'vault/vault',
      src: 'shop/web',
      dst: 'vault/vault',
      policies: [{ policy: 'vault/deny-all', rules: [] }],
    },
  ]);
  const r = verifyFlows(parsePolicies(POLICIES), [flow('ingress', api, web, 'TCP', 8080)])
    .results[0]!;
  assert.equal(r.allowed, true);
  assert.deepEqual(flowDenials(r), []);
  assert.equal(r.connections[0]!.verdict.sides[0]!.explain, undefined);
  // the table's short form
  assert.equal(
    verdictText(
      verifyFlows(parsePolicies(POLICIES), [flow('ingress', api, admin, 'TCP', 8080)]).results[0]!,
    ),
    'ingress: shop/api is isolated for Ingress by shop/api-ingress, shop/api-monitoring and no rule allows shop/admin on TCP/8080 (shop/api-ingress: [0] selector; shop/api-monitoring: [0] namespace+port)',
  );
});

function io(): IoStreams & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }),
    stderr: new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) }),
    out: () => out,
    err: () => err,
  };
}

test('verify --show denied -o json: each denied flow names its denials', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kgtest-explain-'));
  try {
    const flows = join(dir, 'f.ndjson');
    const pols = join(dir, 'p.yaml');
    writeFileSync(
      flows,
      formatFlows([
        flow('ingress', api, web, 'TCP', 8080),
        flow('ingress', api, admin, 'TCP', 8080),
        flow('ingress', vault, web, 'TCP', 8200),
      ]),
    );
    writeFileSync(pols, POLICIES);
    const x = io();
    const code = await verifyCommand(
      { input: [flows], policies: [pols], show: 'denied', output: { format: 'json' } },
      x,
    );
    assert.equal(code, 1);
    const lines = x
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { allowed: boolean; denials: Denial[] });
    assert.deepEqual(
      lines.map((l) =>
        l.denials.map(
          (d) =>
            `${d.direction} ${d.pod} <- ${d.src}: ${d.policies.map((p) => `${p.policy}[${p.rules.map((r) => r.mismatches.map((m) => m.reason).join('+')).join(',')}]`).join(' ')}`,
        ),
      ),
      [
        [
          'ingress shop/api <- shop/admin: shop/api-ingress[selector] shop/api-monitoring[namespace+port]',
        ],
        ['ingress vault/vault <- shop/web: vault/deny-all[]'],
      ],
    );
    assert.equal(x.err(), '2 of 3 flows would be denied (1 allowed) by 4 policies\n');
    // report --policies on the same files: a diff, and the objects with -o -
    const y = io();
    await reportCommand({ input: [flows], policies: [pols] }, y);
    assert.match(
      y.out(),
      /^diff -u -N live\/networking\.k8s\.io\.v1\.NetworkPolicy\.shop\.api-ingress merged\//,
    );
    assert.equal(
      y.err(),
      "note: vault/deny-all isolates vault/vault for Ingress but its podSelector {} selects every pod of namespace vault: adding vault/vault's 1 ingress rule to it would widen it for them; they are in the new policy vault/vault-network\n" +
        'note: shop/api-ingress gains 1 ingress rule for flows of shop/api it denied; its old rules are kept\n' +
        '1 changed policy (1 rule(s) appended, none removed), 2 new policies for 3 flow record(s)\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
