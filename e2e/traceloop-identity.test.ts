// traceloop names containers that die at once (issue 12): while `traceloop start --remote`
// records, a container that exits within milliseconds (`sh -c 'exit 3'`) or whose entrypoint does
// not exist is in `traceloop list` 1 s after its death, with its own name and id (not the
// node's hostname, not runtime:id), and `traceloop show NAME` reads it after `podman rm`. Real
// podman (runc, cgroupfs), a real `kubectl-gadget daemon` process. Run under
// `flock -s /tmp/kg-bench.lock`.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { sleep, type Ev } from './helpers/cli.js';
import { TestDaemon } from './helpers/daemon.js';
import {
  ensureRootfs,
  podman,
  podmanSkip,
  removeContainer,
  runContainer,
  uniqueName,
} from './fixtures/podman.js';

const skip = podmanSkip();
const RUNS = 5;
const BURST = 10;

describe('traceloop: containers that die within milliseconds', { skip, concurrency: 1 }, () => {
  let d: TestDaemon | undefined;
  let dir = '';
  const names: string[] = [];

  before(async () => {
    ensureRootfs();
    dir = mkdtempSync(join(tmpdir(), 'kg-tlid-'));
    d = new TestDaemon('tlid');
    await d.start();
    await d.ok(['traceloop', 'start']);
  });

  after(async () => {
    await d?.cleanup();
    for (const n of names) await removeContainer(n);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `podman run --rm` of cmd: exit code, id (from --cidfile) and when podman returned. */
  async function crash(
    base: string,
    cmd: string[],
  ): Promise<{ name: string; id: string; code: number; at: number }> {
    const name = uniqueName(base);
    names.push(name);
    const cidfile = join(dir, `${name}.cid`);
    const r = await runContainer(name, cmd, { args: ['--rm', '--cidfile', cidfile] });
    const at = Date.now();
    let id = '';
    try {
      id = readFileSync(cidfile, 'utf8').trim();
    } catch {
      /* asserted below */
    }
    assert.match(id, /^[0-9a-f]{64}$/, `id of ${name} (${r.stderr})`);
    return { name, id, code: r.code, at };
  }

  /** The list 1 s after podman returned (the container died before), one look, no retry. */
  async function listedAfter1s(at: number): Promise<Ev[]> {
    const wait = at + 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    return d!.json(['traceloop', 'list']);
  }

  function assertOwnEntry(list: Ev[], name: string, id: string): Ev {
    const own = list.filter((e) => (e.container as Ev).id === id);
    assert.equal(own.length, 1, `one entry with id ${id.slice(0, 12)}: ${JSON.stringify(list)}`);
    const c = own[0]!.container as Ev;
    assert.equal(c.name, name, `name of ${JSON.stringify(own[0])}`);
    assert.notEqual(c.name, hostname());
    assert.equal(c.runtime, 'podman');
    assert.equal(c.state, 'exited', JSON.stringify(own[0]));
    return own[0]!;
  }

  test(`sh -c 'exit 3': listed 1 s after its death with its name and id, shown after podman rm (${RUNS} runs)`, async () => {
    const failed: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await crash(`tlid-exit${i}`, ['/bin/busybox', 'sh', '-c', 'exit 3']);
      assert.equal(r.code, 3, `podman run ${r.name}`);
      const list = await listedAfter1s(r.at);
      try {
        const e = assertOwnEntry(list, r.name, r.id);
        assert.equal(((e.exitStatus as number) >> 8) & 0xff, 3, JSON.stringify(e));
      } catch (err) {
        failed.push(`run ${i}: ${(err as Error).message.split('\n')[0]}`);
        continue;
      }
      // --rm removed it; make sure podman knows it no more
      assert.notEqual((await podman(['container', 'exists', r.name])).code, 0);
      const shown = await d!.ndjson(['traceloop', 'show', r.name]);
      const tail = shown.slice(-2).map((x) => [x.kind, x.syscall, x.params]);
      assert.deepEqual(
        tail,
        [
          ['syscall', 'exit_group', '3'],
          ['exit', 'exit', 'exited with 3'],
        ],
        JSON.stringify(shown.slice(-4)),
      );
    }
    process.stdout.write(`# traceloop exit 3: ${RUNS - failed.length}/${RUNS} listed and named\n`);
    assert.deepEqual(failed, []);
  });

  test(`a burst: ${BURST} crashing at once, each listed 1 s after with its own name and id`, async () => {
    const rs = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        crash(`tlid-burst${i}`, ['/bin/busybox', 'sh', '-c', 'exit 3']),
      ),
    );
    for (const r of rs) assert.equal(r.code, 3, `podman run ${r.name}`);
    const list = await listedAfter1s(Math.max(...rs.map((r) => r.at)));
    const failed: string[] = [];
    for (const r of rs) {
      try {
        assertOwnEntry(list, r.name, r.id);
      } catch (err) {
        failed.push(`${r.name}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    process.stdout.write(`# traceloop burst: ${BURST - failed.length}/${BURST} listed and named\n`);
    assert.deepEqual(failed, []);
  });

  test('an entrypoint that does not exist: listed 1 s after with its name and id', async () => {
    const r = await crash('tlid-missing', ['/kg-no-such-binary']);
    assert.notEqual(r.code, 0, 'podman run of a missing binary fails');
    const list = await listedAfter1s(r.at);
    const e = assertOwnEntry(list, r.name, r.id);
    assert.equal(((e.exitStatus as number) >> 8) & 0xff, 1, JSON.stringify(e));
    assert.notEqual((await podman(['container', 'exists', r.name])).code, 0);
    const shown = await d!.ndjson(['traceloop', 'show', r.name]);
    // runc init looks the entrypoint up, reports the error to runc and exits with 1 (its last
    // thread is not the leader: the kernel marks the recording exited all the same); show cuts
    // buffers at 64 bytes as strace -s 64 does, so the message ends in "stat /kg-no-such-binar"
    assert.ok(
      shown.some(
        (x) =>
          x.syscall === 'write' &&
          /exec: .*\/kg-no-such-binary.*: stat \/kg-no-such-binar/.test(String(x.params)),
      ),
      JSON.stringify(shown.slice(-10)),
    );
    assert.deepEqual(
      [shown.at(-1)?.kind, shown.at(-1)?.params],
      ['exit', 'exited with 1'],
      JSON.stringify(shown.slice(-4)),
    );
  });
});
