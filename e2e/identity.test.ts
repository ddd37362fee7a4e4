// Container identity of short-lived containers (issue 12): one-shot podman containers that live a
// few milliseconds are named with their own name and id, with and without a container filter.
// Real kernel, real podman (runc, cgroupfs). Run under `flock -s /tmp/kg-bench.lock`.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { marker, readyExec, sleep, startCli, waitReady } from './helpers/cli.js';
import type { Cli, Ev } from './helpers/cli.js';
import {
  cleanupTestContainers,
  ensureRootfs,
  execIn,
  podmanSkip,
  removeContainer,
  runContainer,
  startContainer,
  uniqueName,
} from './fixtures/podman.js';
import type { TestContainer } from './fixtures/podman.js';

const skip = podmanSkip();

interface OneShot {
  name: string;
  id: string;
  mark: string;
  code: number;
}

/** `podman run --rm` of `cmd`; the id comes from --cidfile (the container is gone after). */
async function oneShot(dir: string, name: string, mark: string, cmd: string[]): Promise<OneShot> {
  const cidfile = join(dir, `${name}.cid`);
  const r = await runContainer(name, cmd, { args: ['--rm', '--cidfile', cidfile] });
  let id = '';
  try {
    id = readFileSync(cidfile, 'utf8').trim();
  } catch {
    /* reported through code */
  }
  return { name, id, mark, code: r.code };
}

const argsOf = (e: Ev): string[] => (Array.isArray(e.args) ? (e.args as string[]) : []);

/** The exec whose argv is exactly `argv` (podman's own command lines also hold the markers). */
const isExec =
  (...argv: string[]) =>
  (e: Ev): boolean => {
    const a = argsOf(e);
    return a.length === argv.length && a.every((x, i) => x === argv[i]);
  };

describe('container identity of short-lived containers', { skip, concurrency: 1 }, () => {
  let dir = '';
  before(async () => {
    await cleanupTestContainers();
    ensureRootfs();
    dir = mkdtempSync(join(tmpdir(), 'kg-identity-'));
  });
  after(async () => {
    await cleanupTestContainers();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('no filter: 100 one-shot containers, 10 at a time, each exec named as its own', async () => {
    const cli = startCli(['trace', 'exec', '--local', '-o', 'json']);
    try {
      await readyExec(cli, 60_000);
      const base = marker('burst');
      const runs: OneShot[] = [];
      const N = 100;
      const PARALLEL = 10;
      for (let i = 0; i < N; i += PARALLEL) {
        const wave: Promise<OneShot>[] = [];
        for (let j = i; j < Math.min(N, i + PARALLEL); j++) {
          const mark = `${base}-${j}`;
          wave.push(oneShot(dir, uniqueName(`burst${j}`), mark, ['/bin/busybox', 'true', mark]));
        }
        runs.push(...(await Promise.all(wave)));
      }
      for (const r of runs) assert.equal(r.code, 0, `podman run ${r.name} failed`);
      const last = runs[runs.length - 1]!;
      await cli.waitForEvent(isExec('/bin/busybox', 'true', last.mark), 20_000, 'the last exec');
      await sleep(1000); // late batches
      const byName = new Map(runs.map((r) => [r.name, r]));
      let own = 0;
      const wrong: string[] = [];
      const unnamed: string[] = [];
      const missing: string[] = [];
      for (const r of runs) {
        const evs = cli.events.filter(isExec('/bin/busybox', 'true', r.mark));
        if (evs.length !== 1) {
          missing.push(`${r.mark}: ${evs.length} events`);
          continue;
        }
        const e = evs[0]!;
        if (e.container === r.name && e.container_id === r.id) own++;
        else if (e.container === '' && e.container_id === '') unnamed.push(r.mark);
        else {
          const other = byName.get(String(e.container));
          wrong.push(
            `${r.name} (${r.id.slice(0, 12)}) shown as ${String(e.container)} (${String(e.container_id).slice(0, 12)})${other ? ' [another test container]' : ''}`,
          );
        }
      }
      process.stdout.write(
        `# naming: ${own}/${N} own, ${unnamed.length} unnamed, ${wrong.length} wrong, ${missing.length} missing\n`,
      );
      assert.deepEqual(missing, [], 'each entrypoint exec seen once');
      assert.deepEqual(wrong, [], 'no exec carries another container');
      assert.equal(own, N, `unnamed: ${unnamed.join(' ')}`);
    } finally {
      await cli.stop();
    }
  });

  describe('filter -c NAME started before the container', () => {
    let ready: TestContainer | undefined;
    before(async () => {
      ready = await startContainer(uniqueName('ready'), ['/bin/busybox', 'sleep', '1000']);
    });
    after(async () => {
      if (ready) await removeContainer(ready);
    });

    /** A CLI that selects `name` and the readiness container, attached once this returns. */
    async function filtered(gadget: 'exec' | 'open', name: string): Promise<Cli> {
      const r = ready!;
      const cli = startCli(['trace', gadget, '--local', '-o', 'json', '-c', name, '-c', r.name]);
      if (gadget === 'exec') {
        await waitReady(
          cli,
          (m) => execIn(r, ['/bin/busybox', 'true', m]),
          (e, m) => isExec('/bin/busybox', 'true', m)(e),
          60_000,
        );
      } else {
        await waitReady(
          cli,
          (m) => execIn(r, ['/bin/busybox', 'cat', `/${m}`]),
          (e, m) => e.path === `/${m}` && e.container === r.name,
          60_000,
        );
      }
      return cli;
    }

    const RUNS = 20;

    test(`trace exec -c NAME: entrypoint and both execs, ${RUNS} runs of ${RUNS}`, async () => {
      const failed: string[] = [];
      for (let i = 0; i < RUNS; i++) {
        const name = uniqueName(`fexec${i}`);
        const m = marker('fexec');
        const cli = await filtered('exec', name);
        try {
          const script = `/bin/busybox true ${m}-one; /bin/busybox true ${m}-two`;
          const r = await oneShot(dir, name, m, ['/bin/busybox', 'sh', '-c', script]);
          assert.equal(r.code, 0, `podman run ${name}`);
          const want = [
            isExec('/bin/busybox', 'sh', '-c', script),
            isExec('/bin/busybox', 'true', `${m}-one`),
            isExec('/bin/busybox', 'true', `${m}-two`),
          ];
          try {
            await cli.waitUntil(() => want.every((w) => cli.events.some(w)), 5000, 'all execs');
            for (const w of want) {
              const e = cli.events.find(w)!;
              assert.equal(e.container, name);
              assert.equal(e.container_id, r.id);
            }
          } catch (e) {
            const got = want.map((w) => cli.events.filter(w).length).join('/');
            failed.push(`run ${i}: ${got} (${(e as Error).message.split('\n')[0]})`);
          }
          // nothing of other containers (the readiness one aside)
          for (const e of cli.events)
            assert.ok(e.container === name || e.container === ready!.name, JSON.stringify(e));
        } finally {
          await cli.stop();
        }
      }
      process.stdout.write(`# trace exec -c: ${RUNS - failed.length}/${RUNS} runs complete\n`);
      assert.deepEqual(failed, []);
    });

    test(`trace open -c NAME: the marker opens, ${RUNS} runs of ${RUNS}`, async () => {
      const failed: string[] = [];
      for (let i = 0; i < RUNS; i++) {
        const name = uniqueName(`fopen${i}`);
        const m = marker('fopen');
        const cli = await filtered('open', name);
        try {
          const script = `/bin/busybox cat /${m}-one; /bin/busybox cat /${m}-two; true`;
          const r = await oneShot(dir, name, m, ['/bin/busybox', 'sh', '-c', script]);
          assert.equal(r.code, 0, `podman run ${name}`);
          const want = [`/${m}-one`, `/${m}-two`];
          try {
            await cli.waitUntil(
              () => want.every((p) => cli.events.some((e) => e.path === p)),
              5000,
              'both opens',
            );
            for (const p of want) {
              const e = cli.events.find((x) => x.path === p)!;
              assert.equal(e.container, name);
              assert.equal(e.container_id, r.id);
            }
          } catch (e) {
            const got = want.map((p) => cli.events.filter((x) => x.path === p).length).join('/');
            failed.push(`run ${i}: ${got} (${(e as Error).message.split('\n')[0]})`);
          }
          for (const e of cli.events)
            assert.ok(e.container === name || e.container === ready!.name, JSON.stringify(e));
        } finally {
          await cli.stop();
        }
      }
      process.stdout.write(`# trace open -c: ${RUNS - failed.length}/${RUNS} runs complete\n`);
      assert.deepEqual(failed, []);
    });
  });
});
