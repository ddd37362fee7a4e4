// deploy / undeploy against a real kube-apiserver (scripts/k8s/up.sh): the cluster of
// KGADGET_KUBECONFIG, else a running one in $KGADGET_CLUSTER_DIR (/tmp/kgadget-cluster), else one
// started here (as root) and stopped afterwards:
//
//   node scripts/run-tests.mjs integration k8s/deploy
//
// Uses namespace gadget and the cluster-scoped gadget ClusterRole(Binding): do not run it at the
// same time as another test that deploys kubectl-gadget to the same cluster.

import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { ensureCluster, type ClusterHandle } from './harness-fake-kubelet.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = join(root, 'bin', 'run.js');
const version = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
).version;
let kubeconfig = process.env.KGADGET_KUBECONFIG ?? '';
let cluster: ClusterHandle | undefined;
const kubectlBin =
  process.env.KUBECTL ??
  (existsSync('/usr/lib/google-cloud-sdk/bin/kubectl.1.33')
    ? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'
    : 'kubectl');

type Result = { status: number | null; stdout: string; stderr: string };

function run(
  cmd: string,
  args: string[],
  input?: string,
  timeoutMs = 150_000,
  extraEnv: NodeJS.ProcessEnv = {},
): Result {
  const env = { ...process.env, ...extraEnv };
  delete env.KUBECONFIG;
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: 'utf8',
    input,
    env,
    timeout: timeoutMs,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cli = (...args: string[]): Result => run(process.execPath, [bin, ...args]);
const gadget = (...args: string[]): Result => cli(...args, '--kubeconfig', kubeconfig);
const kubectl = (args: string[], input?: string): Result =>
  run(kubectlBin, ['--kubeconfig', kubeconfig, ...args], input, 60_000);

function ok(r: Result, what: string): string {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function oneErrorLine(r: Result): string {
  assert.equal(r.status, 1, `exit 1 expected, got ${r.status}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('Hint: '));
  assert.equal(lines.length, 1, `one error line, got:\n${r.stderr}`);
  return lines[0]!;
}

function getJson<T>(args: string[]): T | undefined {
  const r = kubectl(['get', ...args, '-o', 'json', '--ignore-not-found']);
  ok(r, `kubectl get ${args.join(' ')}`);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as T) : undefined;
}

interface Obj {
  metadata: { uid: string; labels?: Record<string, string>; resourceVersion: string };
  spec?: { template: { spec: { containers: Array<{ image: string; imagePullPolicy: string }> } } };
}

function skipReason(): string | undefined {
  const how = 'start one with eval "$(scripts/k8s/up.sh)" and set KGADGET_KUBECONFIG=$KUBECONFIG';
  if (!kubeconfig) {
    // started in before()
    return process.getuid?.() === 0
      ? undefined
      : `no cluster: KGADGET_KUBECONFIG is not set, and starting one needs root (${how})`;
  }
  if (!existsSync(kubeconfig)) return `no cluster: ${kubeconfig} does not exist (${how})`;
  const r = run(
    kubectlBin,
    ['--kubeconfig', kubeconfig, 'get', '--raw', '/readyz'],
    undefined,
    15_000,
  );
  if (r.status !== 0) return `no cluster: ${kubeconfig} is not reachable (${r.stderr.trim()})`;
  return undefined;
}

const skip = skipReason();
const other = 'localhost/kubectl-gadget:e2e-other';
if (skip) process.stderr.write(`e2e/k8s/deploy: skipped: ${skip}\n`);

describe('kubectl gadget deploy / undeploy on a real API server', { skip }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kgadget-e2e-deploy-'));
  const nobody = 'kgadget-e2e-nobody';

  before(
    () => {
      if (!kubeconfig) {
        cluster = ensureCluster((m) => process.stderr.write(`e2e/k8s/deploy: ${m}\n`));
        kubeconfig = cluster.kubeconfig;
      }
      // leftovers of an earlier run
      ok(gadget('undeploy', '--wait', '--timeout', '90'), 'undeploy leftovers');
    },
    { timeout: 20 * 60_000 },
  );

  after(() => {
    gadget('undeploy', '--wait', '--timeout', '90');
    kubectl(['delete', 'serviceaccount', nobody, '-n', 'default', '--ignore-not-found']);
    rmSync(tmp, { recursive: true, force: true });
    cluster?.close();
  });

  test('deploy creates every object with the managed-by label and the default image', () => {
    const out = ok(gadget('deploy'), 'deploy');
    for (const o of [
      'namespace/gadget',
      'serviceaccount/gadget',
      'clusterrole/gadget',
      'clusterrolebinding/gadget',
      'daemonset/gadget',
    ]) {
      assert.match(out, new RegExp(`^${o} created$`, 'm'));
    }
    const ds = getJson<Obj>(['daemonset', 'gadget', '-n', 'gadget'])!;
    assert.equal(
      ds.spec!.template.spec.containers[0]!.image,
      `ghcr.io/kubectl-gadget/kubectl-gadget:${version}`,
    );
    for (const args of [
      ['namespace', 'gadget'],
      ['serviceaccount', 'gadget', '-n', 'gadget'],
      ['clusterrole', 'gadget'],
      ['clusterrolebinding', 'gadget'],
      ['daemonset', 'gadget', '-n', 'gadget'],
    ]) {
      const o = getJson<Obj>(args);
      assert.ok(o, `${args.join(' ')} exists`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'kubectl-gadget');
    }
  });

  test('deploy --print-only | kubectl apply --dry-run=server -f - passes', () => {
    // the namespace exists now: a server dry run cannot create namespaced objects in a
    // namespace it only pretends to create
    const yaml = ok(cli('deploy', '--print-only'), 'deploy --print-only');
    const r = kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
    ok(r, 'kubectl apply --dry-run=server');
    assert.match(r.stdout, /daemonset\.apps\/gadget .*\(server dry run\)/);
  });

  test('a second deploy changes nothing; deploy --image upgrades the DaemonSet in place', () => {
    const before = getJson<Obj>(['daemonset', 'gadget', '-n', 'gadget'])!;
    const same = ok(gadget('deploy'), 'deploy again');
    assert.match(same, /^daemonset\/gadget unchanged$/m);
    assert.match(same, /^namespace\/gadget unchanged$/m);

    const out = ok(
      gadget('deploy', '--image', other, '--image-pull-policy', 'Never'),
      'deploy --image',
    );
    assert.match(out, /^daemonset\/gadget configured$/m);
    assert.match(
      out,
      new RegExp(
        `^image: ghcr\\.io/kubectl-gadget/kubectl-gadget:${version.replace(/\./g, '\\.')} -> ${other}$`,
        'm',
      ),
    );
    const afterDs = getJson<Obj>(['daemonset', 'gadget', '-n', 'gadget'])!;
    assert.equal(afterDs.metadata.uid, before.metadata.uid, 'same object, upgraded in place');
    assert.equal(afterDs.spec!.template.spec.containers[0]!.image, other);
    assert.equal(afterDs.spec!.template.spec.containers[0]!.imagePullPolicy, 'Never');
    // one field manager: kubectl-gadget (server-side apply)
    const managers = kubectl([
      'get',
      'daemonset',
      'gadget',
      '-n',
      'gadget',
      '--show-managed-fields',
      '-o',
      'yaml',
    ]);
    const managed = (
      parse(ok(managers, 'managed fields')) as {
        metadata: { managedFields: Array<{ manager: string; operation: string }> };
      }
    ).metadata.managedFields.filter((f) => f.operation === 'Apply');
    assert.deepEqual(
      managed.map((f) => f.manager),
      ['kubectl-gadget'],
    );
  });

  test('an image rebuilt under the same tag: its digest in the pod template rolls the pods', () => {
    // what image/build-local.sh writes beside its archive; deploy reads it for the same tag
    const archive = join(tmp, 'kubectl-gadget.oci.tar');
    const image = 'localhost/kubectl-gadget:e2e-rebuilt';
    const built = (digit: string, buildId: string): void =>
      writeFileSync(
        `${archive}.json`,
        JSON.stringify({
          image,
          digest: `sha256:${digit.repeat(64)}`,
          id: `sha256:${'9'.repeat(64)}`,
          buildId,
        }),
      );
    const deploy = (): string =>
      ok(
        run(
          process.execPath,
          [
            bin,
            'deploy',
            '--image',
            image,
            '--image-pull-policy',
            'Never',
            '--kubeconfig',
            kubeconfig,
          ],
          undefined,
          150_000,
          { KGADGET_IMAGE_ARCHIVE: archive },
        ),
        'deploy of a local build',
      );
    type Ds = {
      metadata: { generation: number };
      spec: { template: { metadata: { annotations?: Record<string, string> } } };
    };
    const ds = (): Ds => getJson<Ds>(['daemonset', 'gadget', '-n', 'gadget'])!;
    const annotation = (): string | undefined =>
      ds().spec.template.metadata.annotations?.['kubectl-gadget.io/image-digest'];

    built('a', 'abc1234.dirty.20260101T000000Z');
    const first = deploy();
    assert.match(first, /^daemonset\/gadget configured$/m);
    assert.match(
      first,
      new RegExp(
        `^image: \\S+ -> ${image} \\(sha256:aaaaaaaaaaaa, build abc1234\\.dirty\\.20260101T000000Z\\)$`,
        'm',
      ),
    );
    assert.equal(annotation(), `sha256:${'a'.repeat(64)}`);
    const gen = ds().metadata.generation;
    // the same build again: nothing to roll
    assert.match(deploy(), /^daemonset\/gadget unchanged$/m);
    assert.equal(ds().metadata.generation, gen);

    // rebuilt: same tag, new content
    built('b', 'abc1234.dirty.20260101T000100Z');
    const second = deploy();
    assert.match(second, /^daemonset\/gadget configured$/m);
    assert.match(
      second,
      new RegExp(
        `^image: ${image}: content changed \\(sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb, build abc1234\\.dirty\\.20260101T000100Z\\), the pods roll$`,
        'm',
      ),
    );
    assert.equal(annotation(), `sha256:${'b'.repeat(64)}`);
    assert.equal(ds().metadata.generation, gen + 1, 'a new pod template: the DaemonSet rolls');

    // a registry tag deployed again: nothing known about its content, and deploy says so
    const registry = ok(gadget('deploy', '--image', other), 'deploy of a registry tag');
    assert.equal(annotation(), undefined, 'the annotation goes with the local build');
    const again = ok(gadget('deploy', '--image', other), 'deploy of the same registry tag');
    assert.match(registry, /^daemonset\/gadget configured$/m);
    assert.match(again, /^daemonset\/gadget unchanged$/m);
    assert.match(
      again,
      /^image: \S+ \(the same tag as before: an image pushed again under it is not rolled out; use a new tag or IMAGE@sha256:\.\.\., or kubectl -n gadget rollout restart daemonset\/gadget\)$/m,
    );
  });

  test('deploy --wait on a cluster without nodes returns at once', (t) => {
    const nodes = ok(kubectl(['get', 'nodes', '-o', 'name']), 'kubectl get nodes').trim();
    if (nodes) {
      t.skip(
        'the cluster has nodes: the rollout needs the image on them (covered by the gadget e2e tests)',
      );
      return;
    }
    const out = ok(
      gadget(
        'deploy',
        '--image',
        'localhost/kubectl-gadget:e2e-other',
        '--wait',
        '--timeout',
        '60',
      ),
      'deploy --wait',
    );
    assert.match(out, /no node runs a gadget pod \(0 scheduled\)/);
  });

  test('RBAC denied: the missing permission in one line', () => {
    ok(kubectl(['create', 'serviceaccount', nobody, '-n', 'default']), 'create serviceaccount');
    const token = ok(kubectl(['create', 'token', nobody, '-n', 'default']), 'create token').trim();
    const admin = parse(readFileSync(kubeconfig, 'utf8')) as {
      'current-context': string;
      contexts: Array<{ name: string; context: { cluster: string } }>;
      clusters: unknown[];
    };
    const cluster = admin.contexts.find((c) => c.name === admin['current-context'])!.context
      .cluster;
    const kc = join(tmp, 'nobody.kubeconfig');
    writeFileSync(
      kc,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: admin.clusters,
        users: [{ name: nobody, user: { token } }],
        contexts: [{ name: 'nobody', context: { cluster, user: nobody } }],
        'current-context': 'nobody',
      }),
    );
    const r = cli('deploy', '--kubeconfig', kc);
    assert.equal(
      oneErrorLine(r),
      `Error: permission denied: user "system:serviceaccount:default:${nobody}" cannot get namespaces "gadget"`,
    );
    assert.match(r.stderr, /^Hint: .*kubectl auth can-i get namespaces\/gadget$/m);
    const u = cli('undeploy', '--kubeconfig', kc);
    assert.match(
      oneErrorLine(u),
      /^Error: permission denied: user ".*" cannot list clusterrolebindings\.rbac\.authorization\.k8s\.io at cluster scope$/,
    );
  });

  test('unreachable cluster and missing kubeconfig: one line each', () => {
    const cfg = parse(readFileSync(kubeconfig, 'utf8')) as {
      'current-context': string;
      clusters: Array<{ cluster: { server: string } }>;
    };
    for (const c of cfg.clusters) c.cluster.server = 'https://127.0.0.1:1';
    const kc = join(tmp, 'unreachable.kubeconfig');
    writeFileSync(kc, stringify(cfg));
    assert.equal(
      oneErrorLine(cli('deploy', '--kubeconfig', kc)),
      `Error: cannot reach cluster "${cfg['current-context']}" at https://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1`,
    );
    const r = run(process.execPath, [bin, 'undeploy'], undefined);
    if (!existsSync(join(process.env.HOME ?? '/root', '.kube', 'config'))) {
      assert.equal(
        oneErrorLine(r),
        'Error: no kubeconfig found (checked $KUBECONFIG, ~/.kube/config): set --kubeconfig',
      );
    }
  });

  test('deploy right after undeploy waits for the old namespace to go', () => {
    ok(gadget('undeploy'), 'undeploy without --wait');
    const out = ok(gadget('deploy', '--timeout', '90'), 'deploy after undeploy');
    assert.match(out, /^daemonset\/gadget created$/m);
    assert.ok(getJson<Obj>(['daemonset', 'gadget', '-n', 'gadget']));
  });

  test('undeploy --wait leaves no namespace, ClusterRole or binding behind', () => {
    const out = ok(gadget('undeploy', '--wait', '--timeout', '90'), 'undeploy --wait');
    assert.match(out, /^clusterrolebinding\/gadget deleted$/m);
    assert.match(out, /^clusterrole\/gadget deleted$/m);
    assert.match(out, /^namespace\/gadget deleted$/m);
    assert.match(out, /^kubectl-gadget undeployed$/m);
    assert.equal(getJson(['namespace', 'gadget']), undefined);
    assert.equal(getJson(['clusterrole', 'gadget']), undefined);
    assert.equal(getJson(['clusterrolebinding', 'gadget']), undefined);
    const left = kubectl([
      'get',
      'namespaces,clusterroles,clusterrolebindings',
      '-l',
      'app.kubernetes.io/managed-by=kubectl-gadget',
      '-o',
      'name',
    ]);
    assert.equal(ok(left, 'kubectl get -l managed-by').trim(), '');
    assert.match(ok(gadget('undeploy'), 'undeploy again'), /not deployed: nothing to delete/);
  });
});
