import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isUserError, UserError } from '../../errors.js';
import {
  apiStatus,
  canICommand,
  k8sError,
  networkCause,
  parseForbidden,
  unreachable,
} from './errors.js';

const ref = { context: 'kgadget', server: 'https://127.0.0.1:6443' };

/** What @kubernetes/client-node 1.x throws for a non-2xx answer. */
function apiException(code: number, body: unknown): Error {
  return Object.assign(new Error('Unsuccessful HTTP Request'), {
    name: 'ApiException',
    code,
    body,
    headers: {},
  });
}
const status = (code: number, reason: string, message: string): Error =>
  apiException(
    code,
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message }),
  );

function userError(e: Error): UserError {
  assert.ok(isUserError(e), `expected a UserError, got ${e.name}: ${e.message}`);
  return e;
}

test('apiStatus reads the Status body, as a string or an object', () => {
  assert.deepEqual(apiStatus(status(404, 'NotFound', 'namespaces "gadget" not found')), {
    code: 404,
    reason: 'NotFound',
    message: 'namespaces "gadget" not found',
  });
  assert.deepEqual(apiStatus(apiException(500, { message: 'boom' })), {
    code: 500,
    reason: '',
    message: 'boom',
  });
  assert.deepEqual(apiStatus(apiException(502, 'bad gateway')), {
    code: 502,
    reason: '',
    message: 'bad gateway',
  });
  assert.equal(apiStatus(new Error('plain')), undefined);
});

test('403: the missing permission is named, with a kubectl auth can-i command', () => {
  const clusterScope =
    'clusterroles.rbac.authorization.k8s.io "gadget" is forbidden: User "bob" cannot patch resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope';
  assert.deepEqual(parseForbidden(clusterScope), {
    user: 'bob',
    verb: 'patch',
    resource: 'clusterroles',
    group: 'rbac.authorization.k8s.io',
    name: 'gadget',
  });
  let e = userError(
    k8sError(status(403, 'Forbidden', clusterScope), ref, 'apply clusterrole/gadget'),
  );
  assert.equal(
    e.reason,
    'permission denied: user "bob" cannot patch clusterroles.rbac.authorization.k8s.io "gadget" at cluster scope',
  );
  assert.match(
    e.hint!,
    /kubectl auth can-i patch clusterroles\.rbac\.authorization\.k8s\.io\/gadget$/,
  );

  const namespaced =
    'daemonsets.apps "gadget" is forbidden: User "system:serviceaccount:default:ci" cannot patch resource "daemonsets" in API group "apps" in the namespace "gadget"';
  e = userError(k8sError(status(403, 'Forbidden', namespaced), ref, 'apply daemonset/gadget'));
  assert.equal(
    e.reason,
    'permission denied: user "system:serviceaccount:default:ci" cannot patch daemonsets.apps "gadget" in namespace "gadget"',
  );
  assert.match(e.hint!, /kubectl auth can-i patch daemonsets\.apps\/gadget -n gadget$/);

  const list =
    'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "gadget"';
  const p = parseForbidden(list)!;
  assert.equal(canICommand(p), 'kubectl auth can-i list pods -n gadget');
  e = userError(k8sError(status(403, 'Forbidden', list), ref, 'list pods'));
  assert.equal(e.reason, 'permission denied: user "bob" cannot list pods in namespace "gadget"');

  const ns =
    'namespaces "gadget" is forbidden: User "bob" cannot get resource "namespaces" in API group "" in the namespace "gadget"';
  e = userError(k8sError(status(403, 'Forbidden', ns), ref, 'read namespace/gadget'));
  assert.equal(e.reason, 'permission denied: user "bob" cannot get namespaces "gadget"');
  assert.match(e.hint!, /kubectl auth can-i get namespaces\/gadget$/);
});

test('403 others: RBAC escalation, a terminating namespace, anything else', () => {
  const esc =
    'clusterroles.rbac.authorization.k8s.io "gadget" is forbidden: user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get"]}';
  let e = userError(k8sError(status(403, 'Forbidden', esc), ref, 'apply clusterrole/gadget'));
  assert.equal(
    e.reason,
    'permission denied: apply clusterrole/gadget grants permissions you do not have yourself',
  );
  const term =
    'serviceaccounts "gadget" is forbidden: unable to create new content in namespace gadget because it is being terminated';
  e = userError(k8sError(status(403, 'Forbidden', term), ref, 'apply serviceaccount/gadget'));
  assert.equal(e.reason, 'namespace "gadget" is being deleted');
  e = userError(
    k8sError(status(403, 'Forbidden', 'admission webhook "x" denied\nthe request'), ref, 'apply x'),
  );
  assert.equal(e.reason, 'permission denied: apply x: admission webhook "x" denied the request');
});

test('401, 422 and other statuses are one line', () => {
  let e = userError(k8sError(status(401, 'Unauthorized', 'Unauthorized'), ref, 'GET /version'));
  assert.equal(
    e.reason,
    'the cluster "kgadget" at https://127.0.0.1:6443 rejected the credentials (401 Unauthorized)',
  );
  e = userError(
    k8sError(
      status(
        422,
        'Invalid',
        'DaemonSet.apps "gadget" is invalid: spec.template.spec.containers[0].image: Required value',
      ),
      ref,
      'apply daemonset/gadget',
    ),
  );
  assert.equal(
    e.reason,
    'apply daemonset/gadget failed: DaemonSet.apps "gadget" is invalid: spec.template.spec.containers[0].image: Required value (HTTP 422 Invalid)',
  );
});

test('network failures: cannot reach cluster "<context>" at <server>: <cause>', () => {
  const fetchError = Object.assign(
    new Error(
      'request to https://127.0.0.1:6443/version failed, reason: connect ECONNREFUSED 127.0.0.1:6443',
    ),
    { name: 'FetchError', code: 'ECONNREFUSED', type: 'system' },
  );
  assert.equal(networkCause(fetchError), 'connect ECONNREFUSED 127.0.0.1:6443');
  let e = userError(k8sError(fetchError, ref, 'apply namespace/gadget'));
  assert.equal(
    e.reason,
    'cannot reach cluster "kgadget" at https://127.0.0.1:6443: connect ECONNREFUSED 127.0.0.1:6443',
  );
  assert.match(e.hint!, /API server running/);
  const tls = Object.assign(
    new Error(
      'request to https://x/version failed, reason: self-signed certificate in certificate chain',
    ),
    { name: 'FetchError', code: 'SELF_SIGNED_CERT_IN_CHAIN' },
  );
  e = unreachable(tls, ref);
  assert.match(e.reason, /: self-signed certificate in certificate chain$/);
  assert.match(e.hint!, /certificate-authority/);
  const dns = Object.assign(
    new Error(
      'request to https://nope.invalid/version failed, reason: getaddrinfo ENOTFOUND nope.invalid',
    ),
    {
      name: 'FetchError',
      code: 'ENOTFOUND',
    },
  );
  assert.match(unreachable(dns, ref).hint!, /does not resolve/);
});

test('bugs stay bugs', () => {
  const bug = new TypeError('x is undefined');
  assert.equal(k8sError(bug, ref, 'apply'), bug);
  const ue = new UserError('already one');
  assert.equal(k8sError(ue, ref, 'apply'), ue);
});
