// A container on this host, as the daemon's registry knows it.

export interface K8sIdentity {
  namespace: string;
  pod: string;
  container: string;
  podUid: string;
  /** filled from the pod informer when known */
  labels: Record<string, string>;
  ownerKind: string;
  ownerName: string;
  podIp: string;
  hostNetwork: boolean;
}

export interface ContainerInfo {
  runtime: 'podman' | 'containerd' | 'cri-o' | 'docker' | 'unknown';
  /** full container id (64 hex) */
  id: string;
  /** runtime-level container name (podman name; for CRI the k8s container name) */
  name: string;
  /** host pid of the container's init process (0 once exited) */
  pid: number;
  /** mount namespace inode of the container's init process (reused by later namespaces) */
  mntnsId: number;
  /**
   * The mount namespace's unique id (ns_common.ns_id; never reused while the host runs), the key
   * events are joined on (their mntns_uid field). 0 or absent: unknown (kernel before 6.8).
   */
  mntnsUid?: number;
  /**
   * Never reused while the daemon runs: distinguishes two containers that got the same mntns
   * inode one after the other.
   */
  generation: number;
  state: 'running' | 'exited';
  /** unix ms */
  startedAt: number;
  exitedAt?: number;
  image: string;
  /** OCI bundle annotations (io.kubernetes.cri.*, io.podman.*) */
  annotations: Record<string, string>;
  k8s?: K8sIdentity;
}

/** A K8sIdentity with every field blank, for sources to fill in. */
export function emptyK8s(): K8sIdentity {
  return {
    namespace: '',
    pod: '',
    container: '',
    podUid: '',
    labels: {},
    ownerKind: '',
    ownerName: '',
    podIp: '',
    hostNetwork: false,
  };
}
