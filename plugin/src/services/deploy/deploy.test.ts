import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { isUserError } from '../../errors.js';
import { connect } from '../../runtimes/k8s/client.js';
import {
  applyResult,
  deploy,
  imageLine,
  localImageRecord,
  namespaceBlocker,
  undeploy,
} from './deploy.js';

const dir = mkdtempSync(join(tmpdir(), 'kgadget-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(c: Buffer | string, _e, cb) {
      chunks.push(c.toString());
      cb();
    },
  });
  return { out, text: () => chunks.join('') };
}

function kubeconfigFor(server: string): string {
  const p = join(dir, `kc-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    p,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'test-ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'test-ctx',
    }),
  );
  return p;
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    return e.reason;
  }
  throw new Error('no error');
}

test('--print-only writes the manifests and contacts nothing (no kubeconfig needed)', async () => {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = join(dir, 'does-not-exist');
  try {
    const s = sink();
    await deploy({
      version: '1.2.3',
      printOnly: true,
      image: 'localhost/kubectl-gadget:dev',
      imagePullPolicy: 'never',
      nodeSelector: 'pool=tracing',
      stdout: s.out,
    });
    const docs = parseAllDocuments(s.text());
    assert.ok(Array.isArray(docs));
    const objs = docs.map(
      (d) =>
        d.toJS() as {
          kind: string;
          spec?: {
            template: { spec: { containers: Array<Record<string, string>>; nodeSelector: object } };
          };
        },
    );
    assert.deepEqual(
      objs.map((o) => o.kind),
      ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet'],
    );
    const podSpec = objs[4]!.spec!.template.spec;
    assert.equal(podSpec.containers[0]!.image, 'localhost/kubectl-gadget:dev');
    assert.equal(podSpec.containers[0]!.imagePullPolicy, 'Never');
    assert.deepEqual(podSpec.nodeSelector, { 'kubernetes.io/os': 'linux', pool: 'tracing' });

    // default image: the package version
    const d = sink();
    await deploy({ version: '1.2.3', printOnly: true, stdout: d.out });
    assert.match(d.text(), /image: ghcr\.io\/kubectl-gadget\/kubectl-gadget:1\.2\.3\n/);
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

test('flags are checked before the kubeconfig is even looked at', async () => {
  const kc = join(dir, 'nope.yaml');
  assert.match(
    await reasonOf(deploy({ version: '1', nodeSelector: 'bad', kubeconfig: kc })),
    /^invalid --node-selector/,
  );
  assert.match(
    await reasonOf(deploy({ version: '1', imagePullPolicy: 'x', kubeconfig: kc })),
    /^invalid --image-pull-policy/,
  );
  assert.match(
    await reasonOf(deploy({ version: '1', image: 'a b', kubeconfig: kc })),
    /^invalid --image/,
  );
  assert.equal(
    await reasonOf(deploy({ version: '1', redactPatterns: ['(a+)+b'], kubeconfig: kc })),
    'invalid --redact-pattern "(a+)+b": nested quantifier "(a+)+" can take exponential time',
  );
  assert.equal(
    await reasonOf(deploy({ version: '1', redact: false, redactPatterns: ['x'], kubeconfig: kc })),
    '--redact-pattern needs redaction on, but --no-redact turns it off',
  );
  assert.equal(
    await reasonOf(deploy({ version: '1', kubeconfig: kc })),
    `kubeconfig "${kc}" not found (--kubeconfig)`,
  );
});

test('an unreachable cluster: cannot reach cluster "<context>" at <server>: <cause>', async () => {
  // a port nothing listens on
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const kc = kubeconfigFor(`https://127.0.0.1:${port}`);
  assert.equal(
    await reasonOf(deploy({ version: '1', kubeconfig: kc })),
    `cannot reach cluster "test-ctx" at https://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
  );
  assert.match(await reasonOf(undeploy({ kubeconfig: kc })), /^cannot reach cluster "test-ctx"/);
});

test('a server that accepts but never answers: the reachability check gives up', async () => {
  const sockets: Socket[] = [];
  const srv: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    const kc = kubeconfigFor(`https://127.0.0.1:${port}`);
    const started = Date.now();
    const reason = await reasonOf(connect({ kubeconfig: kc }, { connectTimeoutMs: 300 }));
    assert.match(
      reason,
      new RegExp(
        `^cannot reach cluster "test-ctx" at https://127\\.0\\.0\\.1:${port}: no answer in 0\\.3s`,
      ),
    );
    assert.ok(Date.now() - started < 5000);
  } finally {
    for (const s of sockets) s.destroy();
    srv.close();
  }
});

test('apply results and namespace deletion blockers', () => {
  const o = (uid: string, rv: string) => ({ metadata: { uid, resourceVersion: rv } });
  assert.equal(applyResult(undefined, o('a', '1')), 'created');
  assert.equal(applyResult(o('a', '1'), o('a', '1')), 'unchanged');
  assert.equal(applyResult(o('a', '1'), o('a', '2')), 'configured');
  assert.equal(applyResult(o('a', '1'), o('b', '1')), 'created');
  assert.equal(
    namespaceBlocker({
      status: {
        phase: 'Terminating',
        conditions: [
          {
            type: 'NamespaceDeletionDiscoveryFailure',
            status: 'False',
            message: 'All resources successfully discovered',
          },
          {
            type: 'NamespaceContentRemaining',
            status: 'True',
            message: 'Some resources are remaining: pods. has 1 resource instances',
          },
        ],
      },
    }),
    'Some resources are remaining: pods. has 1 resource instances',
  );
  assert.equal(namespaceBlocker(undefined), '');
});

test('a local build record: its digest for its own tag only, and the image line', () => {
  const file = join(dir, 'image.oci.tar.json');
  const digest = `sha256:${'c'.repeat(64)}`;
  const image = 'localhost/kubectl-gadget:dev';
  writeFileSync(
    file,
    JSON.stringify({ image, digest, id: `sha256:${'d'.repeat(64)}`, buildId: 'b1' }),
  );
  assert.deepEqual(localImageRecord(image, file), {
    image,
    digest,
    id: `sha256:${'d'.repeat(64)}`,
    buildId: 'b1',
  });
  // another tag, a digest reference, no file, a broken file, a bad digest: nothing known
  assert.equal(localImageRecord('localhost/kubectl-gadget:other', file), undefined);
  assert.equal(localImageRecord(`localhost/kubectl-gadget@${digest}`, file), undefined);
  assert.equal(localImageRecord(image, join(dir, 'missing.json')), undefined);
  writeFileSync(file, '{"image":');
  assert.equal(localImageRecord(image, file), undefined);
  writeFileSync(file, JSON.stringify({ image, digest: 'sha256:short' }));
  assert.equal(localImageRecord(image, file), undefined);

  const ds = (img: string, d?: string) => ({
    spec: {
      selector: {},
      template: {
        metadata: d ? { annotations: { 'kubectl-gadget.io/image-digest': d } } : {},
        spec: { containers: [{ name: 'gadget', image: img }] },
      },
    },
  });
  const rec = { image, digest, id: '', buildId: 'b2' };
  const old = `sha256:${'a'.repeat(64)}`;
  assert.equal(
    imageLine(undefined, ds(image, digest), rec),
    `image: ${image} (sha256:cccccccccccc, build b2)\n`,
  );
  assert.equal(
    imageLine(ds(image, old), ds(image, digest), rec),
    `image: ${image}: content changed (sha256:aaaaaaaaaaaa -> sha256:cccccccccccc, build b2), the pods roll\n`,
  );
  assert.equal(
    imageLine(ds(image, digest), ds(image, digest), rec),
    `image: ${image} (sha256:cccccccccccc, build b2)\n`,
  );
  assert.equal(imageLine(ds('a:1'), ds('a:2'), undefined), 'image: a:1 -> a:2\n');
  assert.match(
    imageLine(ds('a:1'), ds('a:1'), undefined),
    /^image: a:1 \(the same tag as before: /,
  );
  assert.equal(imageLine(ds(`a@${old}`), ds(`a@${old}`), undefined), `image: a@${old}\n`);
});
