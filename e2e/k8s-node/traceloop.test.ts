// traceloop on the real node (scripts/k8s/up.sh --node): a pod in CrashLoopBackOff is recorded
// from its first syscall by the gadget pod's daemon, named by namespace/pod/container although
// each instance lives for milliseconds, read after it died and after the pod was deleted, kept
// across a restart of the gadget pod, and removed from the node by `undeploy`.
//
//   node scripts/run-tests.mjs integration k8s-node/traceloop
//
// Starts its own cluster in /tmp/kgadget-e2e-node (and removes it), unless
// KGADGET_NODE_KUBECONFIG names a running one (see cluster.ts).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { liveObjects } from '../helpers/bpf.js';
import { Cli, marker, sleep } from '../helpers/cli.js';
import {
  applyPods,
  clusterUp,
  createNamespace,
  deployGadget,
  gadgetPod,
  gadgetRun,
  kubectl,
  kubectlOk,
  ok,
  podYaml,
  skipReason,
  teardown,
  waitFor,
  waitPodsReady,
  type Cluster,
} from './cluster.js';

const skip = skipReason();
const NS = `kgn-tl-${randomBytes(3).toString('hex')}`;
const OTHER_NS = `${NS}-other`;
const PIN_DIR = '/sys/fs/bpf/kubectl-gadget/traceloop';
const MISSING = `/kg-missing-${marker('cfg')}`;
// what a crashing app does: read its config, fail to find a file, exit 7
const CRASH = ['/bin/sh', '-c', `cat /etc/hostname >/dev/null; ls ${MISSING}; exit 7`];
const SLEEP = [
  '/bin/sh',
  '-c',
  'trap "exit 0" TERM; while :; do cat /proc/uptime >/dev/null; sleep 1; done',
];

/** `traceloop list -o json`: the daemon's entries */
interface Entry {
  node: string;
  container: {
    id: string;
    runtime: string;
    state: string;
    k8s?: { namespace: string; pod: string; container: string };
  };
  instance: number;
  status: string;
  exitStatus?: number;
  records: number;
}
interface ListEntry {
  node: string;
  namespace: string;
  pod: string;
  container: string;
  container_id: string;
  runtime: string;
  state: string;
  exitCode: number | undefined;
  records: number;
}

function flat(e: Entry): ListEntry {
  return {
    node: e.node,
    namespace: e.container.k8s?.namespace ?? '',
    pod: e.container.k8s?.pod ?? '',
    container: e.container.k8s?.container ?? '',
    container_id: e.container.id,
    runtime: e.container.runtime,
    state: e.container.state,
    // wait status: exit code in bits 8..15
    exitCode: e.exitStatus === undefined ? undefined : (e.exitStatus >> 8) & 0xff,
    records: e.records,
  };
}
interface ShowRecord {
  kind: string;
  comm: string;
  syscall: string;
  params: string;
  ret: number | null;
  error: string;
}

let cluster: Cluster | undefined;
const c = (): Cluster => {
  assert.ok(cluster, 'cluster');
  return cluster;
};
const tl = (args: string[]): ReturnType<typeof gadgetRun> => gadgetRun(c(), ['traceloop', ...args]);

function list(): ListEntry[] {
  return (JSON.parse(ok(tl(['list', '-A', '-o', 'json']), 'traceloop list')) as Entry[]).map(flat);
}

function show(ref: string, extra: string[] = []): { records: ShowRecord[]; stderr: string } {
  const r = tl(['show', '-n', NS, ref, '-o', 'json', ...extra]);
  const out = ok(r, `traceloop show ${ref}`);
  const records = out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ShowRecord);
  return { records, stderr: r.stderr };
}

/** The crash's own story, oldest first: what an engineer reads at 3 a.m. */
function assertCrashTail(records: ShowRecord[]): void {
  const last = records.slice(-2);
  assert.deepEqual(
    last.map((x) => [x.kind, x.comm, x.syscall, x.params, x.ret]),
    [
      ['syscall', 'sh', 'exit_group', '7', null],
      ['exit', 'sh', 'exit', 'exited with 7', 7],
    ],
    JSON.stringify(records.slice(-6)),
  );
  // ls looked for the file and failed, and said so on stderr
  const stat = records.find((x) => x.comm === 'ls' && x.params.includes(`"${MISSING}"`));
  assert.ok(stat, `a syscall of ls on ${MISSING}: ${JSON.stringify(records.slice(-20))}`);
  assert.match(stat.syscall, /^(newfstatat|stat|lstat|statx|fstatat64)$/);
  assert.equal(stat.error, 'ENOENT');
  assert.equal(stat.ret, -2);
  const write = records.find(
    (x) => x.comm === 'ls' && x.syscall === 'write' && x.params.startsWith('2, "ls: '),
  );
  assert.ok(write, 'the error message ls wrote to stderr');
  assert.ok(
    records.some((x) => x.kind === 'exit' && x.comm === 'ls' && x.params === 'exited with 1'),
    'ls exited with 1',
  );
}

describe('traceloop on the local Kubernetes node', { skip, timeout: 30 * 60_000 }, () => {
  before(
    () => {
      cluster = clusterUp();
      createNamespace(c(), NS);
      createNamespace(c(), OTHER_NS);
      deployGadget(c());
      // a stale session (an earlier run on a reused cluster) would keep its filter
      tl(['delete']);
    },
    { timeout: 25 * 60_000 },
  );

  after(() => teardown(cluster, [NS, OTHER_NS]), { timeout: 5 * 60_000 });

  test('start -n records a pod in CrashLoopBackOff from its first syscall, named', async () => {
    const started = ok(tl(['start', '-n', NS]), 'traceloop start');
    assert.match(started, /^traceloop: recording on node kgnode \(session [0-9a-f]{12}\)/);
    applyPods(c(), OTHER_NS, [{ name: 'busy', containers: [{ name: 'main', command: SLEEP }] }]);
    applyPods(c(), NS, [{ name: 'crasher', containers: [{ name: 'app', command: CRASH }] }]);
    waitPodsReady(c(), OTHER_NS, ['busy']);
    // the kubelet restarts it at once, then after a back-off: two instances come quickly
    let seen: ListEntry[] = [];
    const entries = await waitFor(
      () => {
        seen = list();
        const l = seen.filter((e) => e.pod === 'crasher');
        return l.length >= 2 && l.every((e) => e.state === 'exited') && l;
      },
      90_000,
      'two exited instances of crasher in traceloop list',
      1000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last list: ${JSON.stringify(seen)}`);
    });
    for (const e of entries) {
      assert.equal(e.node, 'kgnode');
      assert.equal(e.namespace, NS);
      assert.equal(e.container, 'app');
      assert.equal(e.runtime, 'containerd');
      assert.match(e.container_id, /^[0-9a-f]{64}$/);
      assert.equal(e.exitCode, 7, JSON.stringify(e));
      assert.ok(e.records > 50, `records of ${JSON.stringify(e)}`);
    }
    const table = ok(tl(['list', '-A']), 'traceloop list (columns)');
    assert.match(
      table,
      /^kgnode +\S+ +crasher +app +[0-9a-f]{12} +\d+ +exited \S+ \(exited with 7\) +\d+$/m,
    );
    // the container ids are the ones the kubelet reports
    const pod = JSON.parse(kubectlOk(c(), ['-n', NS, 'get', 'pod', 'crasher', '-o', 'json'])) as {
      status: {
        containerStatuses: Array<{
          containerID?: string;
          lastState?: { terminated?: { containerID?: string } };
        }>;
      };
    };
    const st = pod.status.containerStatuses[0]!;
    const reported = [st.containerID, st.lastState?.terminated?.containerID]
      .filter((x): x is string => !!x)
      .map((x) => x.replace('containerd://', ''));
    assert.ok(
      reported.some((id) => entries.some((e) => e.container_id === id)),
      `kubelet ids ${reported.join(',')} among ${entries.map((e) => e.container_id).join(',')}`,
    );
    // -n NS: nothing of the other namespace, nor the gadget pod itself
    const all = list();
    assert.deepEqual(
      all.filter((e) => e.namespace !== NS),
      [],
      'recordings outside the session filter',
    );
  });

  test('show pod/container: the last syscalls before the crash, newest instance, --instance', () => {
    const { records, stderr } = show('crasher/app');
    assertCrashTail(records);
    const m = /showing instance (\d+); other instances: (\d+)/.exec(stderr);
    assert.ok(m, `instances listed on stderr: ${stderr}`);
    assert.ok(Number(m[1]) > Number(m[2]), 'the newest instance is shown');
    const older = show('crasher', ['--instance', m[2]!]);
    assertCrashTail(older.records);
    assert.notDeepEqual(older.records, records, 'another instance, other records');
  });

  test('columns: TIME CPU PID COMM SYSCALL PARAMS RET with errno names', () => {
    const out = ok(tl(['show', '-n', NS, 'crasher', '--last', '40']), 'show columns');
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0]!, /^TIME +CPU +PID +COMM +SYSCALL +PARAMS +RET$/);
    assert.ok(
      lines.some((l) => l.includes(`"${MISSING}"`) && / ENOENT$/.test(l)),
      out,
    );
    assert.match(lines.at(-1)!, / sh +\+\+\+ exit +exited with 7 +7$/);
  });

  test('show works after the pod is deleted, and after the gadget pod restarts', async () => {
    ok(
      kubectl(c(), ['-n', NS, 'delete', 'pod', 'crasher', '--wait=true', '--timeout=60s']),
      'delete pod crasher',
    );
    assertCrashTail(show('crasher/app').records);
    const before = list().filter((e) => e.pod === 'crasher');
    const old = gadgetPod(c());
    kubectlOk(c(), ['-n', 'gadget', 'delete', 'pod', old.name, '--wait=true', '--timeout=60s']);
    await waitFor(
      () => {
        try {
          return gadgetPod(c()).name !== old.name;
        } catch {
          return false;
        }
      },
      90_000,
      'a new gadget pod',
      1000,
    );
    const afterRestart = await waitFor(
      () => {
        const r = tl(['list', '-A', '-o', 'json']);
        if (r.status !== 0) return false;
        const l = (JSON.parse(r.stdout) as Entry[]).map(flat).filter((e) => e.pod === 'crasher');
        return l.length >= before.length && l;
      },
      60_000,
      'the recordings listed by the new daemon',
      1000,
    );
    for (const e of before) {
      const same = afterRestart.find((x) => x.container_id === e.container_id);
      assert.ok(same, `recording ${e.container_id} kept across the daemon restart`);
      assert.equal(same.records, e.records);
      assert.equal(same.namespace, NS);
    }
    assertCrashTail(show('crasher/app').records);
  });

  test('an unknown pod: "no recording for X" with close matches', () => {
    const r = tl(['show', '-n', NS, 'crashr']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /no recording for crashr.*crasher/);
  });

  // issue 10 #1 and #2: `trace exec` beside traceloop, pods started one after another (each
  // gets the mount namespace inode of the one before); list and delete filter by namespace
  test('beside trace exec, pods one after another: one instance each, whole life; list/delete -n', async () => {
    ok(tl(['delete']), 'traceloop delete');
    ok(tl(['start', '-n', `${NS},${OTHER_NS}`]), 'traceloop start');
    const exec = new Cli(
      ['trace', 'exec', '-n', NS, '-o', 'json', '--timeout', '120', '--kubeconfig', c().kubeconfig],
      { env: { KUBECONFIG: c().kubeconfig } },
    );
    try {
      // attached within a second or two (no pod of NS runs to trigger a ready event); the
      // check below that it saw once3's command proves it ran beside the recording
      await sleep(3000);
      const m = marker('once');
      const pods = ['once1', 'once2', 'once3'];
      for (const [i, name] of pods.entries()) {
        const pod = JSON.parse(
          podYaml(NS, {
            name,
            containers: [
              {
                name: 'app',
                command: [
                  '/bin/sh',
                  '-c',
                  `echo ${m}-begin-${i}; /bin/true; sleep 1; echo ${m}-end-${i}`,
                ],
              },
            ],
          }),
        ) as { spec: Record<string, unknown> };
        pod.spec.restartPolicy = 'Never';
        kubectlOk(c(), ['apply', '-f', '-'], JSON.stringify(pod));
        await waitFor(
          () =>
            kubectl(c(), ['-n', NS, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'])
              .stdout === 'Succeeded',
          90_000,
          `${name} succeeded`,
          200,
        );
      }
      // trace exec ran beside traceloop: it saw the pods' commands
      await exec.waitForEvent(
        (e) => Array.isArray(e.args) && (e.args as string[]).join(' ').includes(`${m}-end-2`),
        30_000,
        'the exec of once3',
      );
      const entries = await waitFor(
        () => {
          const l = list().filter((e) => pods.includes(e.pod));
          return pods.every((p) => l.some((e) => e.pod === p && e.exitCode !== undefined)) && l;
        },
        30_000,
        'the once pods listed, exited',
        1000,
      );
      for (const [i, name] of pods.entries()) {
        const mine = entries.filter((e) => e.pod === name);
        assert.equal(mine.length, 1, `${name}: one instance: ${JSON.stringify(entries)}`);
        assert.equal(mine[0]!.exitCode, 0);
        const { records } = show(name);
        const writes = records
          .filter((r) => r.syscall === 'write' && r.params.includes(m))
          .map((r) => /"([^"\\]*)\\n"/.exec(r.params)?.[1]);
        assert.deepEqual(
          writes,
          [`${m}-begin-${i}`, `${m}-end-${i}`],
          `${name}: its marker writes`,
        );
        assert.equal(records.at(-1)!.params, 'exited with 0');
      }

      // list -n: only that namespace (busy, in the other one, is recorded too)
      const byNs = (ns: string): Entry[] =>
        JSON.parse(ok(tl(['list', '-n', ns, '-o', 'json']), `traceloop list -n ${ns}`)) as Entry[];
      await waitFor(
        () => list().some((e) => e.namespace === OTHER_NS),
        30_000,
        'busy recorded',
        1000,
      );
      const mineNs = byNs(NS).map(flat);
      assert.ok(
        mineNs.length >= 3 && mineNs.every((e) => e.namespace === NS),
        JSON.stringify(mineNs),
      );
      const other = byNs(OTHER_NS).map(flat);
      assert.ok(other.length >= 1 && other.every((e) => e.pod === 'busy'), JSON.stringify(other));
      const del = ok(tl(['delete', '-n', OTHER_NS]), 'traceloop delete -n');
      assert.match(
        del,
        new RegExp(
          `^traceloop: deleted [1-9]\\d* recording\\(s\\) matching namespace ${OTHER_NS}; recording goes on$`,
          'm',
        ),
      );
      const left = list();
      assert.deepEqual(
        left.filter((e) => e.namespace === OTHER_NS),
        [],
      );
      assert.ok(
        left.some((e) => e.pod === 'once1'),
        "the other namespace's recordings stay",
      );
    } finally {
      await exec.stop('SIGINT');
    }
  });

  test('undeploy removes the pinned recordings from the node', async () => {
    assert.ok(existsSync(PIN_DIR), 'recordings pinned while deployed');
    const r = gadgetRun(c(), ['undeploy', '--wait', '--timeout', '120']);
    const out = ok(r, 'undeploy');
    assert.match(out, /^node kgnode: traceloop recordings removed \([1-9]\d*\)$/m);
    await waitFor(() => !existsSync(PIN_DIR), 30_000, `${PIN_DIR} removed`);
    await waitFor(
      () => {
        const live = liveObjects();
        return (
          !live.progs.some((p) => p.name?.startsWith('tl_')) &&
          !live.maps.some((m) => m.name?.startsWith('tl_'))
        );
      },
      30_000,
      'no traceloop program or map left in the kernel',
    );
  });
});
