// Per-namespace authorization of the node daemon's callers (Kubernetes mode). See
// docs/security.md for the model; in short:
//
// - Reaching the daemon at all takes `pods/portforward` in namespace gadget (the CLI connects
//   through the API server). That is the access gate; this file adds a second check.
// - The CLI presents the kubeconfig user's identity in gRPC metadata:
//     authorization: Bearer <token>             token users (static, exec plugins, OIDC, SA)
//     x-kgadget-client-cert / -client-proof     client-certificate users: the certificate chain
//                                               and a signature, made with the certificate's
//                                               key, over "kubectl-gadget-proof-v1\n<node>\n
//                                               <unix ms>\n<nonce>" (the key never leaves the
//                                               CLI; a proof is good for one node, 5 minutes,
//                                               once)
// - The daemon authenticates the token with a TokenReview, or checks the certificate against the
//   cluster's client CA (ConfigMap kube-system/extension-apiserver-authentication, else the
//   cluster CA of its own configuration), then asks a SubjectAccessReview, for the user and
//   groups found, whether they may `create pods/exec` in each requested namespace (or in all
//   namespaces, for -A and --host). Tracing a namespace shows what exec-ing into its pods would:
//   their processes and arguments. So the permission that lets a user exec into a namespace's
//   pods is the one that lets them trace it.
// - Results are cached briefly (TokenReview 60 s, SubjectAccessReview 30 s).

import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { clip, RunError } from '../../../gadgets/framework/errors.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import type { RunRequest } from '../../../gadgets/framework/runtime.js';
import { CERT_HEADER, PROOF_HEADER, proofPayload } from '../../../proto/ts/authz.js';
import { deadline, errorText, httpStatus, type DaemonKubeConfig } from './config.js';

/** How far a proof's time may be from the daemon's clock. */
export const PROOF_WINDOW_MS = 5 * 60_000;

/** The permission that authorizes tracing a namespace. */
export const TRACE_PERMISSION = { verb: 'create', resource: 'pods', subresource: 'exec' } as const;
export const PERMISSION_TEXT = 'create pods/exec';

/** Read access to the request's metadata (grpc.Metadata adapts to this). */
export interface CallMetadata {
  get(key: string): string | undefined;
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
  /** how the identity was established, for logs */
  via: 'token' | 'x509';
}

/** What the authorizer needs from the API server (injectable for tests). */
export interface ReviewApi {
  tokenReview(
    token: string,
  ): Promise<{ authenticated: boolean; user?: Omit<UserInfo, 'via'>; error?: string }>;
  subjectAccessReview(
    user: UserInfo,
    namespace: string,
  ): Promise<{ allowed: boolean; reason?: string; evaluationError?: string }>;
  /** PEM bundle of the client CA from kube-system/extension-apiserver-authentication, or '' */
  clientCaBundle(): Promise<string>;
}

export interface Authorizer {
  /** Throws RunError PERMISSION_DENIED when the caller may not run `req`; else who the caller is. */
  authorizeRun(md: CallMetadata, req: RunRequest): Promise<UserInfo | void>;
  /** The containers of `list` the caller may see (ListContainers). Throws when unauthenticated. */
  visibleContainers(md: CallMetadata, list: ContainerInfo[]): Promise<ContainerInfo[]>;
}

export interface AuthorizerOptions {
  /** the daemon's node name: x509 proofs must name it */
  node: string;
  /** CA certificates (PEM) trusted for client certificates besides the ConfigMap's */
  fallbackCaPem?: string;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  now?: () => number;
}

const TOKEN_TTL_MS = 60_000;
const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const SAR_TTL_MS = 30_000;
const CA_TTL_MS = 10 * 60_000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** "CN=alice\nO=dev\nO=ops" -> { username: 'alice', groups: ['dev', 'ops'] } */
export function subjectIdentity(subject: string): { username: string; groups: string[] } {
  let username = '';
  const groups: string[] = [];
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const k = line.slice(0, eq).trim();
    const v = line.slice(eq + 1).trim();
    if (k === 'CN') username = v;
    else if (k === 'O') groups.push(v);
  }
  return { username, groups };
}

/** Splits a PEM bundle into certificates (unparseable blocks are skipped). */
export function parsePemBundle(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  const re = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
  for (const m of pem.match(re) ?? []) {
    try {
      out.push(new X509Certificate(m));
    } catch {
      // not a certificate we can read
    }
  }
  return out;
}

/** `cert` names `issuer` as its issuer and carries its signature. */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  if (!issuer.ca || cert.issuer !== issuer.subject) return false;
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function validAt(c: X509Certificate, now: number): boolean {
  return Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
}

/**
 * Verifies that `chain[0]` leads to one of `cas` (through the other certificates of `chain`),
 * every certificate valid at `now`. Returns the leaf or throws a one-line reason.
 */
export function verifyChain(
  chain: X509Certificate[],
  cas: X509Certificate[],
  now: number,
): X509Certificate {
  const leaf = chain[0];
  if (!leaf) throw new Error('no certificate');
  // like the API server: a certificate restricted to other uses (e.g. serving) is no client's
  const eku = leaf.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH_EKU) && !eku.includes('2.5.29.37.0')) {
    throw new Error('the certificate is not for client authentication');
  }
  let cur = leaf;
  for (let depth = 0; depth < 5; depth++) {
    if (!validAt(cur, now))
      throw new Error(`certificate "${cur.subject.replace(/\n/g, ', ')}" is not valid now`);
    const ca = cas.find((a) => issuedBy(cur, a));
    if (ca) {
      if (!validAt(ca, now)) throw new Error('the issuing CA certificate is not valid now');
      return leaf;
    }
    const next = chain.find((i) => i !== cur && i.ca && issuedBy(cur, i));
    if (!next) throw new Error("the certificate is not signed by the cluster's client CA");
    cur = next;
  }
  throw new Error('certificate chain too long');
}

export class KubernetesAuthorizer implements Authorizer {
  private readonly tokens = new Map<string, { at: number; user?: UserInfo; error?: string }>();
  private readonly sars = new Map<string, { at: number; allowed: boolean; reason: string }>();
  private readonly usedNonces = new Map<string, number>();
  private cas: { at: number; certs: X509Certificate[] } | undefined;
  private readonly fallbackCas: X509Certificate[];
  private readonly log: NonNullable<AuthorizerOptions['log']>;
  private readonly now: () => number;

  constructor(
    private readonly api: ReviewApi,
    private readonly opts: AuthorizerOptions,
  ) {
    this.fallbackCas = parsePemBundle(opts.fallbackCaPem ?? '');
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
  }

  async authorizeRun(md: CallMetadata, req: RunRequest): Promise<UserInfo> {
    const user = await this.authenticate(md);
    const f = req.filter;
    // -A (no namespace) and --host (processes of no namespace) need every namespace
    const scopes = f.namespaces.length === 0 || f.host ? [''] : [...new Set(f.namespaces)];
    for (const ns of scopes) {
      const r = await this.review(user, ns);
      if (!r.allowed) throw denied(user, ns, r.reason);
    }
    this.log(
      'info',
      `authorized ${user.via} user "${user.username}" for ${scopes.map((s) => s || '*').join(',')}`,
    );
    return user;
  }

  /** The containers of `list` the caller may see: those of namespaces it may trace. */
  async visibleContainers(md: CallMetadata, list: ContainerInfo[]): Promise<ContainerInfo[]> {
    const user = await this.authenticate(md);
    if ((await this.review(user, '')).allowed) return list;
    const out: ContainerInfo[] = [];
    const verdict = new Map<string, boolean>();
    for (const c of list) {
      const ns = c.k8s?.namespace;
      if (!ns) continue;
      let ok = verdict.get(ns);
      if (ok === undefined) {
        ok = (await this.review(user, ns)).allowed;
        verdict.set(ns, ok);
      }
      if (ok) out.push(c);
    }
    return out;
  }

  // ---- authentication

  async authenticate(md: CallMetadata): Promise<UserInfo> {
    const cert = md.get(CERT_HEADER);
    const proof = md.get(PROOF_HEADER);
    if (cert && proof) return this.authenticateX509(cert, proof);
    const auth = md.get('authorization');
    const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
    if (m) return this.authenticateToken(m[1]!);
    throw new RunError(
      'PERMISSION_DENIED',
      "this gadget daemon authorizes each request with the caller's Kubernetes identity, and the request carried none",
      "kubectl-gadget sends the kubeconfig user's bearer token, or a proof of its client certificate; users with neither (e.g. basic auth) cannot be authorized (see docs/security.md)",
    );
  }

  private async authenticateToken(token: string): Promise<UserInfo> {
    const key = sha256(token);
    const now = this.now();
    let c = this.tokens.get(key);
    if (!c || now - c.at > TOKEN_TTL_MS) {
      let r: Awaited<ReturnType<ReviewApi['tokenReview']>>;
      try {
        r = await this.api.tokenReview(token);
      } catch (e) {
        throw unavailable('TokenReview', e);
      }
      c =
        r.authenticated && r.user
          ? { at: now, user: { ...r.user, via: 'token' } }
          : { at: now, error: r.error || 'the token is invalid or expired' };
      this.tokens.set(key, c);
      this.prune(this.tokens, TOKEN_TTL_MS);
    }
    if (!c.user) {
      throw new RunError(
        'PERMISSION_DENIED',
        `the API server did not accept the caller's token (TokenReview: ${c.error})`,
        'refresh the credentials in your kubeconfig',
      );
    }
    return c.user;
  }

  private async authenticateX509(certB64: string, proof: string): Promise<UserInfo> {
    const bad = (why: string): RunError =>
      new RunError('PERMISSION_DENIED', `client certificate not accepted: ${why}`);
    const parts = proof.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') throw bad('malformed proof');
    const [, timeText, nonce, sigB64] = parts as [string, string, string, string];
    const time = Number(timeText);
    const now = this.now();
    if (!Number.isFinite(time) || Math.abs(now - time) > PROOF_WINDOW_MS) {
      throw bad(
        'the proof is too old or from the future (check the clocks of this machine and the node)',
      );
    }
    if (!/^[0-9a-f]{16,64}$/.test(nonce)) throw bad('malformed proof nonce');
    const chain = parsePemBundle(Buffer.from(certB64, 'base64').toString('utf8'));
    if (chain.length === 0) throw bad('no certificate in the request');
    const cas = await this.clientCas();
    if (cas.length === 0) throw bad('the daemon knows no client CA of this cluster');
    let leaf: X509Certificate;
    try {
      leaf = verifyChain(chain, cas, now);
    } catch (e) {
      throw bad((e as Error).message);
    }
    const payload = proofPayload(this.opts.node, time, nonce);
    const key = leaf.publicKey;
    const alg =
      key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';
    let ok = false;
    try {
      ok = verifySignature(alg, payload, key, Buffer.from(sigB64, 'base64url'));
    } catch {
      ok = false;
    }
    if (!ok)
      throw bad(`the proof is not signed by the certificate's key for node "${this.opts.node}"`);
    const seen = `${nonce}`;
    if (this.usedNonces.has(seen)) throw bad('the proof was used before');
    this.usedNonces.set(seen, now);
    for (const [n, at] of this.usedNonces)
      if (now - at > 2 * PROOF_WINDOW_MS) this.usedNonces.delete(n);
    const id = subjectIdentity(leaf.subject);
    if (!id.username) throw bad('the certificate has no common name');
    return { username: id.username, groups: [...id.groups, 'system:authenticated'], via: 'x509' };
  }

  private async clientCas(): Promise<X509Certificate[]> {
    const now = this.now();
    if (this.cas && now - this.cas.at < CA_TTL_MS) return this.cas.certs;
    let fromMap: X509Certificate[] = [];
    try {
      fromMap = parsePemBundle(await this.api.clientCaBundle());
    } catch (e) {
      if (!this.cas) {
        this.log(
          'info',
          `client CA: kube-system/extension-apiserver-authentication not readable (${errorText(e)}); using the cluster CA`,
        );
      }
    }
    const certs = [...fromMap, ...this.fallbackCas];
    this.cas = { at: now, certs };
    return certs;
  }

  // ---- authorization

  private async review(
    user: UserInfo,
    namespace: string,
  ): Promise<{ allowed: boolean; reason: string }> {
    const key = `${user.via}\0${user.username}\0${user.groups.join(',')}\0${namespace}`;
    const now = this.now();
    const c = this.sars.get(key);
    if (c && now - c.at < SAR_TTL_MS) return c;
    let r: Awaited<ReturnType<ReviewApi['subjectAccessReview']>>;
    try {
      r = await this.api.subjectAccessReview(user, namespace);
    } catch (e) {
      throw unavailable('SubjectAccessReview', e);
    }
    const v = { at: now, allowed: r.allowed, reason: r.reason ?? r.evaluationError ?? '' };
    this.sars.set(key, v);
    this.prune(this.sars, SAR_TTL_MS);
    return v;
  }

  private prune<V extends { at: number }>(m: Map<string, V>, ttl: number): void {
    if (m.size < 1000) return;
    const now = this.now();
    for (const [k, v] of m) if (now - v.at > ttl) m.delete(k);
  }
}

function denied(user: UserInfo, namespace: string, reason: string): RunError {
  const where = namespace
    ? `in namespace "${clip(namespace)}"`
    : 'in all namespaces (needed for -A and --host)';
  const ns = namespace ? ` -n ${clip(namespace)}` : ' --all-namespaces';
  return new RunError(
    'PERMISSION_DENIED',
    `permission denied: user "${user.username}" cannot ${PERMISSION_TEXT} ${where}${reason ? ` (${reason})` : ''}`,
    `tracing a namespace needs the permission to exec into its pods; check with: kubectl auth can-i create pods --subresource=exec${ns}`,
  );
}

function unavailable(what: string, e: unknown): RunError {
  const status = httpStatus(e);
  const hint =
    status === 403
      ? `the gadget ServiceAccount lacks "create" on ${what === 'TokenReview' ? 'tokenreviews.authentication.k8s.io' : 'subjectaccessreviews.authorization.k8s.io'}: run kubectl gadget deploy again`
      : undefined;
  return new RunError(
    'UNAVAILABLE',
    `the gadget daemon cannot check permissions (${what}: ${errorText(e)})`,
    hint,
  );
}

/** ReviewApi over @kubernetes/client-node. */
export function clientReviewApi(cfg: DaemonKubeConfig): ReviewApi {
  const { k8s, kc } = cfg;
  const authn = kc.makeApiClient(k8s.AuthenticationV1Api);
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    async tokenReview(token) {
      const r = await deadline(
        authn.createTokenReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        }),
        15_000,
        'TokenReview',
      );
      const s = r.status;
      if (!s?.authenticated || !s.user?.username) return { authenticated: false, error: s?.error };
      return {
        authenticated: true,
        user: {
          username: s.user.username,
          uid: s.user.uid,
          groups: s.user.groups ?? [],
          extra: s.user.extra,
        },
      };
    },
    async subjectAccessReview(user, namespace) {
      const r = await deadline(
        authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: user.username,
              uid: user.uid,
              groups: user.groups,
              extra: user.extra,
              resourceAttributes: { ...TRACE_PERMISSION, namespace },
            },
          },
        }),
        15_000,
        'SubjectAccessReview',
      );
      return {
        allowed: r.status?.allowed ?? false,
        reason: r.status?.reason,
        evaluationError: r.status?.evaluationError,
      };
    },
    async clientCaBundle() {
      const cm = await deadline(
        core.readNamespacedConfigMap({
          name: 'extension-apiserver-authentication',
          namespace: 'kube-system',
        }),
        15_000,
        'get configmap',
      );
      return cm.data?.['client-ca-file'] ?? '';
    },
  };
}
