// advise network-policy under a real enforcer: kube-router v2.1.0's network policy controller on
// the local node (scripts/k8s/up.sh --node --netpol; a test oracle, never shipped).
//
//   1. monitor -> report -> kubectl apply, with kube-router enforcing;
//   2. every observed flow still succeeds, probed from its pod (N of N; the kubelet's probes are
//      node traffic, which kube-router always accepts: left out);
//   3. what was not observed is refused (M of M), each shown to succeed before the policies: a
//      new pod without the app's labels to the backend and the database, the frontend straight to
//      the database, a port the app never used (a listener the test puts there), an address the
//      app never contacted (in the node's test-only external range);
//   4. a matrix of probes (source, destination, port, protocol) under the generated policies and
//      under a hand-written stricter set (named ports, endPort, ipBlock.except): what
//      `verify --from-cluster` says of each, against what kube-router does.
//
//   node scripts/run-tests.mjs integration netpol-enforced
//
// Starts its own cluster in /tmp/kgadget-e2e-node and removes it (unless KGADGET_NODE_KUBECONFIG
// names a running node cluster: kube-router is then added to it and removed afterwards).

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
import { parsePolicies } from '../../plugin/src/services/advise_network_policy/policy.js';
import {
  deleteNamespace,
  deployGadget,
  gadgetRun,
  kubectl,
  kubectlOk,
  ok,
  run,
  skipReason,
  waitFor,
  type Cluster,
} from '../k8s-node/cluster.js';
import {
  DB_NS,
  EXT_HTTP_PORT,
  EXT_IP,
  EXT_IP_OTHER,
  EXT_IP_UNUSED,
  EXT_PORT_IN_RANGE,
  EXT_PORT_PAST_RANGE,
  NS,
  demoFlowSummaries,
  externalDown,
  flowSummary,
  isDemoFlow,
  startDemo,
  strangerPod,
} from './netpol/demo.js';
import {
  applyObjects,
  enforcedClusterDown,
  enforcedClusterUp,
  enforcedPolicyNames,
  enforcerLeftovers,
  rejectedPackets,
} from './netpol/enforcer.js';
import {
  describe as probeText,
  podEnd,
  probeRecord,
  recordKey,
  runProbes,
  strictPolicies,
  type PodEnd,
  type Probe,
  type ProbeResult,
} from './netpol/probes.js';

function why(): string | undefined {
  const base = skipReason();
  if (base) return base;
  if (run('sh', ['-c', 'command -v ipset']).status !== 0)
    return 'ipset not found (apt-get install ipset)';
  return undefined;
}
const skip = why();

let cluster: Cluster | undefined;
let dir = '';
let sink = '';
let flows: FlowRecord[] = [];
let policiesYaml = '';
let generatedNames: string[] = [];
const pods: Record<string, PodEnd> = {};
let observed: Probe[] = [];
let unobserved: Probe[] = [];
let matrix: Probe[] = [];
let round = 0;
const c = (): Cluster => {
  assert.ok(cluster, 'cluster');
  return cluster;
};

async function probe(list: readonly Probe[]): Promise<ProbeResult[]> {
  round++;
  return runProbes(c(), list, sink, `r${round}`);
}

/** Waits until kube-router has installed exactly these policies (by name) in the pods' chains. */
async function waitEnforced(present: readonly string[], absent: readonly string[]): Promise<void> {
  await waitFor(
    () => {
      const names = enforcedPolicyNames();
      return present.every((n) => names.has(n)) && absent.every((n) => !names.has(n));
    },
    60_000,
    `kube-router enforcing [${present.join(', ')}] and not [${absent.join(', ')}]`,
  );
  // one full sync writes every chain in one iptables-restore; give a second one (a pod event
  // of the same moment) time to land
  await new Promise((r) => setTimeout(r, 2000));
}

interface Row {
  probe: string;
  kubeRouter: 'allow' | 'DENY';
  verify: 'allow' | 'DENY';
  why: string;
}

/** verify --from-cluster on the probes' records, against the probes' outcomes. */
function compare(results: ProbeResult[], label: string): Row[] {
  const file = join(dir, `probes-${label}.ndjson`);
  writeFileSync(file, results.map((r) => JSON.stringify(probeRecord(r.probe))).join('\n') + '\n');
  const v = gadgetRun(c(), [
    'advise',
    'network-policy',
    'verify',
    '--input',
    file,
    '--from-cluster',
    '-o',
    'json',
  ]);
  assert.ok(v.status === 0 || v.status === 1, `verify: exit ${v.status}: ${v.stderr}`);
  const verdicts = new Map<string, { allowed: boolean; why: string }>();
  for (const line of v.stdout.split('\n').filter(Boolean)) {
    const o = JSON.parse(line) as { allowed: boolean; why: string; flow: FlowRecord };
    const k = recordKey(o.flow);
    assert.ok(!verdicts.has(k), `one probe per key: ${k}`);
    verdicts.set(k, { allowed: o.allowed, why: o.why });
  }
  return results.map((r) => {
    const vd = verdicts.get(recordKey(probeRecord(r.probe)));
    assert.ok(vd, `verify judged ${probeText(r.probe)}`);
    return {
      probe: probeText(r.probe),
      kubeRouter: r.ok ? 'allow' : 'DENY',
      verify: vd.allowed ? 'allow' : 'DENY',
      why: vd.why,
    };
  });
}

/**
 * On a disagreement: the same probes once more, and kube-router's view, printed to tell a
 * transient state of the enforcer from a difference of semantics. It changes no verdict.
 */
async function diagnose(rows: Row[], results: ProbeResult[]): Promise<void> {
  const bad = results.filter((_, i) => rows[i]!.kubeRouter !== rows[i]!.verify).map((r) => r.probe);
  if (!bad.length) return;
  const again = await probe(bad);
  for (const r of again)
    console.log(`  re-probed: ${probeText(r.probe)}: ${r.ok ? 'allow' : 'DENY'}`);
  console.log(`  policies kube-router enforces: ${[...enforcedPolicyNames()].join(', ')}`);
  const log = run('tail', ['-n', '30', join(c().dir, 'logs', 'kube-router.log')]).stdout;
  console.log(`  kube-router log:\n${log}`);
}

function printMatrix(label: string, rows: Row[]): void {
  const w = Math.max(...rows.map((r) => r.probe.length));
  const lines = rows.map(
    (r) =>
      `  ${r.probe.padEnd(w)}  ${r.kubeRouter.padEnd(5)}  ${r.verify.padEnd(5)}  ${r.kubeRouter === r.verify ? '' : 'DISAGREE  '}${r.why}`,
  );
  const agree = rows.filter((r) => r.kubeRouter === r.verify).length;
  console.log(
    `probe matrix, ${label}: ${agree} of ${rows.length} agree (kube-router ${rows.filter((r) => r.kubeRouter === 'allow').length} allowed, ${rows.filter((r) => r.kubeRouter === 'DENY').length} refused)\n` +
      `  ${'probe'.padEnd(w)}  kube-router  verify  why (verify)\n${lines.join('\n')}`,
  );
}

describe(
  'advise network-policy under kube-router (enforced)',
  { skip, timeout: 40 * 60_000 },
  () => {
    before(
      () => {
        dir = mkdtempSync(join(tmpdir(), 'kgtest-netpol-enf-'));
        sink = join(dir, 'syslog.txt');
        cluster = enforcedClusterUp();
        deployGadget(c());
        startDemo(c(), dir, sink);
      },
      { timeout: 30 * 60_000 },
    );

    after(
      () => {
        externalDown();
        if (!cluster) return;
        if (!cluster.owned) {
          gadgetRun(cluster, ['undeploy', '--wait', '--timeout', '60']);
          for (const ns of [NS, DB_NS]) deleteNamespace(cluster, ns);
        }
        enforcedClusterDown(cluster);
        assert.deepEqual(enforcerLeftovers(), [], 'kube-router left nothing behind');
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
      { timeout: 5 * 60_000 },
    );

    test('monitor: the demo app observed with kube-router running (no policy yet)', () => {
      const file = join(dir, 'flows.ndjson');
      const r = gadgetRun(c(), [
        'advise',
        'network-policy',
        'monitor',
        '-A',
        '--timeout',
        '20',
        '--output',
        file,
      ]);
      ok(r, 'monitor');
      flows = parseFlows(readFileSync(file, 'utf8'), file).filter((f) => isDemoFlow(f));
      assert.deepEqual(flows.map(flowSummary).sort(), demoFlowSummaries());
    });

    test('before the policies: every probe succeeds (no blocked connection is a closed port)', async () => {
      assert.ok(flows.length, 'flows from the monitor test');
      // made after the monitor: none of this was observed
      applyObjects(c(), [strangerPod(), strangerPod('visitor')]);
      ok(
        kubectl(
          c(),
          [
            '-n',
            NS,
            'wait',
            '--for=condition=Ready',
            'pod/stranger',
            'pod/visitor',
            '--timeout=90s',
          ],
          undefined,
          100_000,
        ),
        'stranger Ready',
      );
      pods.frontend = podEnd(c(), NS, 'frontend');
      pods.backend = podEnd(c(), NS, 'backend');
      pods.postgres = podEnd(c(), DB_NS, 'postgres');
      pods.stranger = podEnd(c(), NS, 'stranger');
      pods.visitor = podEnd(c(), NS, 'visitor');
      // a port the app never used, on the backend (busybox httpd goes to the background)
      kubectlOk(c(), [
        '-n',
        NS,
        'exec',
        pods.backend.pod,
        '--',
        'httpd',
        '-p',
        '9090',
        '-h',
        '/tmp',
      ]);
      const { frontend: F, backend: B, postgres: P, stranger: S, visitor: V } = pods;
      const [f, b, p, s, v] = [F!, B!, P!, S!, V!];

      // the observed connections, from the recorded egress flows of pods (node traffic left out)
      observed = flows
        .filter((x) => x.direction === 'egress' && x.local.kind === 'pod' && x.peer.kind !== 'node')
        .map((x, i): Probe => {
          const src = pods[x.local.workload ?? '']!;
          const id = `obs${i}`;
          if (x.peer.kind === 'service' && x.protocol === 'UDP' && x.port === 53)
            return { id, src, dst: { kind: 'dns' } };
          if (x.peer.kind === 'service') {
            const be = pods[x.peer.backends?.[0]?.workload ?? '']!;
            const svc = x.peer.service!;
            return {
              id,
              src,
              dst: { kind: 'pod', end: be, port: x.port },
              via: { ip: x.peer.ip, port: svc.port, namespace: svc.namespace, name: svc.name },
            };
          }
          if (x.protocol === 'UDP')
            return { id, src, dst: { kind: 'syslog', ip: x.peer.ip, port: x.port } };
          return { id, src, dst: { kind: 'external', ip: x.peer.ip, port: x.port } };
        });
      assert.equal(observed.length, 6);
      unobserved = [
        { id: 'new-pod-to-backend', src: s, dst: { kind: 'pod', end: b, port: 8080 } },
        { id: 'new-pod-to-db', src: s, dst: { kind: 'pod', end: p, port: 5432 } },
        { id: 'frontend-to-db', src: f, dst: { kind: 'pod', end: p, port: 5432 } },
        { id: 'unused-port', src: f, dst: { kind: 'pod', end: b, port: 9090 } },
        {
          id: 'unused-address',
          src: f,
          dst: { kind: 'external', ip: EXT_IP_UNUSED, port: EXT_HTTP_PORT },
        },
      ];
      const t = (id: string, src: PodEnd, dst: Probe['dst']): Probe => ({ id, src, dst });
      const ext = (ip: string, port = EXT_HTTP_PORT): Probe['dst'] => ({
        kind: 'external',
        ip,
        port,
      });
      matrix = [
        t('f-b8080', f, { kind: 'pod', end: b, port: 8080 }),
        t('f-b9090', f, { kind: 'pod', end: b, port: 9090 }),
        t('f-p5432', f, { kind: 'pod', end: p, port: 5432 }),
        t('f-s8080', f, { kind: 'pod', end: s, port: 8080 }),
        t('f-ext2', f, ext(EXT_IP)),
        t('f-ext6', f, ext(EXT_IP_UNUSED)),
        // the edges of the stricter set: ipBlock.except, endPort
        t('f-ext3', f, ext(EXT_IP_OTHER)),
        t('f-ext2-in', f, ext(EXT_IP, EXT_PORT_IN_RANGE)),
        t('f-ext2-past', f, ext(EXT_IP, EXT_PORT_PAST_RANGE)),
        t('f-dns', f, { kind: 'dns' }),
        t('b-f8080', b, { kind: 'pod', end: f, port: 8080 }),
        t('b-p5432', b, { kind: 'pod', end: p, port: 5432 }),
        t('b-s8080', b, { kind: 'pod', end: s, port: 8080 }),
        t('b-ext2', b, ext(EXT_IP)),
        t('b-ext6', b, ext(EXT_IP_UNUSED)),
        t('b-dns', b, { kind: 'dns' }),
        t('b-syslog', b, { kind: 'syslog', ip: EXT_IP, port: 5514 }),
        t('s-b8080', s, { kind: 'pod', end: b, port: 8080 }),
        t('s-b9090', s, { kind: 'pod', end: b, port: 9090 }),
        t('s-p5432', s, { kind: 'pod', end: p, port: 5432 }),
        t('s-f8080', s, { kind: 'pod', end: f, port: 8080 }),
        t('s-ext2', s, ext(EXT_IP)),
        t('s-dns', s, { kind: 'dns' }),
        t('p-b8080', p, { kind: 'pod', end: b, port: 8080 }),
        t('p-f8080', p, { kind: 'pod', end: f, port: 8080 }),
        t('p-ext2', p, ext(EXT_IP)),
        t('p-dns', p, { kind: 'dns' }),
        // a client no policy isolates: only the destination's ingress decides
        t('v-s8080', v, { kind: 'pod', end: s, port: 8080 }),
        t('v-b8080', v, { kind: 'pod', end: b, port: 8080 }),
        t('v-f8080', v, { kind: 'pod', end: f, port: 8080 }),
      ];
      const all = [...observed, ...unobserved, ...matrix];
      const res = await probe(all);
      const failed = res.filter((r) => !r.ok).map((r) => `${r.probe.id}: ${probeText(r.probe)}`);
      assert.deepEqual(failed, [], 'every probe succeeds before any policy');
      console.log(`before the policies: ${res.length} of ${res.length} probes succeed`);
    });

    test('report -> kubectl apply: N of N observed flows still succeed, M of M unobserved refused', async () => {
      assert.ok(observed.length, 'probes from the previous test');
      const file = join(dir, 'ours.ndjson');
      writeFileSync(file, flows.map((f) => JSON.stringify(f)).join('\n') + '\n');
      policiesYaml = ok(
        run(process.execPath, [CLI, 'advise', 'network-policy', 'report', '--input', file]),
        'report',
      );
      generatedNames = parsePolicies(policiesYaml)
        .policies.map((p) => p.metadata.name)
        .sort();
      assert.deepEqual(generatedNames, ['backend-network', 'frontend-network', 'postgres-network']);
      const rejected0 = rejectedPackets();
      kubectlOk(c(), ['apply', '-f', '-'], policiesYaml);
      await waitEnforced(generatedNames, []);

      const obs = await probe(observed);
      const okObs = obs.filter((r) => r.ok);
      // the pods' own records: the egress ends probed above and the ingress ends of the same
      // connections (backend <- frontend, postgres <- backend)
      const records = flows.filter((x) => x.local.kind === 'pod' && x.peer.kind !== 'node').length;
      console.log(
        `enforced by kube-router: ${okObs.length} of ${obs.length} observed connections still succeed ` +
          `(${records} flow records; node traffic left out)`,
      );
      for (const r of obs) console.log(`  ${r.ok ? 'ok     ' : 'FAILED '} ${probeText(r.probe)}`);
      assert.deepEqual(
        obs.filter((r) => !r.ok).map((r) => probeText(r.probe)),
        [],
      );

      const un = await probe(unobserved);
      const refused = un.filter((r) => !r.ok);
      console.log(
        `enforced by kube-router: ${refused.length} of ${un.length} unobserved connections refused`,
      );
      for (const r of un)
        console.log(`  ${r.ok ? 'PASSED ' : 'refused'} ${r.probe.id}: ${probeText(r.probe)}`);
      assert.deepEqual(
        un.filter((r) => r.ok).map((r) => probeText(r.probe)),
        [],
      );
      // refused by kube-router's REJECT rules, not lost some other way
      assert.ok(rejectedPackets() > rejected0, 'kube-router REJECT counters went up');
    });

    test('probe matrix under the generated policies: verify --from-cluster agrees with kube-router', async () => {
      assert.ok(generatedNames.length, 'policies applied by the previous test');
      const results = await probe(matrix);
      const rows = compare(results, 'generated');
      printMatrix('generated policies', rows);
      await diagnose(rows, results);
      assert.deepEqual(
        rows.filter((r) => r.kubeRouter !== r.verify),
        [],
      );
      // the matrix exercises both outcomes
      assert.ok(
        rows.some((r) => r.kubeRouter === 'allow') && rows.some((r) => r.kubeRouter === 'DENY'),
      );
    });

    test('probe matrix under a stricter hand-written set (named ports, endPort, ipBlock.except)', async () => {
      assert.ok(generatedNames.length, 'policies applied by the previous test');
      for (const n of generatedNames) {
        const ns = n === 'postgres-network' ? DB_NS : NS;
        kubectlOk(c(), ['-n', ns, 'delete', 'networkpolicy', n]);
      }
      const strict = strictPolicies();
      applyObjects(c(), strict);
      const names = strict.map((p) => (p as { metadata: { name: string } }).metadata.name);
      await waitEnforced(names, generatedNames);
      const results = await probe(matrix);
      const rows = compare(results, 'strict');
      printMatrix('hand-written stricter policies', rows);
      await diagnose(rows, results);
      assert.deepEqual(
        rows.filter((r) => r.kubeRouter !== r.verify),
        [],
      );
      assert.ok(
        rows.some((r) => r.kubeRouter === 'allow') && rows.some((r) => r.kubeRouter === 'DENY'),
      );
      for (const n of names) {
        const ns = n === 'strict-postgres' ? DB_NS : NS;
        kubectlOk(c(), ['-n', ns, 'delete', 'networkpolicy', n]);
      }
    });
  },
);
