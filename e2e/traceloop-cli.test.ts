// traceloop's CLI against a real daemon (its own bpffs pin directory) and real podman
// containers, with --remote:
//   - `start` while a session records says that it resumed it, with the settings in force, and
//     names the given flags it did not apply (also after a restart of the daemon);
//   - a container outside Kubernetes is named by its podman name, also one run with --rm that
//     is gone before the daemon's next periodic look: in `list`, in `show`, in close matches;
//   - `list` and `delete` apply -n/-c/--container-id/-l.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from './helpers/daemon.js';
import {
  ensureRootfs,
  podman,
  podmanSkip,
  removeContainer,
  runContainer,
  uniqueName,
  waitFor,
} from './fixtures/podman.js';

const skip = podmanSkip();

type Ev = Record<string, unknown>;

describe(
  'traceloop CLI: start on a running session, names, list/delete filters',
  { skip, concurrency: 1 },
  () => {
    let d: TestDaemon | undefined;
    const node = hostname();
    const a = uniqueName('tl-cli-a');
    const b = uniqueName('tl-cli-b');
    const quick = uniqueName('tl-cli-rm');
    const names = [a, b, quick];
    let sizes = '';
    let session = '';

    const cli = (args: string[]) => d!.cli(args);
    const ok = (args: string[]) => d!.ok(args);
    const list = (args: string[] = []): Promise<Ev[]> => d!.json(['traceloop', 'list', ...args]);
    const nameOf = (e: Ev): string => (e.container as Ev).name as string;
    const run = async (name: string, extra: string[] = []): Promise<void> => {
      const r = await runContainer(name, ['/bin/true'], { args: extra });
      assert.equal(r.code, 0, `podman run ${name}: ${r.stderr}`);
    };

    before(async () => {
      ensureRootfs();
      d = new TestDaemon('tl-cli');
      await d.start();
    });

    after(async () => {
      await d?.cleanup();
      for (const n of names) await removeContainer(n);
    });

    test('start on a running session: says it resumed, the settings in force, and the flags not applied', async () => {
      const first = await ok(['traceloop', 'start', ...names.flatMap((n) => ['-c', n])]);
      const m =
        /^traceloop: recording on node (\S+) \(session ([0-9a-f]{12})\): (the last 2048 syscalls of up to \d+ containers, [\d.]+ MiB of kernel memory)\n$/.exec(
          first.stdout,
        );
      assert.ok(m, first.stdout);
      assert.equal(m[1], node);
      session = m[2]!;
      sizes = m[3]!;
      const startedAt = (
        JSON.parse((await ok(['traceloop', 'start', '-o', 'json'])).stdout) as Ev[]
      )[0]!.startedAt as number;
      const resumed =
        `traceloop: already recording on node ${node} (session ${session}, started ` +
        `${new Date(startedAt).toISOString()}), resumed with its settings: ${sizes}; ` +
        `containers: container ${names.join(',')}; syscalls: all\n`;

      // the same settings (none given): resumed, nothing to warn about
      const same = await ok(['traceloop', 'start']);
      assert.equal(same.stdout, resumed);
      assert.equal(same.stderr, '');

      const other = await ok([
        'traceloop',
        'start',
        '-c',
        'other',
        '--syscall-filter',
        'openat,execve',
        '--syscalls',
        '4096',
        '--max-memory',
        '32',
      ]);
      assert.equal(other.stdout, resumed);
      assert.equal(
        other.stderr,
        `warning: node ${node}: not applied, the running session keeps its settings: -c other, ` +
          '--syscall-filter openat,execve, --syscalls 4096, --max-memory 32; to change them, ' +
          '`traceloop delete` (drops the recordings), then `traceloop start`\n',
      );

      // a daemon that resumed the pinned session at its start says the same
      await d!.stop('SIGTERM');
      await d!.start();
      const again = await ok(['traceloop', 'start', '--syscalls', '2000']);
      assert.equal(again.stdout, resumed);
      assert.equal(again.stderr, '', '2000 rounds up to the 2048 in force');
    });

    test('a podman container is named by its podman name, also when run with --rm', async () => {
      await run(quick, ['--rm']);
      await run(a);
      const entries = await waitFor(async () => {
        const l = await list();
        return l.some((e) => nameOf(e) === a) ? l : undefined;
      }, 15_000);
      const mine = entries.filter((e) => nameOf(e) === quick);
      assert.equal(
        mine.length,
        1,
        `the --rm container by its name: ${entries.map(nameOf).join(', ')}`,
      );
      assert.ok(!entries.some((e) => nameOf(e) === node), `no recording named ${node}`);
      assert.equal(mine[0]!.exitStatus, 0);

      const table = (await ok(['traceloop', 'list'])).stdout;
      assert.match(
        table,
        new RegExp(`^${node}\\s+${quick}\\s+[0-9a-f]{12}\\s+\\d+\\s+exited `, 'm'),
      );
      const shown = await ok(['traceloop', 'show', quick, '--last', '1']);
      assert.match(shown.stdout, /exited with 0/);
      const typo = await cli(['traceloop', 'show', quick.slice(0, -1) + 'x']);
      assert.equal(typo.code, 1);
      assert.match(typo.stderr, new RegExp(`; close matches: ${quick}(, |\\n)`));
    });

    test('a container whose runtime state the daemon cannot read: runtime and id, not the host name', async () => {
      // a daemon that looks for runtime state under an empty HOST_ROOT (/proc stays the host's)
      const hostRoot = mkdtempSync('/tmp/kgtest-tl-cli-root-');
      const d2 = new TestDaemon('tl-cli-noroot', { env: { HOST_ROOT: hostRoot } });
      const cli2 = (args: string[]) => d2.cli(args);
      const anon = uniqueName('tl-cli-anon');
      names.push(anon);
      try {
        await d2.start();
        const created = await runContainer(anon, ['/bin/true'], { create: true, args: ['--rm'] });
        assert.equal(created.code, 0, created.stderr);
        const id = created.stdout.trim().split('\n').pop()!;
        assert.match(id, /^[0-9a-f]{64}$/);
        const st = await cli2(['traceloop', 'start', '--container-id', id]);
        assert.equal(st.code, 0, st.stderr);
        assert.equal((await podman(['start', '-a', anon])).code, 0);
        // named after 10 s without a runtime's word (exited, gone)
        const entry = await waitFor(async () => {
          const r = await cli2(['traceloop', 'list', '-o', 'json']);
          const l = JSON.parse(r.stdout || '[]') as Ev[];
          return l.find((e) => ((e.container as Ev).id as string) === id);
        }, 30_000);
        const ct = entry.container as Ev;
        assert.equal(ct.name, '', JSON.stringify(ct));
        assert.equal(ct.runtime, 'podman');
        const table = (await cli2(['traceloop', 'list'])).stdout;
        assert.match(
          table,
          new RegExp(`^${node}\\s+podman:${id.slice(0, 12)}\\s+${id.slice(0, 12)}\\s`, 'm'),
        );
        const shown = await cli2(['traceloop', 'show', id.slice(0, 12), '--last', '1']);
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, /exited with 0/);
        const typo = await cli2(['traceloop', 'show', node.slice(0, -1)]);
        assert.equal(typo.code, 1);
        assert.doesNotMatch(
          typo.stderr,
          new RegExp(`\\b${node}\\b`),
          'the host name is no recording',
        );
      } finally {
        await d2.cleanup();
        rmSync(hostRoot, { recursive: true, force: true });
      }
    });

    test('list and delete apply -n, -c, --container-id and -l', async () => {
      await run(b);
      await waitFor(async () => (await list(['-c', b])).length === 1, 15_000);

      assert.deepEqual((await list(['-c', a])).map(nameOf), [a]);
      assert.deepEqual((await list(['-c', a, '-c', b])).map(nameOf).sort(), [a, b].sort());
      const idB = ((await list(['-c', b]))[0]!.container as Ev).id as string;
      assert.deepEqual((await list(['--container-id', idB.slice(0, 12)])).map(nameOf), [b]);
      // podman containers have no namespace and no labels
      assert.deepEqual(await list(['-n', 'default']), []);
      assert.deepEqual(await list(['-l', 'app=web']), []);
      const cols = (await ok(['traceloop', 'list', '-c', b])).stdout.trim().split('\n');
      assert.equal(cols.length, 2, cols.join('\n'));
      assert.match(cols[1]!, new RegExp(`\\s${b}\\s`));

      const bad = await cli(['traceloop', 'list', '-l', 'app in (web']);
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /^Error: .*label selector/im);

      const none = await cli(['traceloop', 'delete', '-c', 'kgtest-no-such']);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /^Error: no recording matches container kgtest-no-such$/m);

      const del = await ok(['traceloop', 'delete', '-c', a]);
      assert.equal(
        del.stdout,
        `traceloop: deleted 1 recording(s) matching container ${a}; recording goes on\n`,
      );
      const left = (await list()).map(nameOf);
      assert.ok(!left.includes(a), left.join(', '));
      assert.ok(left.includes(b) && left.includes(quick), left.join(', '));
      // the session goes on
      const s = JSON.parse((await ok(['traceloop', 'start', '-o', 'json'])).stdout) as Ev[];
      assert.equal(s[0]!.sessionId, session);
    });
  },
);
