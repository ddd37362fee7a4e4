// Errors of the Kubernetes client as one-line UserErrors: an unreachable cluster, rejected
// credentials, a missing RBAC permission (named from the API server's 403 message), a namespace
// being deleted. Duck-typed, so this file loads nothing.

import { UserError } from '../../errors.js';

export interface ClusterRef {
  context: string;
  server: string;
}

export interface ApiStatus {
  code: number;
  message: string;
  reason: string;
}

/** An ApiException of @kubernetes/client-node: HTTP status plus the Status body. */
export function apiStatus(err: unknown): ApiStatus | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; body?: unknown };
  if (typeof e.code !== 'number' || !('body' in e)) return undefined;
  let body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not JSON: the text is the message
    }
  }
  let message = '';
  let reason = '';
  if (body && typeof body === 'object') {
    const b = body as { message?: unknown; reason?: unknown };
    if (typeof b.message === 'string') message = b.message;
    if (typeof b.reason === 'string') reason = b.reason;
  } else if (typeof body === 'string') {
    message = body.trim();
  }
  return { code: e.code, message: message || `HTTP ${e.code}`, reason };
}

export const isNotFound = (err: unknown): boolean => apiStatus(err)?.code === 404;

export interface MissingPermission {
  user?: string;
  verb: string;
  resource: string;
  group: string;
  /** undefined: cluster scope */
  namespace?: string;
  name?: string;
}

/**
 * The permission named in an RBAC 403, e.g.
 * `clusterroles.rbac.authorization.k8s.io "gadget" is forbidden: User "bob" cannot patch
 * resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope`.
 */
export function parseForbidden(message: string): MissingPermission | undefined {
  const m =
    /(?:"([^"]*)" is forbidden: )?User "([^"]*)" cannot (\S+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?/.exec(
      message,
    );
  if (!m) return undefined;
  const out: MissingPermission = { verb: m[3]!, resource: m[4]!, group: m[5]! };
  if (m[2]) out.user = m[2];
  if (m[6]) out.namespace = m[6];
  if (m[1]) out.name = m[1];
  return out;
}

/** `kubectl auth can-i ...` that checks the permission. */
export function canICommand(p: MissingPermission): string {
  const res = p.group ? `${p.resource}.${p.group}` : p.resource;
  const name = p.name ? `/${p.name}` : '';
  const ns = p.namespace && p.resource !== 'namespaces' ? ` -n ${p.namespace}` : '';
  return `kubectl auth can-i ${p.verb} ${res}${name}${ns}`;
}

/** `get namespaces "gadget"`, `patch daemonsets.apps "gadget" in namespace "gadget"`. */
export function describePermission(p: MissingPermission): string {
  const res = p.group ? `${p.resource}.${p.group}` : p.resource;
  const name = p.name ? ` "${p.name}"` : '';
  // a namespace is "in" itself in the API server's message
  const where =
    p.resource === 'namespaces'
      ? ''
      : p.namespace
        ? ` in namespace "${p.namespace}"`
        : ' at cluster scope';
  return `${p.verb} ${res}${name}${where}`;
}

const NET_HINTS: Array<[RegExp, string]> = [
  [/ECONNREFUSED/, 'is the API server running? check the server address in the kubeconfig'],
  [
    /ENOTFOUND|EAI_AGAIN/,
    'the server host name does not resolve: check the kubeconfig, VPN or DNS',
  ],
  [
    /ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|timed out/,
    'no answer from the server: check the network (VPN, firewall)',
  ],
  [
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|altnames|certificate/i,
    "the server's certificate is not trusted: check certificate-authority(-data) in the kubeconfig",
  ],
];

/** The cause of a network-level failure, short: "connect ECONNREFUSED 127.0.0.1:6443". */
export function networkCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: unknown; cause?: unknown };
  const reason = /failed, reason: (.*)$/s.exec(e.message);
  let cause = (reason?.[1] ?? e.message).split('\n')[0]!.trim();
  if (!cause && typeof e.code === 'string') cause = e.code;
  if (!cause && e.cause) return networkCause(e.cause);
  return cause || e.name;
}

export function unreachable(err: unknown, ref: ClusterRef): UserError {
  const cause = networkCause(err);
  const hint = NET_HINTS.find(([re]) => re.test(cause))?.[1];
  return new UserError(`cannot reach cluster "${ref.context}" at ${ref.server}: ${cause}`, hint);
}

/**
 * Any error from an API call as a UserError. `doing` says what was attempted ("apply
 * daemonset gadget/gadget"). Errors that are neither HTTP statuses nor network failures are
 * returned unchanged (bugs).
 */
export function k8sError(err: unknown, ref: ClusterRef, doing: string): Error {
  if (err instanceof UserError) return err;
  const st = apiStatus(err);
  if (!st) {
    if (isNetworkError(err)) return unreachable(err, ref);
    return err instanceof Error ? err : new Error(String(err));
  }
  const msg = oneLine(st.message);
  if (st.code === 401) {
    return new UserError(
      `the cluster "${ref.context}" at ${ref.server} rejected the credentials (401 Unauthorized)`,
      'the token or certificate in the kubeconfig is invalid or expired: refresh your credentials',
    );
  }
  if (st.code === 403) {
    const p = parseForbidden(msg);
    if (p) {
      return new UserError(
        `permission denied: ${p.user ? `user "${p.user}"` : 'you'} cannot ${describePermission(p)}`,
        `ask a cluster admin for that permission; check with: ${canICommand(p)}`,
      );
    }
    if (/attempting to grant RBAC permissions not currently held/.test(msg)) {
      return new UserError(
        `permission denied: ${doing} grants permissions you do not have yourself`,
        'creating the gadget ClusterRole needs every permission it grants (or the escalate verb): run deploy as a cluster admin',
      );
    }
    const ns =
      /unable to create new content in namespace (\S+) because it is being terminated/.exec(msg);
    if (ns) {
      return new UserError(
        `namespace "${ns[1]}" is being deleted`,
        'wait for the deletion to finish (kubectl gadget undeploy --wait), then deploy again',
      );
    }
    return new UserError(`permission denied: ${doing}: ${msg}`);
  }
  return new UserError(
    `${doing} failed: ${msg} (HTTP ${st.code}${st.reason ? ` ${st.reason}` : ''})`,
  );
}

function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; type?: unknown };
  return (
    e.name === 'FetchError' ||
    e.name === 'AbortError' ||
    e.name === 'TimeoutError' ||
    (typeof e.code === 'string' && /^E[A-Z]+$|CERT|SSL|TLS/.test(e.code))
  );
}

function oneLine(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}
