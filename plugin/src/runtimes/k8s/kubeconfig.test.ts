import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { isUserError } from '../../errors.js';
import { loadKubeConfig, NO_KUBECONFIG } from './kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'kgadget-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Ctx {
  name: string;
  cluster: string;
  user: string;
  namespace?: string;
}

function kubeconfig(
  file: string,
  c: { clusters: Array<[string, string]>; users: string[]; contexts: Ctx[]; current?: string },
): string {
  const path = join(dir, file);
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: c.clusters.map(([name, server]) => ({ name, cluster: { server } })),
    users: c.users.map((name) => ({ name, user: { token: `token-${name}` } })),
    contexts: c.contexts.map((x) => ({
      name: x.name,
      context: {
        cluster: x.cluster,
        user: x.user,
        ...(x.namespace ? { namespace: x.namespace } : {}),
      },
    })),
    ...(c.current ? { 'current-context': c.current } : {}),
  };
  writeFileSync(path, stringify(doc));
  return path;
}

const a = kubeconfig('a.yaml', {
  clusters: [['one', 'https://one.example:6443']],
  users: ['alice'],
  contexts: [{ name: 'one', cluster: 'one', user: 'alice', namespace: 'team-a' }],
  current: 'one',
});
const b = kubeconfig('b.yaml', {
  clusters: [
    ['one', 'https://SHADOWED.example:6443'],
    ['two', 'https://two.example:6443'],
  ],
  users: ['alice', 'bob'],
  contexts: [
    { name: 'one', cluster: 'two', user: 'bob' },
    { name: 'two', cluster: 'two', user: 'bob' },
  ],
  current: 'two',
});
const noCurrent = kubeconfig('nocurrent.yaml', {
  clusters: [['x', 'https://x.example']],
  users: ['u'],
  contexts: [{ name: 'x', cluster: 'x', user: 'u' }],
});
const home = join(dir, 'home');
mkdirSync(join(home, '.kube'), { recursive: true });

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    return e.reason;
  }
  throw new Error('no error');
}

test('--kubeconfig wins over $KUBECONFIG; context namespace is the default namespace', async () => {
  const t = await loadKubeConfig({ kubeconfig: a }, { env: { KUBECONFIG: b }, home });
  assert.equal(t.context, 'one');
  assert.equal(t.server, 'https://one.example:6443');
  assert.equal(t.namespace, 'team-a');
  assert.deepEqual(t.files, [a]);
  assert.equal(t.kc.getCurrentContext(), 'one');
  assert.equal(t.kc.getCurrentUser()?.name, 'alice');
});

test('$KUBECONFIG with several paths merges like kubectl: first definition and current-context win', async () => {
  const missing = join(dir, 'missing.yaml');
  const t = await loadKubeConfig(
    {},
    { env: { KUBECONFIG: [missing, a, '', b].join(delimiter) }, home },
  );
  assert.deepEqual(t.files, [a, b]);
  assert.equal(t.context, 'one');
  // cluster "one" and context "one" come from a.yaml, not b.yaml's later definitions
  assert.equal(t.server, 'https://one.example:6443');
  assert.deepEqual(
    t.kc.getContexts().map((c) => c.name),
    ['one', 'two'],
  );
  const two = await loadKubeConfig(
    { context: 'two' },
    { env: { KUBECONFIG: [a, b].join(delimiter) }, home },
  );
  assert.equal(two.server, 'https://two.example:6443');
  assert.equal(two.namespace, 'default');
  assert.equal(two.kc.getCurrentUser()?.name, 'bob');
  // current-context from the second file when the first has none
  const t2 = await loadKubeConfig(
    {},
    { env: { KUBECONFIG: [noCurrent, b].join(delimiter) }, home },
  );
  assert.equal(t2.context, 'two');
});

test('~/.kube/config when neither --kubeconfig nor $KUBECONFIG is set', async () => {
  const h = join(dir, 'home2');
  mkdirSync(join(h, '.kube'), { recursive: true });
  writeFileSync(
    join(h, '.kube', 'config'),
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://home.example' } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u', namespace: 'ns1' } }],
      'current-context': 'c',
    }),
  );
  const t = await loadKubeConfig({}, { env: {}, home: h });
  assert.equal(t.server, 'https://home.example');
  assert.equal(t.namespace, 'ns1');
});

test('no kubeconfig: one line naming what was checked', async () => {
  assert.equal(await reason(loadKubeConfig({}, { env: {}, home })), NO_KUBECONFIG);
  assert.equal(
    NO_KUBECONFIG,
    'no kubeconfig found (checked $KUBECONFIG, ~/.kube/config): set --kubeconfig',
  );
  assert.match(
    await reason(loadKubeConfig({}, { env: { KUBECONFIG: join(dir, 'nope') }, home })),
    /^no kubeconfig found: none of the files in \$KUBECONFIG exists/,
  );
  assert.equal(
    await reason(loadKubeConfig({ kubeconfig: join(dir, 'nope') }, { env: {}, home })),
    `kubeconfig "${join(dir, 'nope')}" not found (--kubeconfig)`,
  );
});

test('bad context, missing current context, dangling references, invalid file', async () => {
  assert.equal(
    await reason(loadKubeConfig({ kubeconfig: a, context: 'nope' }, { env: {}, home })),
    `context "nope" not found in kubeconfig ${a}`,
  );
  assert.equal(
    await reason(loadKubeConfig({ kubeconfig: noCurrent }, { env: {}, home })),
    `kubeconfig ${noCurrent} has no current context`,
  );
  const dangling = kubeconfig('dangling.yaml', {
    clusters: [],
    users: ['u'],
    contexts: [{ name: 'd', cluster: 'gone', user: 'u' }],
    current: 'd',
  });
  assert.match(
    await reason(loadKubeConfig({ kubeconfig: dangling }, { env: {}, home })),
    /refers to cluster "gone"/,
  );
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'clusters: [\n');
  assert.match(
    await reason(loadKubeConfig({ kubeconfig: broken }, { env: {}, home })),
    /^invalid kubeconfig /,
  );
});

test('in-cluster service account when there is no kubeconfig file', async () => {
  const root = join(dir, 'root');
  const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), 'tok');
  writeFileSync(join(sa, 'ca.crt'), '');
  writeFileSync(join(sa, 'namespace'), 'gadget\n');
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const t = await loadKubeConfig({}, { env, home, rootPrefix: root });
  assert.equal(t.inCluster, true);
  assert.equal(t.server, 'https://10.96.0.1:443');
  assert.equal(t.namespace, 'gadget');
  // without the service account host variable: the usual error
  assert.equal(
    await reason(loadKubeConfig({}, { env: {}, home, rootPrefix: root })),
    NO_KUBECONFIG,
  );
});
