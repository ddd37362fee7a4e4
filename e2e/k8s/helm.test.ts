// The Helm chart (image/chart/kubectl-gadget) with helm built from the Go module proxy
// (scripts/helm-build.sh):
// - `helm template` with default values renders the objects of `kubectl gadget deploy
//   --print-only`, apart from the labels Helm charts add (needs only the helm binary);
// - on the real node of scripts/k8s/up.sh --node (the harness of e2e/k8s-node): the chart's
//   objects pass `kubectl apply --dry-run=server`, `helm install --wait` brings the gadget pod to
//   Ready, and `helm uninstall` runs the pre-delete hook that removes traceloop's pins (as
//   `undeploy` does), then removes every object. Under the machine-wide cluster lock:
//
//   flock /tmp/kg-cluster.lock node scripts/run-tests.mjs integration k8s/helm

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { liveObjects } from '../helpers/bpf.js';
import { CLI } from '../helpers/cli.js';
import {
  GADGET_IMAGE,
  applyPods,
  clusterUp,
  createNamespace,
  deleteNamespace,
  gadgetPod,
  gadgetRun,
  importGadgetImage,
  kubectl,
  kubectlOk,
  ok,
  run,
  skipReason,
  teardown,
  waitFor,
  type Cluster,
} from '../k8s-node/cluster.js';
import {
  CHART,
  HELM_LABELS,
  helmBin,
  isHook,
  key,
  parseObjects,
  withoutHelm,
  type K8sObject,
} from './helm/chart.js';

const RELEASE = 'kgadget';
const PIN_DIR = '/sys/fs/bpf/kubectl-gadget/traceloop';

let helm = '';
function helmRun(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000) {
  return run(helm, args, { env, timeoutMs });
}

/** deploy --print-only without a local image record (no digest annotation: a registry image). */
function deployObjects(): K8sObject[] {
  const r = spawnSync(process.execPath, [CLI, 'deploy', '--print-only'], {
    encoding: 'utf8',
    env: { ...process.env, KGADGET_IMAGE_ARCHIVE: '/nonexistent/kubectl-gadget.oci.tar' },
  });
  assert.equal(r.status, 0, `deploy --print-only: ${r.stderr}`);
  return parseObjects(r.stdout);
}

describe('helm template with default values = kubectl gadget deploy --print-only', () => {
  before(() => {
    helm = helmBin();
  });

  test('the same objects, apart from the labels Helm adds; hooks aside', () => {
    const rendered = parseObjects(ok(helmRun(['template', RELEASE, CHART]), 'helm template'));
    const objects = rendered.filter((o) => !isHook(o));
    // Helm's labels are there, on every object and on the pod template
    for (const o of objects) {
      for (const l of HELM_LABELS) assert.ok(o.metadata.labels?.[l], `${key(o)} has ${l}`);
    }
    assert.equal(
      objects.find((o) => o.kind === 'Namespace')?.metadata.labels?.[HELM_LABELS[1]],
      RELEASE,
    );
    const chart = new Map(objects.map((o) => [key(o), withoutHelm(o)]));
    const deployed = new Map(deployObjects().map((o) => [key(o), o]));
    assert.deepEqual([...chart.keys()].sort(), [...deployed.keys()].sort());
    for (const [k, o] of deployed) assert.deepEqual(chart.get(k), o, k);
    const ns = chart.get('Namespace//gadget');
    assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
  });

  test('the pre-delete hook: a Job that runs traceloop delete, with its own account', () => {
    const hooks = parseObjects(ok(helmRun(['template', RELEASE, CHART]), 'helm template')).filter(
      isHook,
    );
    assert.deepEqual(hooks.map(key).sort(), [
      'ClusterRole//gadget-cleanup',
      'ClusterRoleBinding//gadget-cleanup',
      'Job/gadget/gadget-cleanup',
      'ServiceAccount/gadget/gadget-cleanup',
    ]);
    for (const h of hooks) assert.equal(h.metadata.annotations?.['helm.sh/hook'], 'pre-delete');
    const job = hooks.find((h) => h.kind === 'Job') as K8sObject & {
      spec: { template: { spec: { containers: Array<{ command: string[]; image: string }> } } };
    };
    const c = job.spec.template.spec.containers[0]!;
    assert.match(
      c.command.join(' '),
      /spawnSync\('\/app\/bin\/run\.js', \['traceloop', 'delete'\]/,
    );
    assert.equal(c.image, 'ghcr.io/kubectl-gadget/kubectl-gadget:0.1.0');
    const off = parseObjects(
      ok(helmRun(['template', RELEASE, CHART, '--set', 'cleanupHook.enabled=false']), 'template'),
    );
    assert.equal(off.filter(isHook).length, 0);
  });

  test('values: image, nodeSelector, tolerations, resources, metrics', () => {
    const objs = parseObjects(
      ok(
        helmRun([
          'template',
          RELEASE,
          CHART,
          '--set',
          'image.repository=registry.example/kg,image.tag=1.2.3,image.pullPolicy=Always',
          '--set',
          'nodeSelector.pool=tracing',
          '--set',
          'tolerations=null',
          '--set',
          'resources.limits.memory=512Mi',
          '--set',
          'metrics.port=9100',
        ]),
        'helm template --set',
      ),
    );
    type Ds = {
      spec: {
        template: {
          metadata: { annotations?: Record<string, string> };
          spec: {
            nodeSelector: Record<string, string>;
            tolerations?: unknown;
            containers: Array<{
              image: string;
              imagePullPolicy: string;
              args: string[];
              ports?: Array<{ name: string; containerPort: number }>;
              resources: unknown;
            }>;
          };
        };
      };
    };
    const ds = objs.find((o) => o.kind === 'DaemonSet') as unknown as Ds;
    const pod = ds.spec.template;
    const c = pod.spec.containers[0]!;
    assert.equal(c.image, 'registry.example/kg:1.2.3');
    assert.equal(c.imagePullPolicy, 'Always');
    assert.deepEqual(pod.spec.nodeSelector, { 'kubernetes.io/os': 'linux', pool: 'tracing' });
    assert.equal(pod.spec.tolerations, undefined);
    assert.deepEqual(c.resources, {
      requests: { cpu: '50m', memory: '96Mi' },
      limits: { memory: '512Mi' },
    });
    assert.deepEqual(c.args.slice(-2), ['--metrics-listen', '0.0.0.0:9100']);
    assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 9100 }]);
    assert.equal(pod.metadata.annotations?.['prometheus.io/port'], '9100');

    const off = parseObjects(
      ok(helmRun(['template', RELEASE, CHART, '--set', 'metrics.enabled=false']), 'template'),
    );
    const ds2 = off.find((o) => o.kind === 'DaemonSet') as unknown as Ds;
    assert.equal(ds2.spec.template.metadata.annotations, undefined);
    assert.ok(!ds2.spec.template.spec.containers[0]!.args.includes('--metrics-listen'));
    assert.equal(ds2.spec.template.spec.containers[0]!.ports, undefined);
  });
});

const skip = skipReason();
if (skip) process.stderr.write(`e2e/k8s/helm (node): skipped: ${skip}\n`);

describe(
  'helm install / uninstall on the local Kubernetes node',
  { skip, timeout: 30 * 60_000 },
  () => {
    let cluster: Cluster | undefined;
    const c = (): Cluster => cluster!;
    const NS = 'kgadget-e2e-helm';
    const [repo, tag] = [
      GADGET_IMAGE.slice(0, GADGET_IMAGE.lastIndexOf(':')),
      GADGET_IMAGE.slice(GADGET_IMAGE.lastIndexOf(':') + 1),
    ];
    const values = ['--set', `image.repository=${repo},image.tag=${tag},image.pullPolicy=Never`];
    const h = (args: string[], timeoutMs = 60_000) =>
      helmRun(
        [...args, '--kubeconfig', c().kubeconfig],
        {
          ...c().env,
          HELM_CACHE_HOME: `${c().dir}/helm/cache`,
          HELM_CONFIG_HOME: `${c().dir}/helm/config`,
          HELM_DATA_HOME: `${c().dir}/helm/data`,
        },
        timeoutMs,
      );

    const jobLog = (): string => {
      const r = kubectl(c(), ['-n', 'gadget', 'logs', 'job/gadget-cleanup']);
      return r.stdout + r.stderr;
    };

    before(
      () => {
        helm = helmBin();
        cluster = clusterUp();
        ok(importGadgetImage(c()), 'scripts/k8s/images.sh gadget');
        // leftovers of an earlier run on a reused cluster
        h(['uninstall', RELEASE, '--wait', '--timeout', '120s', '--ignore-not-found'], 180_000);
        gadgetRun(c(), ['undeploy', '--wait', '--timeout', '90']);
        createNamespace(c(), NS);
      },
      { timeout: 25 * 60_000 },
    );

    after(
      () => {
        if (!cluster) return;
        h(['uninstall', RELEASE, '--wait', '--timeout', '120s', '--ignore-not-found'], 180_000);
        deleteNamespace(c(), NS);
        teardown(cluster);
      },
      { timeout: 5 * 60_000 },
    );

    test('helm install --wait: the gadget pod becomes Ready on the node', () => {
      const out = ok(
        h(['install', RELEASE, CHART, ...values, '--wait', '--timeout', '180s'], 240_000),
        'helm install',
      );
      assert.match(out, /STATUS: deployed/);
      const pod = gadgetPod(c());
      assert.ok(pod.pid > 0, 'the daemon runs on the node');
      const ns = JSON.parse(
        kubectlOk(c(), ['get', 'namespace', 'gadget', '-o', 'json']),
      ) as K8sObject;
      assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
      assert.equal(ns.metadata.annotations?.['meta.helm.sh/release-name'], RELEASE);
      // the CLI reaches the Helm-installed daemon
      const v = ok(gadgetRun(c(), ['version']), 'kubectl gadget version');
      assert.match(v, /^Server version: v\S+ \(node kgnode, kernel \S+\)$/m);
    });

    test("the chart's objects pass kubectl apply --dry-run=server", () => {
      // after install: the namespace exists, so its objects (the hooks too) can be checked
      const yaml = ok(h(['template', RELEASE, CHART, ...values]), 'helm template');
      const r = kubectl(c(), ['apply', '--dry-run=server', '-f', '-'], yaml);
      ok(r, 'kubectl apply --dry-run=server');
      const objs = parseObjects(yaml);
      assert.equal(objs.length, 9);
      for (const o of objs) {
        const what = `${o.kind.toLowerCase()}${o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : ''}/${o.metadata.name}`;
        assert.ok(
          r.stdout.includes(`${what} `) && /\(server dry run\)/.test(r.stdout),
          `${what}:\n${r.stdout}`,
        );
      }
    });

    test('helm uninstall: the pre-delete hook removes the traceloop pins, then everything goes', async () => {
      // a recording pinned on the node
      ok(gadgetRun(c(), ['traceloop', 'start', '-n', NS]), 'traceloop start');
      applyPods(c(), NS, [
        { name: 'rec', containers: [{ name: 'main', command: ['sleep', '3600'] }] },
      ]);
      await waitFor(
        () => {
          const r = gadgetRun(c(), ['traceloop', 'list', '-n', NS, '-o', 'json']);
          return (
            r.status === 0 && (JSON.parse(r.stdout) as unknown[]).length > 0 && existsSync(PIN_DIR)
          );
        },
        90_000,
        'a recording of pod rec pinned',
      );
      const u = h(['uninstall', RELEASE, '--wait', '--timeout', '180s'], 240_000);
      // a failed hook Job stays (delete policy hook-succeeded): its log says why
      const log = u.status === 0 ? '' : jobLog();
      const out = ok(u, `helm uninstall${log ? `\nhook log: ${log}` : ''}`);
      assert.match(out, /release "kgadget" uninstalled/);
      assert.ok(!existsSync(PIN_DIR), `${PIN_DIR} removed by the hook`);
      const live = liveObjects();
      assert.ok(!live.progs.some((p) => p.name?.startsWith('tl_')), 'no traceloop program left');
      assert.ok(!live.maps.some((m) => m.name?.startsWith('tl_')), 'no traceloop map left');
      await waitFor(
        () => kubectl(c(), ['get', 'namespace', 'gadget', '-o', 'name']).status !== 0,
        120_000,
        'namespace gadget gone',
      );
      const left = kubectlOk(c(), [
        'get',
        'clusterroles,clusterrolebindings,namespaces',
        '-l',
        'app.kubernetes.io/managed-by=kubectl-gadget',
        '-o',
        'name',
      ]);
      assert.equal(left.trim(), '', 'nothing of the chart left (hooks included)');
      assert.equal(ok(h(['list', '-A', '-q']), 'helm list').trim(), '', 'no release left');
      const st = h(['status', RELEASE]);
      assert.notEqual(st.status, 0);
      assert.match(st.stderr, /release: not found/);
    });
  },
);
