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
  /** mount namespace inode of the container's init process */
  mntnsId: number;
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

/** Listener signatures of ContainerRegistry (registry.ts); same events as ContainerRegistryEventMap. */
export interface ContainerRegistryEvents {
  /** a container was found (state 'running'); emitted before 'mntns-added' of its namespace */
  added: (c: ContainerInfo) => void;
  /** it exited (state 'exited', pid 0; still listed for the retention) or was a CRI sandbox */
  removed: (c: ContainerInfo) => void;
  /** metadata completed after discovery, or pod info (labels, owner) applied */
  updated: (c: ContainerInfo) => void;
  /** an exited container dropped from list() after the retention */
  expired: (c: ContainerInfo) => void;
  /** a mount namespace (container or host) is in use: add to the kernel `known` set */
  'mntns-added': (mntns: number) => void;
  /** no process uses it anymore (its inode may be reused): remove from `known` */
  'mntns-removed': (mntns: number) => void;
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
