import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { isUserError } from '../../errors.js';
import {
  DAEMON_LISTEN,
  DAEMON_PORT,
  MANAGED_BY_KEY,
  MANAGED_BY_VALUE,
} from '../../runtimes/k8s/constants.js';
import {
  buildManifests,
  CAPABILITIES,
  EXEC_WATCH_ENV,
  manifestList,
  manifestsYaml,
  parseImagePullPolicy,
  parseNodeSelector,
  SYS_ADMIN_CAP,
  validateImage,
} from './manifests.js';

const opts = { image: 'ghcr.io/kubectl-gadget/kubectl-gadget:0.1.0', version: '0.1.0' };
const m = buildManifests(opts);
const pod = m.daemonSet.spec!.template.spec!;
const container = pod.containers[0]!;

function userErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    return e.reason;
  }
  throw new Error('no error thrown');
}

test('container security context: not privileged, drops ALL, adds exactly BPF, PERFMON, SYS_PTRACE, NET_ADMIN and SYS_ADMIN (fanotify)', () => {
  assert.deepEqual(container.securityContext, {
    privileged: false,
    runAsUser: 0,
    runAsNonRoot: false,
    readOnlyRootFilesystem: true,
    capabilities: {
      drop: ['ALL'],
      add: ['BPF', 'PERFMON', 'SYS_PTRACE', 'NET_ADMIN', 'SYS_ADMIN'],
    },
    seccompProfile: { type: 'Unconfined' },
    appArmorProfile: { type: 'Unconfined' },
  });
  // (no allowPrivilegeEscalation key: Kubernetes rejects false together with SYS_ADMIN)
  assert.deepEqual([...CAPABILITIES], ['BPF', 'PERFMON', 'SYS_PTRACE', 'NET_ADMIN']);
  assert.equal(SYS_ADMIN_CAP, 'SYS_ADMIN');
  const added = container.securityContext!.capabilities!.add!;
  for (const forbidden of ['SYS_RESOURCE', 'NET_RAW', 'DAC_READ_SEARCH', 'DAC_OVERRIDE']) {
    assert.ok(!added.includes(forbidden), `${forbidden} must not be added`);
    assert.ok(!added.includes(`CAP_${forbidden}`), `CAP_${forbidden} must not be added`);
  }
  assert.ok(!(container.env ?? []).some((e) => e.name === EXEC_WATCH_ENV));
});

test('--no-sys-admin: no SYS_ADMIN, allowPrivilegeEscalation false, the exec watch off by env', () => {
  const c = buildManifests({ ...opts, sysAdmin: false }).daemonSet.spec!.template.spec!
    .containers[0]!;
  assert.deepEqual(c.securityContext, {
    privileged: false,
    allowPrivilegeEscalation: false,
    runAsUser: 0,
    runAsNonRoot: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_PTRACE', 'NET_ADMIN'] },
    seccompProfile: { type: 'Unconfined' },
    appArmorProfile: { type: 'Unconfined' },
  });
  assert.deepEqual(
    c.env!.find((e) => e.name === EXEC_WATCH_ENV),
    { name: 'KGADGET_EXEC_WATCH', value: 'off' },
  );
});

test('--no-redact and --redact-pattern: passed to the daemon after --kubernetes, --metrics-listen last', () => {
  const args = (o: Partial<Parameters<typeof buildManifests>[0]>): string[] | undefined =>
    buildManifests({ ...opts, ...o }).daemonSet.spec!.template.spec!.containers[0]!.args;
  const base = ['--listen', 'tcp://127.0.0.1:8477', '--node', '$(NODE_NAME)', '--kubernetes'];
  const metrics = ['--metrics-listen', '0.0.0.0:9477'];
  assert.deepEqual(args({ redact: true }), [...base, ...metrics]);
  assert.deepEqual(args({ redact: false }), [...base, '--no-redact', ...metrics]);
  assert.deepEqual(args({ redactPatterns: ['a(b)', '(?i)x: (\\S+)'] }), [
    ...base,
    '--redact-pattern',
    'a(b)',
    '--redact-pattern',
    '(?i)x: (\\S+)',
    ...metrics,
  ]);
});

test('pod: hostPID, no hostNetwork, every taint tolerated, linux nodes, short grace period', () => {
  assert.equal(pod.hostPID, true);
  assert.equal(pod.hostNetwork, false);
  assert.equal(pod.hostIPC, undefined);
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.equal(pod.terminationGracePeriodSeconds, 10);
  assert.equal(pod.serviceAccountName, 'gadget');
  assert.deepEqual(m.daemonSet.spec!.updateStrategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: 1 },
  });
  assert.deepEqual(m.daemonSet.spec!.selector, { matchLabels: { 'k8s-app': 'gadget' } });
  assert.equal(m.daemonSet.spec!.template.metadata!.labels!['k8s-app'], 'gadget');
});

test('container: daemon on the pod loopback, node name from the downward API, exec readiness probe', () => {
  assert.equal(DAEMON_PORT, 8477);
  assert.equal(DAEMON_LISTEN, 'tcp://127.0.0.1:8477');
  assert.equal(container.image, opts.image);
  assert.equal(container.imagePullPolicy, 'IfNotPresent');
  assert.deepEqual(container.command, ['/app/bin/run.js', 'daemon']);
  assert.deepEqual(container.args, [
    '--listen',
    'tcp://127.0.0.1:8477',
    '--node',
    '$(NODE_NAME)',
    '--kubernetes',
    '--metrics-listen',
    '0.0.0.0:9477',
  ]);
  assert.deepEqual(container.env, [
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    { name: 'HOST_ROOT', value: '/host' },
  ]);
  assert.deepEqual(container.readinessProbe?.exec?.command, [
    '/app/bin/run.js',
    'version',
    '--remote',
    'tcp://127.0.0.1:8477',
  ]);
  assert.equal(container.readinessProbe?.tcpSocket, undefined);
  // gRPC stays on the pod loopback; only the metrics endpoint is on the pod IP
  assert.deepEqual(container.ports, [{ name: 'metrics', containerPort: 9477 }]);
  assert.deepEqual(m.daemonSet.spec!.template.metadata!.annotations, {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': '9477',
    'prometheus.io/path': '/metrics',
  });
  assert.deepEqual(container.resources, { requests: { cpu: '50m', memory: '96Mi' } });
});

test('mounts: host paths read-only except bpffs, no Bidirectional propagation, writable /tmp', () => {
  const mounts = Object.fromEntries(container.volumeMounts!.map((v) => [v.mountPath, v]));
  const volumes = Object.fromEntries(pod.volumes!.map((v) => [v.name, v]));
  const expect: Array<[string, string, boolean]> = [
    ['/sys/fs/bpf', '/sys/fs/bpf', false],
    ['/sys/kernel/tracing', '/sys/kernel/tracing', true],
    ['/sys/kernel/debug', '/sys/kernel/debug', true],
    ['/host/proc', '/proc', true],
    ['/host/run', '/run', true],
    ['/host/usr', '/usr', true],
    ['/host/sys/fs/cgroup', '/sys/fs/cgroup', true],
  ];
  for (const [mountPath, hostPath, ro] of expect) {
    const mount = mounts[mountPath];
    assert.ok(mount, `${mountPath} is mounted`);
    assert.equal(mount.readOnly, ro, `${mountPath} readOnly`);
    assert.notEqual(mount.mountPropagation, 'Bidirectional');
    assert.equal(volumes[mount.name]?.hostPath?.path, hostPath);
  }
  assert.equal(mounts['/sys/fs/bpf']!.mountPropagation, 'HostToContainer');
  assert.deepEqual(volumes[mounts['/tmp']!.name]!.emptyDir, { sizeLimit: '64Mi' });
  assert.equal(container.volumeMounts!.length, expect.length + 1);
  assert.equal(pod.volumes!.length, expect.length + 1);
});

test('RBAC: exactly the rules the daemon needs, bound to the gadget ServiceAccount', () => {
  for (const r of m.clusterRole.rules!) {
    assert.ok(!r.verbs.includes('*') && !(r.resources ?? []).includes('*'), 'no wildcards');
    assert.equal(r.resourceNames, undefined);
  }
  assert.deepEqual(m.clusterRole.rules, [
    {
      apiGroups: [''],
      resources: ['pods', 'namespaces', 'nodes'],
      verbs: ['get', 'list', 'watch'],
    },
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
  ]);
  assert.deepEqual(m.clusterRoleBinding.roleRef, {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: 'gadget',
  });
  assert.deepEqual(m.clusterRoleBinding.subjects, [
    { kind: 'ServiceAccount', name: 'gadget', namespace: 'gadget' },
  ]);
});

test('every object carries the managed-by label; the namespace allows privileged pods', () => {
  const objs = manifestList(m);
  assert.deepEqual(
    objs.map((o) => `${o.kind}/${o.metadata!.name}`),
    [
      'Namespace/gadget',
      'ServiceAccount/gadget',
      'ClusterRole/gadget',
      'ClusterRoleBinding/gadget',
      'DaemonSet/gadget',
    ],
  );
  for (const o of objs) {
    assert.equal(o.metadata!.labels![MANAGED_BY_KEY], MANAGED_BY_VALUE, `${o.kind} managed-by`);
    assert.equal(o.metadata!.labels!['k8s-app'], 'gadget');
    assert.equal(o.metadata!.labels!['app.kubernetes.io/version'], '0.1.0');
  }
  assert.equal(m.namespace.metadata!.labels!['pod-security.kubernetes.io/enforce'], 'privileged');
  assert.equal(m.serviceAccount.metadata!.namespace, 'gadget');
  assert.equal(m.daemonSet.metadata!.namespace, 'gadget');
});

test('options: image pull policy, node selector merged over kubernetes.io/os', () => {
  const m2 = buildManifests({
    ...opts,
    imagePullPolicy: 'Never',
    nodeSelector: { pool: 'tracing', 'kubernetes.io/arch': 'amd64' },
  });
  const s = m2.daemonSet.spec!.template.spec!;
  assert.equal(s.containers[0]!.imagePullPolicy, 'Never');
  assert.deepEqual(s.nodeSelector, {
    'kubernetes.io/os': 'linux',
    pool: 'tracing',
    'kubernetes.io/arch': 'amd64',
  });
  // buildManifests does not share state between calls
  assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
});

test('--node-selector parsing', () => {
  assert.deepEqual(parseNodeSelector('a=b'), { a: 'b' });
  assert.deepEqual(parseNodeSelector(' kubernetes.io/arch=amd64 , pool=tracing '), {
    'kubernetes.io/arch': 'amd64',
    pool: 'tracing',
  });
  assert.deepEqual(parseNodeSelector('a==b'), { a: 'b' });
  assert.deepEqual(parseNodeSelector('empty='), { empty: '' });
  assert.deepEqual(parseNodeSelector('a=b,'), { a: 'b' });
  assert.deepEqual(parseNodeSelector('a=b,a=b'), { a: 'b' });
  assert.equal(
    userErrorOf(() => parseNodeSelector('')),
    'invalid --node-selector "": empty',
  );
  assert.equal(
    userErrorOf(() => parseNodeSelector('pool')),
    'invalid --node-selector "pool": "pool" has no "="',
  );
  assert.match(
    userErrorOf(() => parseNodeSelector('a!=b')),
    /only key=value is supported/,
  );
  assert.match(
    userErrorOf(() => parseNodeSelector('a b=c')),
    /"a b" is not a valid label key/,
  );
  assert.match(
    userErrorOf(() => parseNodeSelector('-a=c')),
    /not a valid label key/,
  );
  assert.match(
    userErrorOf(() => parseNodeSelector('Example.COM/a=c')),
    /not a valid label key/,
  );
  assert.match(
    userErrorOf(() => parseNodeSelector('a=b c')),
    /"b c" is not a valid label value/,
  );
  assert.match(
    userErrorOf(() => parseNodeSelector(`a=${'x'.repeat(64)}`)),
    /not a valid label value/,
  );
  assert.match(
    userErrorOf(() => parseNodeSelector('a=b,a=c')),
    /"a" is given twice/,
  );
});

test('--image-pull-policy and --image validation', () => {
  assert.equal(parseImagePullPolicy('never'), 'Never');
  assert.equal(parseImagePullPolicy('Always'), 'Always');
  assert.equal(
    userErrorOf(() => parseImagePullPolicy('sometimes')),
    'invalid --image-pull-policy "sometimes": expected Always, IfNotPresent, Never',
  );
  assert.equal(validateImage('localhost/kubectl-gadget:dev'), 'localhost/kubectl-gadget:dev');
  assert.equal(validateImage('registry:5000/a/b@sha256:abc'), 'registry:5000/a/b@sha256:abc');
  for (const bad of ['', 'has space:1', 'img:', 'repo/']) {
    assert.match(
      userErrorOf(() => validateImage(bad)),
      /^invalid --image/,
    );
  }
});

test('print-only YAML: five documents that parse back to the same objects', async () => {
  const objs = manifestList(m);
  const text = await manifestsYaml(objs);
  assert.ok(text.startsWith('---\n'));
  assert.ok(text.endsWith('\n'));
  const docs = parseAllDocuments(text);
  assert.ok(Array.isArray(docs));
  assert.equal(docs.length, 5);
  for (const [i, d] of docs.entries()) {
    assert.deepEqual(d.errors, []);
    assert.deepEqual(d.toJS(), JSON.parse(JSON.stringify(objs[i])));
  }
  // $(NODE_NAME) and the empty core API group survive the round trip
  assert.match(text, /- \$\(NODE_NAME\)\n/);
  assert.match(text, /- ""\n/);
});
