// `kubectl gadget deploy` and `undeploy`: server-side apply of the objects from manifests.ts
// (field manager kubectl-gadget, forced, so a second deploy upgrades in place), rollout progress
// per node, and deletion of everything deploy made (found by the managed-by label).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type {
  KubernetesListObject,
  KubernetesObject,
  V1DaemonSet,
  V1Namespace,
  V1Pod,
} from '@kubernetes/client-node';
import { packageRoot } from '#gadgets/framework/paths.js';
import { UserError } from '../../errors.js';
import { Cluster, connect, describe } from '../../runtimes/k8s/client.js';
import {
  FIELD_MANAGER,
  GADGET_NAME,
  GADGET_NAMESPACE,
  MANAGED_BY_KEY,
  MANAGED_BY_SELECTOR,
  MANAGED_BY_VALUE,
  POD_SELECTOR,
  defaultImage,
} from '../../runtimes/k8s/constants.js';
import type { KubeFlags } from '../../runtimes/k8s/kubeconfig.js';
import {
  IMAGE_DIGEST_ANNOTATION,
  buildManifests,
  manifestList,
  manifestsYaml,
  parseImagePullPolicy,
  parseNodeSelector,
  validateImage,
  type GadgetObject,
} from './manifests.js';
import { nodeLine, rolloutState, type RolloutState } from './rollout.js';

type Out = Writable;

export interface DeployOptions extends KubeFlags {
  /** kubectl-gadget's version: the default image tag and the version label */
  version: string;
  image?: string;
  imagePullPolicy?: string;
  nodeSelector?: string;
  /** add CAP_SYS_ADMIN for the runtime exec watch (default true; --no-sys-admin) */
  sysAdmin?: boolean;
  /** the daemons redact secrets (default true; --no-redact) */
  redact?: boolean;
  /** --redact-pattern: more patterns for the daemons (validated here first) */
  redactPatterns?: string[];
  printOnly?: boolean;
  wait?: boolean;
  /** seconds for --wait; 0 = no limit */
  timeout?: number;
  stdout?: Out;
  /** poll interval of --wait (tests) */
  pollMs?: number;
}

export const DEFAULT_TIMEOUT_S = 120;

/** What image/build-local.sh wrote beside its archive: the content a local tag names now. */
export interface ImageRecord {
  image: string;
  /** manifest digest */
  digest: string;
  /** image id (config digest) */
  id: string;
  buildId: string;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function imageRecordPath(): string {
  const archive =
    process.env.KGADGET_IMAGE_ARCHIVE ??
    join(packageRoot(), 'build', 'image', 'kubectl-gadget.oci.tar');
  return `${archive}.json`;
}

/**
 * The record of the image this checkout built last, when it is `image`: registries are not asked
 * (a re-pushed tag is not detected; docs/deploy.md), a digest reference needs no record.
 */
export function localImageRecord(image: string, file = imageRecordPath()): ImageRecord | undefined {
  if (image.includes('@')) return undefined;
  let r: Partial<ImageRecord>;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as Partial<ImageRecord>;
  } catch {
    return undefined; // no local build (an installed CLI), or a half-written file
  }
  if (r.image !== image || !DIGEST_RE.test(r.digest ?? '')) return undefined;
  return {
    image,
    digest: r.digest!,
    id: typeof r.id === 'string' ? r.id : '',
    buildId: typeof r.buildId === 'string' ? r.buildId : '',
  };
}

function objectsFor(opts: DeployOptions): { objects: GadgetObject[]; record?: ImageRecord } {
  // every flag is checked before anything is contacted
  const image = validateImage(opts.image ?? defaultImage(opts.version));
  const record = localImageRecord(image);
  const manifests = buildManifests({
    image,
    version: opts.version,
    ...(record ? { imageDigest: record.digest } : {}),
    ...(opts.imagePullPolicy
      ? { imagePullPolicy: parseImagePullPolicy(opts.imagePullPolicy) }
      : {}),
    ...(opts.nodeSelector !== undefined
      ? { nodeSelector: parseNodeSelector(opts.nodeSelector) }
      : {}),
    ...(opts.sysAdmin === false ? { sysAdmin: false } : {}),
    ...(opts.redact === false ? { redact: false } : {}),
    ...(opts.redactPatterns?.length ? { redactPatterns: opts.redactPatterns } : {}),
  });
  return { objects: manifestList(manifests), ...(record ? { record } : {}) };
}

const write = (out: Out, s: string): void => {
  out.write(s);
};

export type ApplyResult = 'created' | 'configured' | 'unchanged';

export async function deploy(opts: DeployOptions): Promise<void> {
  const out = opts.stdout ?? process.stdout;
  // a pattern the daemons would refuse fails here, not in a crash-looping pod
  if (opts.redactPatterns?.length || opts.redact === false) {
    const { checkRedactFlags, compileUserPatterns } =
      await import('#gadgets/framework/redact-patterns.js');
    try {
      checkRedactFlags(opts.redact, opts.redactPatterns ?? []);
      await compileUserPatterns(opts.redactPatterns ?? []);
    } catch (e) {
      const err = e as Error & { hint?: string };
      throw err.name === 'RunError' ? new UserError(err.message, err.hint) : err;
    }
  }
  const { objects, record } = objectsFor(opts);
  if (opts.printOnly) {
    write(out, await manifestsYaml(objects));
    return;
  }
  const timeoutS = opts.timeout ?? DEFAULT_TIMEOUT_S;
  const deadline = timeoutS > 0 ? Date.now() + timeoutS * 1000 : Infinity;
  const cluster = await connect(opts);

  // what is there already: to say created/configured/unchanged, and to refuse to take over
  // objects another tool made (Inspektor Gadget uses the same namespace and labels)
  // read in parallel, but report a failure in object order (the namespace first), not whichever
  // answer came back first
  const reads = await Promise.allSettled(
    objects.map((o) => cluster.read<KubernetesObject>(ref(o))),
  );
  const failed = reads.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const before = reads.map(
    (r) => (r as PromiseFulfilledResult<KubernetesObject | undefined>).value,
  );
  objects.forEach((o, i) => {
    const existing = before[i];
    if (
      existing &&
      existing.metadata?.labels?.[MANAGED_BY_KEY] !== MANAGED_BY_VALUE &&
      !existing.metadata?.deletionTimestamp
    ) {
      throw new UserError(
        `${describe(o)}${o.metadata?.namespace ? ` in namespace ${o.metadata.namespace}` : ''} exists and was not created by kubectl-gadget (no ${MANAGED_BY_KEY}=${MANAGED_BY_VALUE} label)`,
        `is another tool (e.g. Inspektor Gadget) deployed? remove it first, e.g. kubectl delete ${(o.kind ?? '').toLowerCase()} ${o.metadata?.name}${o.kind === 'Namespace' || !o.metadata?.namespace ? '' : ` -n ${o.metadata.namespace}`}`,
      );
    }
  });

  let applied: KubernetesObject | undefined;
  for (const [i, obj] of objects.entries()) {
    applied = await apply(cluster, obj);
    if (obj.kind === 'Namespace' && isTerminating(applied as V1Namespace)) {
      write(
        out,
        `namespace/${GADGET_NAMESPACE} is being deleted (an earlier undeploy): waiting for it to go\n`,
      );
      await waitGone(cluster, [ref(obj)], deadline, timeoutS);
      applied = await apply(cluster, obj);
      before[i] = undefined;
    }
    write(out, `${describe(obj)} ${applyResult(before[i], applied)}\n`);
  }

  const ds = applied as V1DaemonSet;
  write(out, imageLine(before[before.length - 1] as V1DaemonSet | undefined, ds, record));

  if (opts.wait)
    await waitRollout(cluster, ds, { out, deadline, timeoutS, pollMs: opts.pollMs ?? 1000 });
  else
    write(
      out,
      `kubectl-gadget deployed; to follow the rollout: kubectl gadget deploy --wait, or kubectl -n ${GADGET_NAMESPACE} get pods -l ${POD_SELECTOR} -o wide\n`,
    );
}

const shortDigest = (d: string | undefined): string => (d ?? '').slice(0, 'sha256:'.length + 12);

/** The image line of deploy: which image, and whether its content changed. */
export function imageLine(
  prev: V1DaemonSet | undefined,
  ds: V1DaemonSet,
  record: ImageRecord | undefined,
): string {
  const image = ds.spec?.template.spec?.containers[0]?.image ?? '';
  const prevImage = prev?.spec?.template.spec?.containers[0]?.image;
  const digest = ds.spec?.template.metadata?.annotations?.[IMAGE_DIGEST_ANNOTATION];
  const prevDigest = prev?.spec?.template.metadata?.annotations?.[IMAGE_DIGEST_ANNOTATION];
  const built = record
    ? ` (${shortDigest(record.digest)}${record.buildId ? `, build ${record.buildId}` : ''})`
    : '';
  if (prevImage && prevImage !== image) return `image: ${prevImage} -> ${image}${built}\n`;
  if (prevImage && digest && prevDigest !== digest) {
    return `image: ${image}: content changed (${prevDigest ? shortDigest(prevDigest) : 'unknown'} -> ${shortDigest(digest)}${record?.buildId ? `, build ${record.buildId}` : ''}), the pods roll\n`;
  }
  if (prevImage && !digest && !image.includes('@')) {
    return (
      `image: ${image} (the same tag as before: an image pushed again under it is not rolled out;` +
      ` use a new tag or IMAGE@sha256:..., or kubectl -n ${GADGET_NAMESPACE} rollout restart daemonset/${GADGET_NAME})\n`
    );
  }
  return `image: ${image}${built}\n`;
}

function ref(o: KubernetesObject): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
} {
  return {
    apiVersion: o.apiVersion!,
    kind: o.kind!,
    metadata: {
      name: o.metadata!.name!,
      ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
    },
  };
}

async function apply(cluster: Cluster, obj: GadgetObject): Promise<KubernetesObject> {
  const { PatchStrategy } = cluster.k8s;
  return cluster.call(`apply ${describe(obj)}`, () =>
    cluster.api.patch(
      obj,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    ),
  );
}

function isTerminating(ns: V1Namespace | undefined): boolean {
  return ns?.status?.phase === 'Terminating' || ns?.metadata?.deletionTimestamp !== undefined;
}

export function applyResult(
  before: KubernetesObject | undefined,
  after: KubernetesObject,
): ApplyResult {
  if (!before || before.metadata?.uid !== after.metadata?.uid) return 'created';
  return before.metadata?.resourceVersion === after.metadata?.resourceVersion
    ? 'unchanged'
    : 'configured';
}

// ---- --wait

interface WaitOptions {
  out: Out;
  deadline: number;
  timeoutS: number;
  pollMs: number;
}

async function waitRollout(cluster: Cluster, applied: V1DaemonSet, w: WaitOptions): Promise<void> {
  const started = Date.now();
  const shown = new Map<string, string>();
  let lastSummary = '';
  let state: RolloutState | undefined;
  write(
    w.out,
    `waiting for the gadget pods${w.timeoutS > 0 ? ` (timeout ${w.timeoutS}s)` : ''}:\n`,
  );
  for (;;) {
    const [ds, pods] = await Promise.all([
      cluster.read<V1DaemonSet>(ref(applied)),
      cluster.call(`list pods -n ${GADGET_NAMESPACE} -l ${POD_SELECTOR}`, () =>
        cluster.api.list<V1Pod>(
          'v1',
          'Pod',
          GADGET_NAMESPACE,
          undefined,
          undefined,
          undefined,
          undefined,
          POD_SELECTOR,
        ),
      ),
    ]);
    if (!ds)
      throw new UserError(
        `daemonset/${GADGET_NAME} in namespace ${GADGET_NAMESPACE} was deleted while waiting for it`,
      );
    state = rolloutState(ds, (pods as KubernetesListObject<V1Pod>).items);
    const width = Math.max(0, ...state.nodes.map((n) => n.node.length));
    for (const n of state.nodes) {
      const line = nodeLine(n, width);
      if (shown.get(n.node) !== line) {
        shown.set(n.node, line);
        write(w.out, line + '\n');
      }
    }
    if (state.observed) {
      const summary = `  ${state.ready}/${state.desired} nodes ready`;
      if (summary !== lastSummary && !state.done) write(w.out, summary + '\n');
      lastSummary = summary;
    }
    if (state.done) break;
    if (Date.now() >= w.deadline) throw rolloutTimeout(state, w.timeoutS);
    await sleep(Math.min(w.pollMs, Math.max(0, w.deadline - Date.now())));
  }
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  if (state.desired === 0) {
    write(
      w.out,
      'no node runs a gadget pod (0 scheduled): no node matches the node selector, or the cluster has no nodes\n',
    );
  } else {
    write(w.out, `kubectl-gadget ready on ${state.ready}/${state.desired} nodes (${secs}s)\n`);
  }
}

function rolloutTimeout(s: RolloutState, timeoutS: number): UserError {
  if (!s.observed) {
    return new UserError(
      `timed out after ${timeoutS}s: the DaemonSet controller has not processed daemonset/${GADGET_NAME} in namespace ${GADGET_NAMESPACE}`,
      'is kube-controller-manager running?',
    );
  }
  const bad = s.nodes.filter((n) => n.state !== 'ready');
  const first = bad.find((n) => n.state === 'failing') ?? bad[0];
  const list = bad
    .slice(0, 3)
    .map((n) => `${n.node}: ${n.state}${n.detail && n.detail !== n.state ? ` (${n.detail})` : ''}`)
    .join('; ');
  const more = bad.length > 3 ? `; and ${bad.length - 3} more` : '';
  const missing =
    s.desired - s.nodes.filter((n) => n.state !== 'old' && n.state !== 'terminating').length;
  const noPod = missing > 0 ? `; ${missing} node(s) have no pod yet` : '';
  const hint = first
    ? first.state === 'failing' && /CrashLoop|Error/.test(first.detail)
      ? `kubectl -n ${GADGET_NAMESPACE} logs ${first.pod}`
      : `kubectl -n ${GADGET_NAMESPACE} describe pod ${first.pod}`
    : `kubectl -n ${GADGET_NAMESPACE} describe daemonset ${GADGET_NAME}`;
  return new UserError(
    `timed out after ${timeoutS}s: ${s.ready}/${s.desired} nodes ready${list ? `; ${list}` : ''}${more}${noPod}`,
    `see: ${hint}`,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitGone(
  cluster: Cluster,
  refs: ReturnType<typeof ref>[],
  deadline: number,
  timeoutS: number,
  pollMs = 1000,
): Promise<void> {
  let left = refs;
  for (;;) {
    const objs = await Promise.all(left.map((r) => cluster.read<KubernetesObject>(r)));
    const remaining = left.map((r, i) => ({ r, obj: objs[i] })).filter((x) => x.obj !== undefined);
    if (remaining.length === 0) return;
    left = remaining.map((x) => x.r);
    if (Date.now() >= deadline) {
      const ns = remaining.find((x) => x.r.kind === 'Namespace');
      const blocked = ns ? namespaceBlocker(ns.obj as V1Namespace) : '';
      throw new UserError(
        `timed out after ${timeoutS}s waiting for ${left.map((r) => describe(r)).join(', ')} to be deleted${blocked ? `: ${blocked}` : ''}`,
        ns
          ? `kubectl get namespace ${ns.r.metadata.name} -o yaml shows what blocks the deletion (status.conditions)`
          : undefined,
      );
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
  }
}

/** Why a namespace is still there, from its deletion conditions. */
export function namespaceBlocker(ns: V1Namespace | undefined): string {
  const c = (ns?.status?.conditions ?? []).find(
    (c) => c.status === 'True' && c.type.startsWith('Namespace') && c.message,
  );
  return c?.message ?? '';
}

// ---- undeploy

export interface UndeployOptions extends KubeFlags {
  wait?: boolean;
  timeout?: number;
  stdout?: Out;
  pollMs?: number;
}

/** Kinds undeploy deletes, in order; the namespace takes the ServiceAccount and DaemonSet. */
const UNDEPLOY_KINDS = [
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' },
  { apiVersion: 'v1', kind: 'Namespace' },
] as const;

export async function undeploy(opts: UndeployOptions): Promise<void> {
  const out = opts.stdout ?? process.stdout;
  const timeoutS = opts.timeout ?? DEFAULT_TIMEOUT_S;
  const deadline = timeoutS > 0 ? Date.now() + timeoutS * 1000 : Infinity;
  const cluster = await connect(opts);

  const found: ReturnType<typeof ref>[] = [];
  const terminating = new Set<number>();
  for (const k of UNDEPLOY_KINDS) {
    const list = await cluster.call(`list ${k.kind.toLowerCase()}s -l ${MANAGED_BY_SELECTOR}`, () =>
      cluster.api.list(
        k.apiVersion,
        k.kind,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        MANAGED_BY_SELECTOR,
      ),
    );
    for (const o of list.items) {
      found.push(ref({ ...o, apiVersion: k.apiVersion, kind: k.kind }));
      if (o.metadata?.deletionTimestamp) terminating.add(found.length - 1);
    }
  }
  if (found.length === 0) {
    write(out, 'kubectl-gadget is not deployed: nothing to delete\n');
    return;
  }
  // traceloop's pinned recordings outlive the daemons on purpose: undeploy owns removing them
  if (!found.some((r, i) => r.kind === 'Namespace' && terminating.has(i))) {
    const { removeAllRecordings } = await import('../traceloop/traceloop.js');
    const removed = await removeAllRecordings(opts, (m) => write(out, `warning: ${m}\n`));
    for (const r of removed) {
      write(out, `node ${r.node}: traceloop recordings removed (${r.removed})\n`);
    }
  }
  for (const [i, r] of found.entries()) {
    if (terminating.has(i)) {
      write(out, `${describe(r)} is already being deleted\n`);
      continue;
    }
    const deleted = await cluster.callOrMissing(`delete ${describe(r)}`, () =>
      cluster.api.delete(r, undefined, undefined, undefined, undefined, 'Background'),
    );
    write(out, `${describe(r)} ${deleted ? 'deleted' : 'already gone'}\n`);
  }
  if (opts.wait) {
    write(
      out,
      `waiting for the objects to be gone${timeoutS > 0 ? ` (timeout ${timeoutS}s)` : ''}\n`,
    );
    await waitGone(cluster, found, deadline, timeoutS, opts.pollMs);
    write(out, 'kubectl-gadget undeployed\n');
  }
}
