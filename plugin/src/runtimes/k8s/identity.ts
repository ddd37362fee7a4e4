// The caller's Kubernetes identity as gRPC metadata for the gadget daemons, which authorize each
// requested namespace with it (daemon/src/k8s/authz.ts, docs/security.md):
//
// - a user with a bearer token (static token, token file, exec or auth-provider plugin: whatever
//   @kubernetes/client-node puts in the Authorization header) sends `authorization: Bearer ...`;
// - a user with a client certificate sends the certificate chain and a signature made with its
//   key over the daemon's node name, the time and a nonce (the key itself is never sent);
// - a user with neither (basic auth, no user) sends nothing: daemons with authorization on refuse.

import { randomBytes, sign } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { CERT_HEADER, PROOF_HEADER, proofPayload } from '#proto/ts/authz.js';

export interface CallerIdentity {
  kind: 'token' | 'x509' | 'none';
  /** metadata for one call to the daemon on `node` */
  metadataFor(node: string): Record<string, string>;
}

type CertKey = string | Buffer | Array<string | Buffer>;

function pemText(v: CertKey | undefined): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return v.map((x) => pemText(x)).join('\n');
  return typeof v === 'string' ? v : v.toString('utf8');
}

export function tokenIdentity(token: string): CallerIdentity {
  return { kind: 'token', metadataFor: () => ({ authorization: `Bearer ${token}` }) };
}

export function x509Identity(certPem: string, keyPem: string): CallerIdentity {
  const cert = Buffer.from(certPem, 'utf8').toString('base64');
  return {
    kind: 'x509',
    metadataFor(node: string) {
      const time = Date.now();
      const nonce = randomBytes(16).toString('hex');
      const payload = proofPayload(node, time, nonce);
      let sig: Buffer;
      try {
        sig = sign('sha256', payload, keyPem);
      } catch {
        // Ed25519/Ed448 keys sign without a separate digest
        sig = sign(null, payload, keyPem);
      }
      return {
        [CERT_HEADER]: cert,
        [PROOF_HEADER]: `v1.${time}.${nonce}.${sig.toString('base64url')}`,
      };
    },
  };
}

export const NO_IDENTITY: CallerIdentity = { kind: 'none', metadataFor: () => ({}) };

/** What the kubeconfig's current user authenticates with (runs exec plugins if it has one). */
export async function callerIdentity(kc: KubeConfig): Promise<CallerIdentity> {
  const opts: {
    headers?: Record<string, unknown>;
    cert?: CertKey;
    key?: CertKey;
  } = {};
  await kc.applyToHTTPSOptions(opts as Parameters<KubeConfig['applyToHTTPSOptions']>[0]);
  // a client certificate is preferred: its proof does not hand the daemon a reusable credential
  const cert = pemText(opts.cert);
  const key = pemText(opts.key);
  if (cert && key) return x509Identity(cert, key);
  const auth = opts.headers?.Authorization ?? opts.headers?.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)/i.exec(auth);
    if (m) return tokenIdentity(m[1]!);
  }
  return NO_IDENTITY;
}
