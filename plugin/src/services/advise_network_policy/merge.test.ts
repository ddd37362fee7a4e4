// report merged with existing policies (merge.ts): exact diffs, objects and notes for each case.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoFlows, flow, pod } from './fixtures.js';
import type { FlowRecord } from './flow.js';
import { mergeReport } from './merge.js';
import { parsePolicies, type NetworkPolicy } from './policy.js';
import { buildReport } from './report.js';
import { verifyFlows } from './verify.js';

const web = pod('shop', 'web', { app: 'web', tier: 'front' }, '10.244.1.10');
const admin = pod('shop', 'admin', { app: 'admin', tier: 'front' }, '10.244.1.11');
const api = pod('shop', 'api', { app: 'api' }, '10.244.1.20');
/** web -> api on a port, seen at both ends */
const both = (port: number): FlowRecord[] => [
  flow('egress', web, api, 'TCP', port),
  flow('ingress', api, web, 'TCP', port),
];
const set = (policies: NetworkPolicy[]) => ({ policies, namespaces: [] });
const names = (m: ReturnType<typeof mergeReport>): string[] =>
  m.changes.map(
    (c) => `${c.before ? 'changed' : 'new'} ${c.after.metadata.namespace}/${c.after.metadata.name}`,
  );

/** The merged set: existing policies replaced by their changed objects, plus the new ones. */
function applied(existing: NetworkPolicy[], m: ReturnType<typeof mergeReport>): NetworkPolicy[] {
  const byId = new Map(
    m.changes.map((c) => [`${c.after.metadata.namespace}/${c.after.metadata.name}`, c.after]),
  );
  const out = existing.map((p) => byId.get(`${p.metadata.namespace}/${p.metadata.name}`) ?? p);
  for (const c of m.changes) if (!c.before) out.push(c.after);
  return out;
}

// add
const ADD_DIFF = `diff -u -N live/networking.k8s.io.v1.NetworkPolicy.shop.api-network merged/networking.k8s.io.v1.NetworkPolicy.shop.api-network
--- live/networking.k8s.io.v1.NetworkPolicy.shop.api-network
+++ merged/networking.k8s.io.v1.NetworkPolicy.shop.api-network
@@ -22,4 +22,15 @@
       ports:
         - protocol: TCP
           port: 8080
+    - from:
+        - podSelector:
+            matchLabels:
+              app: web
+              tier: front
+          namespaceSelector:
+            matchLabels:
+              kubernetes.io/metadata.name: shop
+      ports:
+        - protocol: TCP
+          port: 9090
   egress: []
diff -u -N live/networking.k8s.io.v1.NetworkPolicy.shop.web-network merged/networking.k8s.io.v1.NetworkPolicy.shop.web-network
--- live/networking.k8s.io.v1.NetworkPolicy.shop.web-network
+++ merged/networking.k8s.io.v1.NetworkPolicy.shop.web-network
@@ -23,3 +23,13 @@
       ports:
         - protocol: TCP
           port: 8080
+    - to:
+        - podSelector:
+            matchLabels:
+              app: api
+          namespaceSelector:
+            matchLabels:
+              kubernetes.io/metadata.name: shop
+      ports:
+        - protocol: TCP
+          port: 9090
`;

// new
const NEW_DIFF = `diff -u -N live/networking.k8s.io.v1.NetworkPolicy.shop.api-network merged/networking.k8s.io.v1.NetworkPolicy.shop.api-network
--- live/networking.k8s.io.v1.NetworkPolicy.shop.api-network
+++ merged/networking.k8s.io.v1.NetworkPolicy.shop.api-network
@@ -0,0 +1,27 @@
+apiVersion: networking.k8s.io/v1
+kind: NetworkPolicy
+metadata:
+  name: api-network
+  namespace: shop
+spec:
+  podSelector:
+    matchLabels:
+      app: api
+  policyTypes:
+    - Ingress
+    - Egress
+  ingress:
+    - from:
+        - podSelector:
+            matchLabels:
+              app: web
+              tier: front
+          namespaceSelector:
+            matchLabels:
+              kubernetes.io/metadata.name: shop
+      ports:
+        - protocol: TCP
+          port: 8080
+        - protocol: TCP
+          port: 9090
+  egress: []
`;

// widen
const WIDEN_DIFF = `diff -u -N live/networking.k8s.io.v1.NetworkPolicy.shop.api-network merged/networking.k8s.io.v1.NetworkPolicy.shop.api-network
--- live/networking.k8s.io.v1.NetworkPolicy.shop.api-network
+++ merged/networking.k8s.io.v1.NetworkPolicy.shop.api-network
@@ -0,0 +1,36 @@
+apiVersion: networking.k8s.io/v1
+kind: NetworkPolicy
+metadata:
+  name: api-network
+  namespace: shop
+spec:
+  podSelector:
+    matchLabels:
+      app: api
+  policyTypes:
+    - Ingress
+  ingress:
+    - from:
+        - podSelector:
+            matchLabels:
+              app: admin
+              tier: front
+          namespaceSelector:
+            matchLabels:
+              kubernetes.io/metadata.name: shop
+      ports:
+        - protocol: TCP
+          port: 8080
+    - from:
+        - podSelector:
+            matchLabels:
+              app: web
+              tier: front
+          namespaceSelector:
+            matchLabels:
+              kubernetes.io/metadata.name: shop
+      ports:
+        - protocol: TCP
+          port: 8080
+        - protocol: TCP
+          port: 9090
diff -u -N live/networking.k8s.io.v1.NetworkPolicy.shop.web-network merged/networking.k8s.io.v1.NetworkPolicy.shop.web-network
--- live/networking.k8s.io.v1.NetworkPolicy.shop.web-network
+++ merged/networking.k8s.io.v1.NetworkPolicy.shop.web-network
@@ -0,0 +1,23 @@
+apiVersion: networking.k8s.io/v1
+kind: NetworkPolicy
+metadata:
+  name: web-network
+  namespace: shop
+spec:
+  podSelector:
+    matchLabels:
+      app: web
+      tier: front
+  policyTypes:
+    - Egress
+  egress:
+    - to:
+        - podSelector:
+            matchLabels:
+              app: api
+          namespaceSelector:
+            matchLabels:
+              kubernetes.io/metadata.name: shop
+      ports:
+        - protocol: TCP
+          port: 9090
`;

test('merge: nothing to add when the existing policies are what report writes', () => {
  const flows = demoFlows();
  const existing = buildReport(flows).policies;
  const m = mergeReport(flows, set(existing));
  assert.deepEqual(m.changes, []);
  assert.equal(m.diff, '');
  assert.equal(m.stillDenied, 0);
  assert.equal(
    m.yaml,
    '# Generated by kubectl-gadget advise network-policy report from 13 flow records, merged with 4 existing policies:\n' +
      '# 0 changed policies (rules appended, none removed), 0 new policies.\n' +
      '# node traffic left out: node/node-1 -> demo/backend TCP/8080\n' +
      '# (no change)\n',
  );
});

test('merge: a flow the existing policies deny gets a rule appended to the policy of each end', () => {
  const existing = buildReport(both(8080)).policies;
  const flows = [...both(8080), ...both(9090)];
  const m = mergeReport(flows, set(existing));
  assert.equal(m.diff, ADD_DIFF);
  assert.deepEqual(names(m), ['changed shop/api-network', 'changed shop/web-network']);
  assert.deepEqual(
    m.changes.map((c) => c.added),
    [
      { ingress: 1, egress: 0 },
      { ingress: 0, egress: 1 },
    ],
  );
  // an existing policy is never loosened silently
  assert.deepEqual(m.notes, [
    'shop/api-network gains 1 ingress rule for flows of shop/api it denied; its old rules are kept',
    'shop/web-network gains 1 egress rule for flows of shop/web it denied; its old rules are kept',
  ]);
  // the old rules are still there, first and unchanged
  for (const c of m.changes) {
    for (const dir of ['ingress', 'egress'] as const) {
      const old = c.before!.spec[dir] ?? [];
      assert.deepEqual((c.after.spec[dir] ?? []).slice(0, old.length), old);
    }
  }
  // before: 9090 denied at both ends; after: every flow allowed
  assert.equal(verifyFlows(set(existing), flows).denied, 2);
  assert.equal(verifyFlows(set(applied(existing, m)), flows).denied, 0);
  // the objects file reads back as the changed objects
  assert.deepEqual(
    parsePolicies(m.yaml).policies,
    m.changes.map((c) => c.after),
  );
  assert.match(
    m.yaml,
    /^# 2 changed policies \(rules appended, none removed\), 0 new policies\.$/m,
  );
});

test('merge: a pod no policy isolates gets a new policy of its own', () => {
  const flows = [...both(8080), ...both(9090)];
  const existing = buildReport(flows).policies.filter((p) => p.metadata.name === 'web-network');
  const m = mergeReport(flows, set(existing));
  assert.equal(m.diff, NEW_DIFF);
  assert.deepEqual(names(m), ['new shop/api-network']);
  assert.equal(m.stillDenied, 0);
});

test('merge: flows an existing rule already allows produce no change', () => {
  // broader rules than report would write: any namespace, a port range, every pod of shop
  const existing = parsePolicies(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-anywhere, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{namespaceSelector: {}}]
    ports: [{port: 8000, endPort: 9999}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  egress:
  - to: [{podSelector: {}}]
`).policies;
  const flows = [...both(8080), ...both(9090)];
  assert.equal(verifyFlows(set(existing), flows).denied, 0);
  const m = mergeReport(flows, set(existing));
  assert.deepEqual(m.changes, []);
  assert.equal(m.diff, '');
  assert.deepEqual(m.notes, []);
});

test('merge: a policy that the additions would widen is left alone and named with the reason', () => {
  const existing = parsePolicies(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: front-to-api, namespace: shop}
spec:
  podSelector: {matchLabels: {tier: front}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 8080}]
`).policies;
  // clients only (one node's view): admin and web -> api:8080 (allowed at egress by front-to-api),
  // web -> api:9090 (denied)
  const flows = [
    flow('egress', admin, api, 'TCP', 8080),
    flow('egress', web, api, 'TCP', 8080),
    flow('egress', web, api, 'TCP', 9090),
  ];
  const m = mergeReport(flows, set(existing));
  assert.equal(m.diff, WIDEN_DIFF);
  assert.deepEqual(names(m), ['new shop/api-network', 'new shop/web-network']);
  assert.deepEqual(m.notes, [
    "shop/default-deny isolates shop/api for Ingress but its podSelector {} selects every pod of namespace shop: adding shop/api's 2 ingress rules to it would widen it for them; they are in the new policy shop/api-network",
    "shop/default-deny isolates shop/web for Egress but its podSelector {} selects every pod of namespace shop: adding shop/web's 1 egress rule to it would widen it for them; they are in the new policy shop/web-network",
    "shop/front-to-api isolates shop/web for Egress but its podSelector tier=front also selects shop/admin: adding shop/web's 1 egress rule to it would widen it for them; they are in the new policy shop/web-network",
  ]);
  assert.equal(verifyFlows(set(existing), flows).denied, 3);
  assert.equal(verifyFlows(set(applied(existing, m)), flows).denied, 0);
  assert.equal(m.stillDenied, 0);
});

test('merge: with no existing policy it proposes what report writes', () => {
  const flows = demoFlows();
  const m = mergeReport(flows, set([]));
  assert.deepEqual(
    m.changes.map((c) => c.after),
    buildReport(flows).policies,
  );
});

test('merge: a flow no rule can allow is named as still denied', () => {
  // the Service has no known backends: no rule of report can name its destination
  const svc = {
    kind: 'service' as const,
    ip: '10.96.0.9',
    service: { namespace: 'shop', name: 'gone', port: 80 },
    backends: [],
  };
  const existing = buildReport(both(8080)).policies;
  const m = mergeReport([...both(8080), flow('egress', web, svc, 'TCP', 80)], set(existing));
  assert.deepEqual(m.changes, []);
  assert.equal(m.stillDenied, 1);
  assert.deepEqual(m.notes, [
    'no rule for shop/web -> svc/shop/gone TCP/80: the Service has no known backends',
    'still denied after the merge: shop/web egress svc/shop/gone TCP/80',
  ]);
});

test("merge: the cluster's pods count: a policy that also selects a pod no flow names is not widened", () => {
  const existing = parsePolicies(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}]
`).policies;
  const flows = [flow('ingress', api, web, 'TCP', 9090)];
  const pods: Array<{ namespace: string; name: string; labels: Record<string, string> }> = [
    // the api's own pod (its workload's labels plus a revision label): not another workload
    { namespace: 'shop', name: 'api-7d9-x1', labels: { app: 'api', 'pod-template-hash': '7d9' } },
    { namespace: 'shop', name: 'api-canary-0', labels: { app: 'api', track: 'canary' } },
    { namespace: 'other', name: 'api-0', labels: { app: 'api' } },
  ];
  // without the pods, api-ingress selects only the api among the flows' workloads: appended to
  assert.deepEqual(names(mergeReport(flows, set(existing))), ['changed shop/api-ingress']);
  const m = mergeReport(flows, set(existing), { pods });
  assert.deepEqual(names(m), ['new shop/api-network']);
  assert.deepEqual(m.changes[0]!.after.spec.policyTypes, ['Ingress']);
  assert.deepEqual(m.notes, [
    "shop/api-ingress isolates shop/api for Ingress but its podSelector app=api also selects pod shop/api-canary-0: adding shop/api's 1 ingress rule to it would widen it for them; they are in the new policy shop/api-network",
  ]);
  assert.equal(m.stillDenied, 0);
});
