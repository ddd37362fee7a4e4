// The objects `kubectl gadget deploy` applies, built as plain objects (typed with the client's
// models, type-only imports: nothing is loaded) and emitted as YAML by the yaml package.
//
// Security model of the gadget pod (docs/deploy.md explains each line):
// - not privileged; all capabilities dropped, then BPF, PERFMON (load and attach tracing
//   programs, read kernel memory from them), SYS_PTRACE (readlink /proc/<pid>/ns/* of host
//   processes), NET_ADMIN (load the cgroup sock_addr programs of advise network-policy) and
//   SYS_ADMIN added back. SYS_ADMIN is for fanotify permission events only: the daemon holds
//   each exec of the OCI runtime binaries (runc, crun) until it has read the bundle, so a
//   container is named before its first process runs (docs/security.md: a daemon stopped while
//   it holds an exec stalls container starts on its node). `deploy --no-sys-admin` leaves it
//   out (and so keeps allowPrivilegeEscalation: false, which Kubernetes refuses with
//   SYS_ADMIN): containers living milliseconds may then go unnamed. The gadgets themselves
//   need no SYS_ADMIN: they use ring buffers (kernel >= 5.8), and every such kernel has CAP_BPF
//   and CAP_PERFMON. No SYS_RESOURCE: on kernels >= 5.11 BPF memory is charged to the cgroup,
//   not RLIMIT_MEMLOCK. No DAC_READ_SEARCH, DAC_OVERRIDE, NET_RAW.
// - hostPID (the node's processes), no hostNetwork: the daemon listens on the pod's loopback and
//   the CLI reaches it through pods/portforward.
// - seccomp and AppArmor unconfined: bpf() and perf_event_open() are not in every runtime's
//   default seccomp profile, and the runtimes' default AppArmor profiles deny ptrace-read of
//   processes outside the profile.
// - read-only root filesystem; host paths read-only under /host, except bpffs.

import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1DaemonSet,
  V1Namespace,
  V1PolicyRule,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { UserError } from '../../errors.js';
import {
  DAEMON_LISTEN,
  GADGET_CONTAINER,
  GADGET_NAME,
  GADGET_NAMESPACE,
  HOST_ROOT,
  IMAGE_APP_DIR,
  IMAGE_PULL_POLICIES,
  MANAGED_BY_KEY,
  MANAGED_BY_VALUE,
  POD_LABEL_KEY,
  POD_LABEL_VALUE,
  type ImagePullPolicy,
} from '../../runtimes/k8s/constants.js';

export interface ManifestOptions {
  image: string;
  /** version of kubectl-gadget that made the objects (app.kubernetes.io/version) */
  version: string;
  imagePullPolicy?: ImagePullPolicy;
  /** extra node selector, merged over kubernetes.io/os=linux */
  nodeSelector?: Record<string, string>;
  /** content digest of `image` when known (a local build): a new one rolls the pods */
  imageDigest?: string;
  /**
   * Add CAP_SYS_ADMIN for the runtime exec watch (fanotify), default true. Without it the
   * daemon learns of a container only after it started (see docs/deploy.md).
   */
  sysAdmin?: boolean;
  /** the daemon redacts secrets in events (default true: Kubernetes mode's default) */
  redact?: boolean;
  /** more redaction patterns (daemon --redact-pattern) */
  redactPatterns?: string[];
}

/**
 * Pod-template annotation with the image's content digest: a rebuilt image under the same tag
 * changes the template, so the DaemonSet rolls its pods (the tag alone would not).
 */
export const IMAGE_DIGEST_ANNOTATION = 'kubectl-gadget.io/image-digest';

/**
 * The daemon's Prometheus endpoint (daemon --metrics-listen) on the pod IP, named `metrics`, with
 * the prometheus.io/* pod annotations scrapers discover it by. Counts only (docs/security.md).
 * The Helm chart (image/chart) renders the same port, argument and annotations.
 */
export const METRICS_PORT = 9477;
export const METRICS_LISTEN = `0.0.0.0:${METRICS_PORT}`;
export const METRICS_ANNOTATIONS: Readonly<Record<string, string>> = {
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': String(METRICS_PORT),
  'prometheus.io/path': '/metrics',
};

export type GadgetObject =
  V1Namespace | V1ServiceAccount | V1ClusterRole | V1ClusterRoleBinding | V1DaemonSet;

export interface GadgetManifests {
  namespace: V1Namespace;
  serviceAccount: V1ServiceAccount;
  clusterRole: V1ClusterRole;
  clusterRoleBinding: V1ClusterRoleBinding;
  daemonSet: V1DaemonSet;
}

/** Capabilities added back after dropping ALL (see the header comment); plus SYS_ADMIN_CAP. */
export const CAPABILITIES = ['BPF', 'PERFMON', 'SYS_PTRACE', 'NET_ADMIN'] as const;

/** For fanotify permission events on the runtime binaries; left out by `deploy --no-sys-admin`. */
export const SYS_ADMIN_CAP = 'SYS_ADMIN';

/** The daemon's switch for the runtime exec watch (daemon/src/runtime/shared.ts). */
export const EXEC_WATCH_ENV = 'KGADGET_EXEC_WATCH';

/**
 * What the daemon reads from the API server, nothing more: pods, namespaces and nodes to enrich
 * events and watch its node's pods; services and endpointslices for network peers; the workload
 * kinds for owner resolution; token and subject access reviews to authorize each requested
 * namespace for the caller.
 */
export const CLUSTER_ROLE_RULES: V1PolicyRule[] = [
  { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  {
    apiGroups: ['apps'],
    resources: ['replicasets', 'deployments', 'statefulsets', 'daemonsets'],
    verbs: ['get'],
  },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/** Host paths mounted into the gadget pod: [volume name, host path, mount path, read-only]. */
const HOST_MOUNTS: ReadonlyArray<{
  name: string;
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
  propagation?: 'HostToContainer';
}> = [
  // bpffs: writable for pinning; HostToContainer so a bpffs mounted after the pod started shows
  {
    name: 'bpffs',
    hostPath: '/sys/fs/bpf',
    mountPath: '/sys/fs/bpf',
    readOnly: false,
    propagation: 'HostToContainer',
  },
  // tracefs and debugfs: tracepoint ids (libbpf reads events/<category>/<name>/id)
  {
    name: 'tracefs',
    hostPath: '/sys/kernel/tracing',
    mountPath: '/sys/kernel/tracing',
    readOnly: true,
  },
  {
    name: 'debugfs',
    hostPath: '/sys/kernel/debug',
    mountPath: '/sys/kernel/debug',
    readOnly: true,
  },
  // the node's /proc, runtime state (/run/containerd, /run/containers, /run/runc) and cgroups
  // (container ids; the cgroup v2 root that cgroup hooks attach to, which needs a read-only fd);
  // /run goes to /host/run, not /run: images where /var/run -> /run would put the service
  // account token mount inside a read-only host directory
  { name: 'host-proc', hostPath: '/proc', mountPath: `${HOST_ROOT}/proc`, readOnly: true },
  { name: 'host-run', hostPath: '/run', mountPath: `${HOST_ROOT}/run`, readOnly: true },
  // the OCI runtime binaries (runc, crun in /usr/bin, /usr/sbin, /usr/local/...) that the exec
  // watch marks: a mark is on the inode, so the host's file seen through this mount will do
  { name: 'host-usr', hostPath: '/usr', mountPath: `${HOST_ROOT}/usr`, readOnly: true },
  {
    name: 'host-cgroup',
    hostPath: '/sys/fs/cgroup',
    mountPath: `${HOST_ROOT}/sys/fs/cgroup`,
    readOnly: true,
  },
];

export function commonLabels(version: string): Record<string, string> {
  return {
    [POD_LABEL_KEY]: POD_LABEL_VALUE,
    'app.kubernetes.io/name': 'kubectl-gadget',
    'app.kubernetes.io/part-of': 'kubectl-gadget',
    'app.kubernetes.io/version': labelValue(version),
    [MANAGED_BY_KEY]: MANAGED_BY_VALUE,
  };
}

/** A version as a label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
function labelValue(v: string): string {
  return v
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

export function buildManifests(opts: ManifestOptions): GadgetManifests {
  const labels = commonLabels(opts.version);
  const sysAdmin = opts.sysAdmin ?? true;
  const selector = { [POD_LABEL_KEY]: POD_LABEL_VALUE };

  const namespace: V1Namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: GADGET_NAMESPACE,
      labels: {
        ...labels,
        // hostPID and the added capabilities are not allowed by the baseline Pod Security
        // Standard: without this a cluster enforcing baseline rejects the gadget pods
        'pod-security.kubernetes.io/enforce': 'privileged',
      },
    },
  };

  const serviceAccount: V1ServiceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: GADGET_NAME, namespace: GADGET_NAMESPACE, labels },
  };

  const clusterRole: V1ClusterRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: GADGET_NAME, labels },
    rules: CLUSTER_ROLE_RULES.map((r) => ({ ...r })),
  };

  const clusterRoleBinding: V1ClusterRoleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: GADGET_NAME, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: GADGET_NAME },
    subjects: [{ kind: 'ServiceAccount', name: GADGET_NAME, namespace: GADGET_NAMESPACE }],
  };

  const daemonSet: V1DaemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: {
      name: GADGET_NAME,
      namespace: GADGET_NAMESPACE,
      labels: { ...labels, 'app.kubernetes.io/component': 'daemon' },
    },
    spec: {
      selector: { matchLabels: selector },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: {
          labels: { ...labels, 'app.kubernetes.io/component': 'daemon' },
          annotations: {
            ...METRICS_ANNOTATIONS,
            ...(opts.imageDigest ? { [IMAGE_DIGEST_ANNOTATION]: opts.imageDigest } : {}),
          },
        },
        spec: {
          serviceAccountName: GADGET_NAME,
          hostPID: true,
          hostNetwork: false,
          nodeSelector: { 'kubernetes.io/os': 'linux', ...(opts.nodeSelector ?? {}) },
          // a node agent: run on every node, tainted or not
          tolerations: [{ operator: 'Exists' }],
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: GADGET_CONTAINER,
              image: opts.image,
              imagePullPolicy: opts.imagePullPolicy ?? 'IfNotPresent',
              command: [`${IMAGE_APP_DIR}/bin/run.js`, 'daemon'],
              args: [
                ...['--listen', DAEMON_LISTEN, '--node', '$(NODE_NAME)', '--kubernetes'],
                ...(opts.redact === false ? ['--no-redact'] : []),
                ...(opts.redactPatterns ?? []).flatMap((r) => ['--redact-pattern', r]),
                // last, as the Helm chart renders it
                ...['--metrics-listen', METRICS_LISTEN],
              ],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'HOST_ROOT', value: HOST_ROOT },
                // without SYS_ADMIN the watch cannot run: say so in the manifest, not in a warning
                ...(sysAdmin ? [] : [{ name: EXEC_WATCH_ENV, value: 'off' }]),
              ],
              securityContext: {
                privileged: false,
                // no setuid binaries to gain from; Kubernetes refuses it together with SYS_ADMIN
                ...(sysAdmin ? {} : { allowPrivilegeEscalation: false }),
                // loading eBPF programs and reading /proc of host processes needs uid 0
                runAsUser: 0,
                runAsNonRoot: false,
                readOnlyRootFilesystem: true,
                capabilities: {
                  drop: ['ALL'],
                  add: [...CAPABILITIES, ...(sysAdmin ? [SYS_ADMIN_CAP] : [])],
                },
                seccompProfile: { type: 'Unconfined' },
                appArmorProfile: { type: 'Unconfined' },
              },
              // the daemon listens on the pod's loopback only, where kubelet's tcpSocket and
              // grpc probes cannot reach: ask it from inside the container
              readinessProbe: {
                exec: {
                  command: [`${IMAGE_APP_DIR}/bin/run.js`, 'version', '--remote', DAEMON_LISTEN],
                },
                initialDelaySeconds: 2,
                periodSeconds: 10,
                timeoutSeconds: 5,
                failureThreshold: 3,
              },
              // plain HTTP, counts only: the one port the pod serves beyond its loopback
              ports: [{ name: 'metrics', containerPort: METRICS_PORT }],
              resources: { requests: { cpu: '50m', memory: '96Mi' } },
              volumeMounts: [
                ...HOST_MOUNTS.map((m) => ({
                  name: m.name,
                  mountPath: m.mountPath,
                  readOnly: m.readOnly,
                  ...(m.propagation ? { mountPropagation: m.propagation } : {}),
                })),
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            ...HOST_MOUNTS.map((m) => ({
              name: m.name,
              hostPath: { path: m.hostPath, type: 'Directory' },
            })),
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  };

  return { namespace, serviceAccount, clusterRole, clusterRoleBinding, daemonSet };
}

/** In apply order: the namespace first, the DaemonSet (which needs the rest) last. */
export function manifestList(m: GadgetManifests): GadgetObject[] {
  return [m.namespace, m.serviceAccount, m.clusterRole, m.clusterRoleBinding, m.daemonSet];
}

/** Multi-document YAML (`---` before each document), what --print-only writes. */
export async function manifestsYaml(objects: readonly GadgetObject[]): Promise<string> {
  const { stringify } = await import('yaml');
  return objects.map((o) => '---\n' + stringify(o, { lineWidth: 0 })).join('');
}

// ---- validation of user input

const NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const LABEL_NAME_RE = new RegExp(`^${NAME}$`);
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  if (slash < 0) return LABEL_NAME_RE.test(key);
  const prefix = key.slice(0, slash);
  const name = key.slice(slash + 1);
  return prefix.length <= 253 && DNS_SUBDOMAIN_RE.test(prefix) && LABEL_NAME_RE.test(name);
}

function validLabelValue(v: string): boolean {
  return v === '' || LABEL_NAME_RE.test(v);
}

/** `--node-selector key=value[,key=value]` -> a node selector map. */
export function parseNodeSelector(input: string): Record<string, string> {
  const out: Record<string, string> = {};
  const bad = (why: string): UserError =>
    new UserError(
      `invalid --node-selector "${input}": ${why}`,
      'expected key=value[,key=value], e.g. --node-selector kubernetes.io/arch=amd64,pool=tracing',
    );
  const parts = input.split(',').map((s) => s.trim());
  if (parts.every((p) => p === '')) throw bad('empty');
  for (const part of parts) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw bad(`"${part}" has no "="`);
    const key = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    // accept `key==value` like kubectl's selectors, but not != or other operators
    if (value.startsWith('=')) value = value.slice(1).trim();
    if (key.endsWith('!')) throw bad('only key=value is supported (no !=)');
    if (!validLabelKey(key)) throw bad(`"${key}" is not a valid label key`);
    if (!validLabelValue(value)) throw bad(`"${value}" is not a valid label value`);
    if (key in out && out[key] !== value) throw bad(`"${key}" is given twice`);
    out[key] = value;
  }
  return out;
}

export function parseImagePullPolicy(input: string): ImagePullPolicy {
  const found = IMAGE_PULL_POLICIES.find((p) => p.toLowerCase() === input.trim().toLowerCase());
  if (!found) {
    throw new UserError(
      `invalid --image-pull-policy "${input}": expected ${IMAGE_PULL_POLICIES.join(', ')}`,
    );
  }
  return found;
}

/** A loose check of an image reference: catches typos, not every invalid reference. */
export function validateImage(image: string): string {
  const v = image.trim();
  if (!/^[a-z0-9][a-z0-9._\-/:@]*$/i.test(v) || v.endsWith(':') || v.endsWith('/')) {
    throw new UserError(
      `invalid --image "${image}"`,
      'expected an image reference such as ghcr.io/kubectl-gadget/kubectl-gadget:0.1.0',
    );
  }
  return v;
}
