// Names shared by deploy, undeploy, the CLI's connection to the gadget pods and the daemon
// command. No imports: anything may load this file without slowing startup.

/** Port the daemon listens on inside each gadget pod (on the pod's loopback only). */
export const DAEMON_PORT = 8477;
/** `--listen` of the daemon in a gadget pod. */
export const DAEMON_LISTEN = `tcp://127.0.0.1:${DAEMON_PORT}`;

/** Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding and DaemonSet are all named this. */
export const GADGET_NAMESPACE = 'gadget';
export const GADGET_NAME = 'gadget';
/** Name of the daemon container in the gadget pod. */
export const GADGET_CONTAINER = 'gadget';

/** Label of the gadget pods, the one the CLI finds them by (the same as Inspektor Gadget's). */
export const POD_LABEL_KEY = 'k8s-app';
export const POD_LABEL_VALUE = 'gadget';
export const POD_SELECTOR = `${POD_LABEL_KEY}=${POD_LABEL_VALUE}`;

/** On every object deploy creates; undeploy finds them by it. */
export const MANAGED_BY_KEY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'kubectl-gadget';
export const MANAGED_BY_SELECTOR = `${MANAGED_BY_KEY}=${MANAGED_BY_VALUE}`;

/** Server-side apply field manager. */
export const FIELD_MANAGER = 'kubectl-gadget';

export const DEFAULT_IMAGE_REPOSITORY = 'ghcr.io/kubectl-gadget/kubectl-gadget';
export const defaultImage = (version: string): string => `${DEFAULT_IMAGE_REPOSITORY}:${version}`;

/** Where the image keeps the app (bin/run.js, dist/, build/, node_modules/). */
export const IMAGE_APP_DIR = '/app';
/** Host paths are mounted under this prefix in the gadget pod (HOST_ROOT). */
export const HOST_ROOT = '/host';

export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];
