// The client identity metadata of a gRPC call in Kubernetes mode (the model: the header of
// daemon/src/k8s/authz.ts, docs/security.md). The CLI writes it, the daemon checks it.

export const CERT_HEADER = 'x-kgadget-client-cert';
export const PROOF_HEADER = 'x-kgadget-client-proof';
export const PROOF_VERSION = 'kubectl-gadget-proof-v1';

/** The bytes a client-certificate user signs: good for one node, one time, one nonce. */
export function proofPayload(node: string, timeMs: number, nonce: string): Buffer {
  return Buffer.from(`${PROOF_VERSION}\n${node}\n${timeMs}\n${nonce}`, 'utf8');
}
