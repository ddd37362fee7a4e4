// Fault: the tracker's map of container mount namespaces (gadget_mntns_container, 8,192) is
// full. Filled with made-up keys through bpftool; then a container starts under a run that
// asks for it by name. The run must go on (no "Error (bug)"), say once that the map is full,
// and still get the container's execs, named (its -c filter map is the run's own). After the
// made-up keys go, nothing stays loaded.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { heldBy, liveObjects } from '../helpers/bpf.js';
import { Cli, sleep } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { abandonAll } from '../helpers/trace.js';
import {
  podmanAvailable,
  removeContainer,
  startContainer,
  uniqueName,
} from '../fixtures/podman.js';

const canRun = process.getuid?.() === 0 && podmanAvailable();

describe('fault: the container map is full', { skip: !canRun && 'needs root and podman' }, () => {
  let d: TestDaemon | undefined;
  const started: string[] = [];
  const dir = mkdtempSync('/tmp/kgtest-mapfull-');
  after(async () => {
    await abandonAll();
    for (const n of started) await removeContainer(n);
    await d?.cleanup({ signal: 'SIGKILL' });
    rmSync(dir, { recursive: true, force: true });
  });

  test('a run for a new container goes on, warns once, and gets its execs', async () => {
    d = await startDaemon('mapfull');
    const held = heldBy(d.daemon.pid);
    const m = liveObjects().maps.find(
      (x) => held.map.has(x.id) && x.name?.startsWith('gadget_mntns_co'),
    ) as { id: number; max_entries?: number } | undefined;
    assert.ok(m, 'the tracker holds gadget_mntns_container');
    const max = Number(
      (
        JSON.parse(
          execFileSync('bpftool', ['-j', 'map', 'show', 'id', String(m.id)], {
            encoding: 'utf8',
          }),
        ) as { max_entries: number }
      ).max_entries,
    );
    const have = (
      JSON.parse(
        execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(m.id)], { encoding: 'utf8' }),
      ) as unknown[]
    ).length;
    // made-up namespaces: no live namespace has an inode >= 2^40
    const key = (i: number): string => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE((1n << 40n) + BigInt(i));
      return [...b].join(' ');
    };
    const fill = Array.from({ length: max - have }, (_, i) => i);
    const batch = join(dir, 'batch');
    writeFileSync(
      batch,
      fill.map((i) => `map update id ${m.id} key ${key(i)} value 1 any`).join('\n') + '\n',
    );
    execFileSync('bpftool', ['batch', 'file', batch], { stdio: 'ignore' });
    try {
      const name = uniqueName('mapfull');
      const run = new Cli(['trace', 'exec', '--remote', d.addr, '-c', name, '-o', 'json'], {
        env: d.env,
      });
      started.push(name);
      const c = await startContainer(name, [
        'sh',
        '-c',
        'i=0; while :; do i=$((i+1)); /bin/true kgfull-$i; sleep 0.3; done',
      ]);
      const e = await run.waitForEvent(
        (x) => Array.isArray(x.args) && String(x.args[1]).startsWith('kgfull-'),
        30_000,
        'an exec of the new container',
      );
      assert.equal(e.container, c.name);
      for (let t = Date.now(); !/container map full \(gadget_mntns_container\)/.test(run.stderr);) {
        assert.ok(Date.now() - t < 15_000, `no warning; stderr: ${run.stderr}`);
        await sleep(200);
      }
      assert.equal(run.running, true, run.describeExit());
      const warnings = run.stderr.split('\n').filter((l) => l.includes('container map full'));
      assert.equal(warnings.length, 1, run.stderr);
      assert.doesNotMatch(run.stderr, /bug/i);
      const x = await run.stop('SIGINT');
      assert.equal(x.code, 0, run.describeExit());
      assert.match(d.daemon.stderr, /map gadget_mntns_container is full \(8192 mount namespaces\)/);
    } finally {
      writeFileSync(
        batch,
        fill.map((i) => `map delete id ${m.id} key ${key(i)}`).join('\n') + '\n',
      );
      execFileSync('bpftool', ['batch', 'file', batch], { stdio: 'ignore' });
    }
  });
});
