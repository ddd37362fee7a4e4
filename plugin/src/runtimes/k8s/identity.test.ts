// The CLI's identity for the gadget daemons, from kubeconfig users, checked by the daemon's own
// authorizer: a token is passed as is, a client certificate as a proof (never its key).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubernetesAuthorizer, type ReviewApi } from '../../../../daemon/src/k8s/authz.js';
import { makeTestCa, type TestCa } from '../../../../daemon/src/k8s/test-support/certs.js';
import type { RunRequest } from '#gadgets/framework/runtime.js';
import { callerIdentity } from './identity.js';

async function kubeconfig(user: Record<string, unknown>): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: true }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

const req: RunRequest = {
  gadget: 'trace_exec',
  params: {},
  timeoutSeconds: 0,
  filter: {
    containerNames: [],
    containerIds: [],
    host: false,
    namespaces: ['shop'],
    pods: [],
    labelSelector: '',
    podsOnly: true,
  },
};

describe('callerIdentity', () => {
  let ca: TestCa;
  before(() => (ca = makeTestCa()));
  after(() => ca.close());

  test('a token user sends the token', async () => {
    const id = await callerIdentity(await kubeconfig({ token: 'abc.def' }));
    assert.equal(id.kind, 'token');
    assert.deepEqual(id.metadataFor('n1'), { authorization: 'Bearer abc.def' });
  });

  test('a client-certificate user sends a proof the daemon accepts, and not the key', async () => {
    const { cert, key } = ca.client('/O=dev/CN=frank');
    const id = await callerIdentity(
      await kubeconfig({
        certData: Buffer.from(cert).toString('base64'),
        keyData: Buffer.from(key).toString('base64'),
      }),
    );
    assert.equal(id.kind, 'x509');
    const md = id.metadataFor('node-7');
    assert.ok(!JSON.stringify(md).includes('PRIVATE'), 'no key in the metadata');
    const seen: string[] = [];
    const api: ReviewApi = {
      tokenReview: async () => ({ authenticated: false }),
      subjectAccessReview: async (u, ns) => {
        seen.push(`${u.username} ${u.groups.join(',')} ${ns}`);
        return { allowed: true };
      },
      clientCaBundle: async () => '',
    };
    const z = new KubernetesAuthorizer(api, { node: 'node-7', fallbackCaPem: ca.caPem });
    await z.authorizeRun({ get: (k) => md[k] }, req);
    assert.deepEqual(seen, ['frank dev,system:authenticated shop']);
    // a proof is made fresh for each call
    assert.notEqual(
      id.metadataFor('node-7')['x-kgadget-client-proof'],
      md['x-kgadget-client-proof'],
    );
  });

  test('basic auth or no credentials: nothing to send', async () => {
    assert.equal(
      (await callerIdentity(await kubeconfig({ username: 'a', password: 'b' }))).kind,
      'none',
    );
    assert.equal((await callerIdentity(await kubeconfig({}))).kind, 'none');
  });
});
