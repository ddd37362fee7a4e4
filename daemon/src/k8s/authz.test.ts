// The daemon's per-namespace authorization with an in-memory review API (no cluster): bearer
// tokens through TokenReview, client certificates through a signed proof, SubjectAccessReview per
// namespace (cluster scope for -A and --host), denials that name the permission, caching.

import assert from 'node:assert/strict';
import { randomBytes, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import { RunError } from '../../../gadgets/framework/errors.js';
import type { ContainerFilter, RunRequest } from '../../../gadgets/framework/runtime.js';
import { CERT_HEADER, PROOF_HEADER, proofPayload } from '../../../proto/ts/authz.js';
import {
  KubernetesAuthorizer,
  subjectIdentity,
  type CallMetadata,
  type ReviewApi,
  type UserInfo,
} from './authz.js';
import { makeTestCa, type TestCa } from './test-support/certs.js';

const req = (f: Partial<ContainerFilter>): RunRequest => ({
  gadget: 'trace_exec',
  params: {},
  timeoutSeconds: 0,
  filter: {
    containerNames: [],
    containerIds: [],
    host: false,
    namespaces: [],
    pods: [],
    labelSelector: '',
    podsOnly: true,
    ...f,
  },
});

const md = (h: Record<string, string>): CallMetadata => ({ get: (k) => h[k] });

/** Users and the namespaces they may exec into ('' = every namespace). */
class FakeReviews implements ReviewApi {
  tokenReviews = 0;
  sars: Array<[string, string]> = [];
  tokens = new Map<string, Omit<UserInfo, 'via'>>();
  rights = new Map<string, string[]>();
  caBundle = '';
  sarError: Error | undefined;

  async tokenReview(token: string) {
    this.tokenReviews++;
    const user = this.tokens.get(token);
    return user
      ? { authenticated: true, user }
      : { authenticated: false, error: 'invalid bearer token' };
  }
  async subjectAccessReview(user: UserInfo, namespace: string) {
    if (this.sarError) throw this.sarError;
    this.sars.push([user.username, namespace]);
    const mine = [
      ...(this.rights.get(user.username) ?? []),
      ...user.groups.flatMap((g) => this.rights.get(`group:${g}`) ?? []),
    ];
    const allowed = mine.includes('') || (namespace !== '' && mine.includes(namespace));
    return { allowed, reason: allowed ? 'RBAC: allowed' : '' };
  }
  async clientCaBundle() {
    if (!this.caBundle) throw Object.assign(new Error('forbidden'), { code: 403 });
    return this.caBundle;
  }
}

function denied(e: unknown, re: RegExp): boolean {
  assert.ok(e instanceof RunError, String(e));
  assert.equal(e.code, 'PERMISSION_DENIED');
  assert.match(e.message, re);
  return true;
}

function proofFor(
  cert: string,
  key: string,
  node: string,
  opts: { time?: number; nonce?: string } = {},
): Record<string, string> {
  const time = opts.time ?? Date.now();
  const nonce = opts.nonce ?? randomBytes(16).toString('hex');
  const sig = sign('sha256', proofPayload(node, time, nonce), key).toString('base64url');
  return {
    [CERT_HEADER]: Buffer.from(cert).toString('base64'),
    [PROOF_HEADER]: `v1.${time}.${nonce}.${sig}`,
  };
}

describe('KubernetesAuthorizer: bearer tokens', () => {
  const api = new FakeReviews();
  api.tokens.set('tok-alice', { username: 'alice', groups: ['dev', 'system:authenticated'] });
  api.tokens.set('tok-root', { username: 'root', groups: ['system:masters'] });
  api.rights.set('alice', ['shop']);
  api.rights.set('group:system:masters', ['']);
  const authz = new KubernetesAuthorizer(api, { node: 'node-1' });
  const alice = md({ authorization: 'Bearer tok-alice' });

  test('allowed namespaces pass, others are denied naming the permission', async () => {
    await authz.authorizeRun(alice, req({ namespaces: ['shop'] }));
    await assert.rejects(authz.authorizeRun(alice, req({ namespaces: ['shop', 'bank'] })), (e) =>
      denied(e, /^permission denied: user "alice" cannot create pods\/exec in namespace "bank"$/),
    );
    await assert.rejects(
      authz.authorizeRun(alice, req({ namespaces: ['bank'] })),
      (e: RunError) => {
        assert.match(e.hint ?? '', /kubectl auth can-i create pods --subresource=exec -n bank/);
        return true;
      },
    );
  });

  test('-A and --host need every namespace', async () => {
    await assert.rejects(authz.authorizeRun(alice, req({})), (e) =>
      denied(e, /cannot create pods\/exec in all namespaces \(needed for -A and --host\)/),
    );
    await assert.rejects(
      authz.authorizeRun(alice, req({ namespaces: ['shop'], host: true })),
      (e) => denied(e, /in all namespaces/),
    );
    const root = md({ authorization: 'Bearer tok-root' });
    await authz.authorizeRun(root, req({}));
    await authz.authorizeRun(root, req({ host: true }));
  });

  test('no identity, or a token the API server rejects', async () => {
    await assert.rejects(authz.authorizeRun(md({}), req({ namespaces: ['shop'] })), (e) =>
      denied(e, /carried none/),
    );
    await assert.rejects(
      authz.authorizeRun(md({ authorization: 'Basic YTpi' }), req({ namespaces: ['shop'] })),
      (e) => denied(e, /carried none/),
    );
    await assert.rejects(
      authz.authorizeRun(md({ authorization: 'Bearer nope' }), req({ namespaces: ['shop'] })),
      (e) => denied(e, /did not accept the caller's token \(TokenReview: invalid bearer token\)/),
    );
  });

  test('reviews are cached', async () => {
    const a = new FakeReviews();
    a.tokens.set('t', { username: 'u', groups: [] });
    a.rights.set('u', ['x']);
    const z = new KubernetesAuthorizer(a, { node: 'n' });
    for (let i = 0; i < 5; i++)
      await z.authorizeRun(md({ authorization: 'Bearer t' }), req({ namespaces: ['x'] }));
    assert.equal(a.tokenReviews, 1);
    assert.equal(a.sars.length, 1);
  });

  test('ListContainers shows what the caller may trace', async () => {
    const c = (ns: string | undefined, name: string): ContainerInfo =>
      ({ name, k8s: ns === undefined ? undefined : { namespace: ns } }) as unknown as ContainerInfo;
    const list = [c('shop', 'a'), c('bank', 'b'), c(undefined, 'host-podman'), c('shop', 'd')];
    assert.deepEqual(
      (await authz.visibleContainers(alice, list)).map((x) => x.name),
      ['a', 'd'],
    );
    assert.deepEqual(
      (await authz.visibleContainers(md({ authorization: 'Bearer tok-root' }), list)).length,
      4,
    );
    await assert.rejects(authz.visibleContainers(md({}), list), (e) => denied(e, /carried none/));
  });

  test('a failing review is UNAVAILABLE, naming what the gadget ServiceAccount lacks', async () => {
    const a = new FakeReviews();
    a.tokens.set('t', { username: 'u', groups: [] });
    a.sarError = Object.assign(
      new Error('subjectaccessreviews.authorization.k8s.io is forbidden'),
      { code: 403 },
    );
    const z = new KubernetesAuthorizer(a, { node: 'n' });
    await assert.rejects(
      z.authorizeRun(md({ authorization: 'Bearer t' }), req({ namespaces: ['x'] })),
      (e: RunError) => {
        assert.equal(e.code, 'UNAVAILABLE');
        assert.match(e.message, /cannot check permissions \(SubjectAccessReview: HTTP 403/);
        assert.match(e.hint ?? '', /lacks "create" on subjectaccessreviews/);
        return true;
      },
    );
  });
});

describe('KubernetesAuthorizer: client certificates', () => {
  let ca: TestCa;
  let other: TestCa;
  before(() => {
    ca = makeTestCa('kgtest-cluster-ca');
    other = makeTestCa('kgtest-other-ca');
  });
  after(() => {
    ca.close();
    other.close();
  });

  test('a proof signed with the certificate key: user CN, groups O, for this node only, once', async () => {
    const api = new FakeReviews();
    api.rights.set('group:dev', ['shop']);
    const z = new KubernetesAuthorizer(api, { node: 'node-1', fallbackCaPem: ca.caPem });
    const { cert, key } = ca.client('/O=dev/O=ops/CN=carol');
    const h = proofFor(cert, key, 'node-1');
    await z.authorizeRun(md(h), req({ namespaces: ['shop'] }));
    assert.deepEqual(api.sars, [['carol', 'shop']]);
    await assert.rejects(z.authorizeRun(md(h), req({ namespaces: ['shop'] })), (e) =>
      denied(e, /used before/),
    );
    await assert.rejects(
      z.authorizeRun(md(proofFor(cert, key, 'node-2')), req({ namespaces: ['shop'] })),
      (e) => denied(e, /not signed by the certificate's key for node "node-1"/),
    );
    await assert.rejects(
      z.authorizeRun(md(proofFor(cert, key, 'node-1')), req({ namespaces: ['bank'] })),
      (e) => denied(e, /user "carol" cannot create pods\/exec in namespace "bank"/),
    );
  });

  test('RSA keys; the ConfigMap client CA is trusted too', async () => {
    const api = new FakeReviews();
    api.rights.set('dave', ['']);
    api.caBundle = other.caPem;
    const z = new KubernetesAuthorizer(api, { node: 'n', fallbackCaPem: ca.caPem });
    const rsa = ca.client('/CN=dave', { key: 'rsa' });
    await z.authorizeRun(md(proofFor(rsa.cert, rsa.key, 'n')), req({}));
    const fromOther = other.client('/CN=dave');
    await z.authorizeRun(md(proofFor(fromOther.cert, fromOther.key, 'n')), req({}));
  });

  test("refused: another CA, a serving certificate, an old proof, a key that is not the certificate's", async () => {
    const api = new FakeReviews();
    api.rights.set('eve', ['']);
    const z = new KubernetesAuthorizer(api, { node: 'n', fallbackCaPem: ca.caPem });
    const stranger = other.client('/CN=eve');
    await assert.rejects(
      z.authorizeRun(md(proofFor(stranger.cert, stranger.key, 'n')), req({})),
      (e) => denied(e, /not signed by the cluster's client CA/),
    );
    const serving = ca.client('/CN=eve', { eku: 'serverAuth' });
    await assert.rejects(
      z.authorizeRun(md(proofFor(serving.cert, serving.key, 'n')), req({})),
      (e) => denied(e, /not for client authentication/),
    );
    const good = ca.client('/CN=eve');
    await assert.rejects(
      z.authorizeRun(
        md(proofFor(good.cert, good.key, 'n', { time: Date.now() - 10 * 60_000 })),
        req({}),
      ),
      (e) => denied(e, /too old/),
    );
    const mixed = proofFor(good.cert, stranger.key, 'n');
    await assert.rejects(z.authorizeRun(md(mixed), req({})), (e) =>
      denied(e, /not signed by the certificate's key/),
    );
    assert.deepEqual(api.sars, []);
  });

  test('subjectIdentity', () => {
    assert.deepEqual(subjectIdentity('O=system:masters\nO=x\nCN=kgadget-admin'), {
      username: 'kgadget-admin',
      groups: ['system:masters', 'x'],
    });
  });
});
