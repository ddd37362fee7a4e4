// NetworkPolicy semantics, table-driven. Policies marked "docs" are the examples of the Kubernetes
// documentation (concepts/services-networking/network-policies), written out here.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flow, pod, service, external, node } from './fixtures.js';
import type { Labels } from './labels.js';
import { parsePolicies, PolicyError, type PolicySet } from './policy.js';
import {
  evaluateConnection,
  PolicyIndex,
  verifyFlows,
  verdictText,
  type ConnEnd,
  type Connection,
} from './verify.js';

// --- the documentation's examples ------------------------------------------------------------

const DOCS_TEST_NETWORK_POLICY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
`;

const DOCS_DEFAULT_DENY_INGRESS = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {}
  policyTypes:
  - Ingress
`;

const DOCS_ALLOW_ALL_INGRESS = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all-ingress
spec:
  podSelector: {}
  ingress:
  - {}
  policyTypes:
  - Ingress
`;

const DOCS_DEFAULT_DENY_EGRESS = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-egress
spec:
  podSelector: {}
  policyTypes:
  - Egress
`;

const DOCS_ALLOW_ALL_EGRESS = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all-egress
spec:
  podSelector: {}
  egress:
  - {}
  policyTypes:
  - Egress
`;

const DOCS_DEFAULT_DENY_ALL = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-all
spec:
  podSelector: {}
  policyTypes:
  - Ingress
  - Egress
`;

const DOCS_MULTI_PORT_EGRESS = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: multi-port-egress
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
    - Egress
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: TCP
          port: 32000
          endPort: 32768
`;

// "Behavior of to and from selectors": one element (AND) versus two elements (OR)
const DOCS_AND = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: and, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          user: alice
      podSelector:
        matchLabels:
          role: client
`;

const DOCS_OR = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: or, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          user: alice
    - podSelector:
        matchLabels:
          role: client
`;

// "Targeting a Namespace by its name": the automatic kubernetes.io/metadata.name label
const DOCS_NAMESPACE_BY_NAME = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-frontend-ns, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: frontend
`;

// --- helpers -----------------------------------------------------------------------------------

const NAMESPACES = `
apiVersion: v1
kind: Namespace
metadata: {name: myproject-ns, labels: {project: myproject}}
---
apiVersion: v1
kind: Namespace
metadata: {name: alice-ns, labels: {user: alice}}
`;

function set(...docs: string[]): PolicySet {
  return parsePolicies([...docs, NAMESPACES].join('\n---\n'));
}

function p(ns: string, labels: Labels, ip = '10.1.0.1'): ConnEnd {
  const index = new PolicyIndex(parsePolicies(NAMESPACES));
  return {
    kind: 'pod',
    namespace: ns,
    labels,
    namespaceLabels: index.namespaceLabels(ns),
    ip,
    name: `${ns}/${JSON.stringify(labels)}`,
  };
}
const ip = (a: string): ConnEnd => ({ kind: 'ip', ip: a, name: a });
const nodeEnd = (a: string): ConnEnd => ({ kind: 'node', ip: a, name: `node ${a}` });

const DB = p('default', { role: 'db' }, '10.1.0.9');
const FRONTEND = p('default', { role: 'frontend' }, '10.1.0.2');
const OTHER = p('default', { role: 'other' }, '10.1.0.3');
const MYPROJECT_POD = p('myproject-ns', { app: 'x' }, '10.1.1.2');
const ELSEWHERE_FRONTEND = p('elsewhere', { role: 'frontend' }, '10.1.2.2');
const ALICE_CLIENT = p('alice-ns', { role: 'client' }, '10.1.3.2');
const ALICE_OTHER = p('alice-ns', { role: 'web' }, '10.1.3.3');

interface Case {
  name: string;
  policies: string[];
  src: ConnEnd;
  dst: ConnEnd;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  portName?: string;
  allowed: boolean;
  /** expected rules that allowed it, "ns/name direction[i]" */
  by?: string[];
}

const CASES: Case[] = [
  // docs: test-network-policy, ingress side of role=db
  {
    name: 'ipBlock inside cidr',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: ip('172.17.0.5'),
    dst: DB,
    port: 6379,
    allowed: true,
    by: ['default/test-network-policy ingress[0]'],
  },
  {
    name: 'ipBlock in except',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: ip('172.17.1.5'),
    dst: DB,
    port: 6379,
    allowed: false,
  },
  {
    name: 'ipBlock outside cidr',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: ip('172.18.0.1'),
    dst: DB,
    port: 6379,
    allowed: false,
  },
  {
    name: 'namespaceSelector project=myproject',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: MYPROJECT_POD,
    dst: DB,
    port: 6379,
    allowed: true,
  },
  {
    name: 'podSelector role=frontend, same namespace',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: FRONTEND,
    dst: DB,
    port: 6379,
    allowed: true,
  },
  {
    name: 'podSelector alone means the policy namespace',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: ELSEWHERE_FRONTEND,
    dst: DB,
    port: 6379,
    allowed: false,
  },
  {
    name: 'wrong port',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: FRONTEND,
    dst: DB,
    port: 6380,
    allowed: false,
  },
  {
    name: 'wrong protocol',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: FRONTEND,
    dst: DB,
    protocol: 'UDP',
    port: 6379,
    allowed: false,
  },
  {
    name: 'pod not selected is not isolated',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: ip('8.8.8.8'),
    dst: OTHER,
    port: 1,
    allowed: true,
  },
  // docs: test-network-policy, egress side of role=db (the other end is not isolated)
  {
    name: 'egress ipBlock 10.0.0.0/24 port 5978',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: DB,
    dst: ip('10.0.0.5'),
    port: 5978,
    allowed: true,
    by: ['default/test-network-policy egress[0]'],
  },
  {
    name: 'egress outside cidr',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: DB,
    dst: ip('10.0.1.5'),
    port: 5978,
    allowed: false,
  },
  {
    name: 'egress wrong port',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: DB,
    dst: ip('10.0.0.5'),
    port: 5979,
    allowed: false,
  },
  {
    name: 'egress to a pod: frontend not isolated, db egress denies',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: DB,
    dst: FRONTEND,
    port: 80,
    allowed: false,
  },
  // docs: default deny / allow all
  {
    name: 'default-deny-ingress denies ingress',
    policies: [DOCS_DEFAULT_DENY_INGRESS],
    src: ip('1.2.3.4'),
    dst: OTHER,
    port: 80,
    allowed: false,
  },
  {
    name: 'default-deny-ingress leaves egress alone',
    policies: [DOCS_DEFAULT_DENY_INGRESS],
    src: OTHER,
    dst: ip('1.2.3.4'),
    port: 80,
    allowed: true,
  },
  {
    name: 'default-deny-ingress: pod to pod in the namespace is denied',
    policies: [DOCS_DEFAULT_DENY_INGRESS],
    src: FRONTEND,
    dst: OTHER,
    port: 80,
    allowed: false,
  },
  {
    name: 'allow-all-ingress',
    policies: [DOCS_DEFAULT_DENY_INGRESS, DOCS_ALLOW_ALL_INGRESS],
    src: ip('1.2.3.4'),
    dst: OTHER,
    port: 80,
    allowed: true,
    by: ['default/allow-all-ingress ingress[0]'],
  },
  {
    name: 'default-deny-egress denies egress',
    policies: [DOCS_DEFAULT_DENY_EGRESS],
    src: OTHER,
    dst: ip('1.2.3.4'),
    port: 53,
    protocol: 'UDP',
    allowed: false,
  },
  {
    name: 'default-deny-egress leaves ingress alone',
    policies: [DOCS_DEFAULT_DENY_EGRESS],
    src: ip('1.2.3.4'),
    dst: OTHER,
    port: 80,
    allowed: true,
  },
  {
    name: 'allow-all-egress',
    policies: [DOCS_DEFAULT_DENY_EGRESS, DOCS_ALLOW_ALL_EGRESS],
    src: OTHER,
    dst: ip('1.2.3.4'),
    port: 443,
    allowed: true,
  },
  {
    name: 'default-deny-all: ingress',
    policies: [DOCS_DEFAULT_DENY_ALL],
    src: ip('1.2.3.4'),
    dst: OTHER,
    port: 80,
    allowed: false,
  },
  {
    name: 'default-deny-all: egress',
    policies: [DOCS_DEFAULT_DENY_ALL],
    src: OTHER,
    dst: ip('1.2.3.4'),
    port: 80,
    allowed: false,
  },
  {
    name: 'default-deny-all in another namespace does not apply',
    policies: [DOCS_DEFAULT_DENY_ALL],
    src: MYPROJECT_POD,
    dst: ip('1.2.3.4'),
    port: 80,
    allowed: true,
  },
  // docs: port ranges
  {
    name: 'endPort: first port',
    policies: [DOCS_MULTI_PORT_EGRESS],
    src: DB,
    dst: ip('10.0.0.1'),
    port: 32000,
    allowed: true,
  },
  {
    name: 'endPort: last port',
    policies: [DOCS_MULTI_PORT_EGRESS],
    src: DB,
    dst: ip('10.0.0.1'),
    port: 32768,
    allowed: true,
  },
  {
    name: 'endPort: above the range',
    policies: [DOCS_MULTI_PORT_EGRESS],
    src: DB,
    dst: ip('10.0.0.1'),
    port: 32769,
    allowed: false,
  },
  {
    name: 'endPort: below the range',
    policies: [DOCS_MULTI_PORT_EGRESS],
    src: DB,
    dst: ip('10.0.0.1'),
    port: 31999,
    allowed: false,
  },
  {
    name: 'endPort: protocol still counts',
    policies: [DOCS_MULTI_PORT_EGRESS],
    src: DB,
    dst: ip('10.0.0.1'),
    protocol: 'UDP',
    port: 32000,
    allowed: false,
  },
  {
    name: 'Egress-only policy does not isolate ingress',
    policies: [DOCS_MULTI_PORT_EGRESS],
    src: ip('1.1.1.1'),
    dst: DB,
    port: 5432,
    allowed: true,
  },
  // docs: and / or
  {
    name: 'AND: client in alice namespace',
    policies: [DOCS_AND],
    src: ALICE_CLIENT,
    dst: DB,
    port: 5432,
    allowed: true,
  },
  {
    name: 'AND: other pod in alice namespace',
    policies: [DOCS_AND],
    src: ALICE_OTHER,
    dst: DB,
    port: 5432,
    allowed: false,
  },
  {
    name: 'AND: client in the policy namespace',
    policies: [DOCS_AND],
    src: p('default', { role: 'client' }),
    dst: DB,
    port: 5432,
    allowed: false,
  },
  {
    name: 'OR: other pod in alice namespace',
    policies: [DOCS_OR],
    src: ALICE_OTHER,
    dst: DB,
    port: 5432,
    allowed: true,
  },
  {
    name: 'OR: client in the policy namespace',
    policies: [DOCS_OR],
    src: p('default', { role: 'client' }),
    dst: DB,
    port: 5432,
    allowed: true,
  },
  {
    name: 'OR: client in another namespace',
    policies: [DOCS_OR],
    src: p('elsewhere', { role: 'client' }),
    dst: DB,
    port: 5432,
    allowed: false,
  },
  // docs: namespace by name (automatic label, no Namespace object needed)
  {
    name: 'namespace by name: match',
    policies: [DOCS_NAMESPACE_BY_NAME],
    src: p('frontend', { a: 'b' }),
    dst: OTHER,
    port: 80,
    allowed: true,
  },
  {
    name: 'namespace by name: other namespace',
    policies: [DOCS_NAMESPACE_BY_NAME],
    src: p('backend', { a: 'b' }),
    dst: OTHER,
    port: 80,
    allowed: false,
  },
  {
    name: 'ipBlock matches a pod by its address (implementation-defined)',
    policies: [DOCS_TEST_NETWORK_POLICY],
    src: p('elsewhere', {}, '172.17.3.3'),
    dst: DB,
    port: 6379,
    allowed: true,
  },
  {
    name: 'namespaceSelector never selects an address',
    policies: [DOCS_NAMESPACE_BY_NAME],
    src: ip('10.1.0.50'),
    dst: OTHER,
    port: 80,
    allowed: false,
  },
  // node traffic
  {
    name: 'node to pod ingress is always allowed',
    policies: [DOCS_DEFAULT_DENY_ALL],
    src: nodeEnd('192.168.1.10'),
    dst: OTHER,
    port: 8080,
    allowed: true,
  },
  {
    name: 'pod to node egress is judged by ipBlock',
    policies: [DOCS_DEFAULT_DENY_ALL],
    src: OTHER,
    dst: nodeEnd('192.168.1.10'),
    port: 10250,
    allowed: false,
  },
  {
    name: 'podSelector {} does not select a node',
    policies: [
      DOCS_DEFAULT_DENY_INGRESS,
      `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-any-pod}
spec:
  podSelector: {}
  egress: [{to: [{podSelector: {}}]}]
  policyTypes: [Egress]
`,
    ],
    src: OTHER,
    dst: nodeEnd('192.168.1.10'),
    port: 10250,
    allowed: false,
  },
];

describe('verify: connection semantics (Kubernetes docs examples and more)', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const index = new PolicyIndex(set(...c.policies));
      const conn: Connection = {
        src: c.src,
        dst: c.dst,
        protocol: c.protocol ?? 'TCP',
        port: c.port,
        ...(c.portName ? { portName: c.portName } : {}),
      };
      const v = evaluateConnection(index, conn);
      assert.equal(v.allowed, c.allowed, JSON.stringify(v.sides, null, 1));
      if (c.by) {
        assert.deepEqual(
          v.sides.flatMap((s) => s.allowedBy.map((r) => `${r.policy} ${r.direction}[${r.rule}]`)),
          c.by,
        );
      }
    });
  }
});

const NAMED = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - port: postgres
    - port: metrics
      protocol: UDP
`;

test('named ports match the destination port name recorded with the flow', () => {
  const index = new PolicyIndex(set(NAMED));
  const at = (port: number, portName?: string, protocol: 'TCP' | 'UDP' = 'TCP') =>
    evaluateConnection(index, {
      src: FRONTEND,
      dst: DB,
      protocol,
      port,
      ...(portName ? { portName } : {}),
    }).allowed;
  assert.equal(at(5432, 'postgres'), true);
  assert.equal(at(5432), false, 'no name recorded: a named port cannot match');
  assert.equal(at(5432, 'pg'), false);
  assert.equal(at(9187, 'metrics', 'UDP'), true);
  assert.equal(at(9187, 'metrics', 'TCP'), false, 'protocol of a named port');
});

test('matchExpressions: In, NotIn, Exists, DoesNotExist', () => {
  const pol = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: expr, namespace: default}
spec:
  podSelector:
    matchExpressions:
    - {key: role, operator: In, values: [db, cache]}
    - {key: legacy, operator: DoesNotExist}
  ingress:
  - from:
    - podSelector:
        matchExpressions:
        - {key: tier, operator: Exists}
        - {key: env, operator: NotIn, values: [dev]}
`;
  const index = new PolicyIndex(set(pol));
  const to = (dstLabels: Labels, srcLabels: Labels) =>
    evaluateConnection(index, {
      src: p('default', srcLabels),
      dst: p('default', dstLabels),
      protocol: 'TCP',
      port: 1,
    }).allowed;
  assert.equal(to({ role: 'db' }, { tier: 'web' }), true);
  assert.equal(to({ role: 'cache' }, { tier: 'web', env: 'prod' }), true);
  assert.equal(to({ role: 'db' }, { tier: 'web', env: 'dev' }), false, 'NotIn');
  assert.equal(to({ role: 'db' }, { app: 'x' }), false, 'Exists');
  assert.equal(
    to({ role: 'db', legacy: 'y' }, { app: 'x' }),
    true,
    'DoesNotExist: not selected, not isolated',
  );
  assert.equal(to({ role: 'web' }, { app: 'x' }), true, 'In: not selected');
});

test('union: rules of several policies selecting one pod add up', () => {
  const a = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress: [{ports: [{port: 80}]}]
`;
  const b = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b, namespace: default}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 443}]}, {from: [{ipBlock: {cidr: 9.0.0.0/8}}]}]
`;
  const index = new PolicyIndex(set(a, b));
  const v80 = evaluateConnection(index, { src: FRONTEND, dst: DB, protocol: 'TCP', port: 80 });
  assert.equal(v80.allowed, true);
  const v443 = evaluateConnection(index, { src: FRONTEND, dst: DB, protocol: 'TCP', port: 443 });
  assert.deepEqual(
    v443.sides[1]!.allowedBy.map((r) => r.policy),
    ['default/b'],
  );
  const v22 = evaluateConnection(index, { src: FRONTEND, dst: DB, protocol: 'TCP', port: 22 });
  assert.equal(v22.allowed, false);
  assert.deepEqual(v22.sides[1]!.isolatedBy, ['default/a', 'default/b']);
  const fromIp = evaluateConnection(index, {
    src: ip('9.9.9.9'),
    dst: DB,
    protocol: 'UDP',
    port: 22,
  });
  assert.deepEqual(
    fromIp.sides[0]!.allowedBy.map((r) => `${r.policy} ${r.rule}`),
    ['default/b 1'],
  );
});

test('policyTypes default: Ingress, plus Egress when there are egress rules', () => {
  const onlyEgressRules = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: e, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
`;
  const index = new PolicyIndex(set(onlyEgressRules));
  assert.equal(
    evaluateConnection(index, { src: FRONTEND, dst: DB, protocol: 'TCP', port: 1 }).allowed,
    false,
    'ingress isolated',
  );
  assert.equal(
    evaluateConnection(index, { src: DB, dst: ip('10.2.3.4'), protocol: 'TCP', port: 1 }).allowed,
    true,
  );
  assert.equal(
    evaluateConnection(index, { src: DB, dst: ip('11.2.3.4'), protocol: 'TCP', port: 1 }).allowed,
    false,
  );
  const noRules = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: n, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
`;
  const i2 = new PolicyIndex(set(noRules));
  assert.equal(
    evaluateConnection(i2, { src: DB, dst: ip('11.2.3.4'), protocol: 'TCP', port: 1 }).allowed,
    true,
    'egress not isolated',
  );
  assert.equal(
    evaluateConnection(i2, { src: FRONTEND, dst: DB, protocol: 'TCP', port: 1 }).allowed,
    false,
  );
});

test('IPv6 ipBlock with except, IPv4-mapped addresses count as IPv4', () => {
  const pol = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: v6, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8:dead::/48"]}
    - ipBlock: {cidr: 192.0.2.0/24}
`;
  const index = new PolicyIndex(set(pol));
  const to = (a: string) =>
    evaluateConnection(index, { src: DB, dst: ip(a), protocol: 'TCP', port: 1 }).allowed;
  assert.equal(to('2001:db8:1::1'), true);
  assert.equal(to('2001:db8:dead::1'), false);
  assert.equal(to('2001:db9::1'), false);
  assert.equal(to('192.0.2.9'), true);
  const f = flow(
    'egress',
    pod('default', 'db', { role: 'db' }, '10.1.0.9'),
    external('::ffff:192.0.2.9'),
    'TCP',
    1,
  );
  const r = verifyFlows(set(pol), [structuredClone(f)]);
  assert.equal(r.denied, 0);
});

test('flows: a Service is judged by its backends, node ingress allowed, verdict text', () => {
  const pol = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: fe, namespace: demo}
spec:
  podSelector: {matchLabels: {app: frontend}}
  policyTypes: [Ingress, Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: backend}}}]
    ports: [{port: 8080}]
`;
  const fe = pod('demo', 'frontend', { app: 'frontend' }, '10.0.0.1');
  const svc = service('demo', 'backend', '10.96.0.1', 80, [
    { namespace: 'demo', workload: 'backend', labels: { app: 'backend' } },
  ]);
  const svcOther = service('demo', 'api', '10.96.0.2', 80, [
    { namespace: 'demo', workload: 'backend', labels: { app: 'backend' } },
    { namespace: 'demo', workload: 'api', labels: { app: 'api' } },
  ]);
  const noBackends = service('demo', 'gone', '10.96.0.3', 80, []);
  const r = verifyFlows(set(pol), [
    flow('egress', fe, svc, 'TCP', 8080),
    flow('egress', fe, svcOther, 'TCP', 8080),
    flow('egress', fe, noBackends, 'TCP', 8080),
    flow('ingress', fe, node('n1', '192.168.0.1'), 'TCP', 8080),
    flow('ingress', fe, pod('demo', 'backend', { app: 'backend' }, '10.0.0.2'), 'TCP', 8080),
  ]);
  assert.deepEqual(
    r.results.map((x) => x.allowed),
    [true, false, false, true, false],
  );
  assert.equal(r.denied, 3);
  assert.equal(
    verdictText(r.results[0]!),
    'egress: demo/fe egress[0]; ingress: demo/backend is not isolated for Ingress',
  );
  assert.match(
    verdictText(r.results[1]!),
    /isolated for Egress by demo\/fe and no rule allows demo\/api on TCP\/8080/,
  );
  assert.match(verdictText(r.results[2]!), /no known backends/);
  assert.equal(
    verdictText(r.results[3]!),
    'ingress: connections from a node to its pods are always allowed',
  );
  assert.match(
    verdictText(r.results[4]!),
    /^ingress: demo\/frontend is isolated for Ingress by demo\/fe/,
  );
});

test('policy files: validation errors name the document and field', () => {
  const bad = (text: string) => {
    try {
      parsePolicies(text, 'p.yaml');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      return e.message;
    }
    throw new Error('no error');
  };
  const head = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n';
  assert.equal(bad(head), 'p.yaml: document 1 (NetworkPolicy x): spec: required');
  assert.equal(
    bad(
      head +
        'spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]}',
    ),
    'p.yaml: document 1 (NetworkPolicy x): spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of 10.0.0.0/8',
  );
  assert.equal(
    bad(head + 'spec: {podSelector: {}, egress: [{ports: [{port: http, endPort: 90}]}]}'),
    'p.yaml: document 1 (NetworkPolicy x): spec.egress[0].ports[0].endPort: needs a numeric port',
  );
  assert.equal(
    bad(head + 'spec: {podSelector: {matchExpressions: [{key: a, operator: In}]}}'),
    'p.yaml: document 1 (NetworkPolicy x): spec.podSelector.matchExpressions[0].values: must be non-empty for In',
  );
  assert.equal(
    bad(
      '---\n' +
        head +
        'spec: {podSelector: {}}\n---\n' +
        head +
        'spec: {podSelector: {}, ingress: [{from: [{}]}]}',
    ),
    'p.yaml: document 2 (NetworkPolicy x): spec.ingress[0].from[0]: needs podSelector, namespaceSelector or ipBlock',
  );
  // other kinds are skipped; Lists are unpacked; namespace defaults to "default"
  const s = parsePolicies(
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicyList\nitems:\n- metadata: {name: a}\n  spec: {podSelector: {}}\n',
  );
  assert.deepEqual(
    s.policies.map((x) => `${x.metadata.namespace}/${x.metadata.name}`),
    ['default/a'],
  );
});
