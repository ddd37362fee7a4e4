// Fault: the disk fills up under the output. A 64 KiB tmpfs, mostly taken by a filler file,
// holds the output of
//  - `advise network-policy monitor --output FILE`: the file is replaced atomically every 5 s;
//    the write that does not fit fails the run with one line saying what the file still holds,
//    which is the last complete write (valid NDJSON), and no temporary file stays;
//  - `advise network-policy monitor -o json > FILE` and `trace open -o json > FILE`: the torn
//    last line is cut off again, the error names the file and the lines it kept.
// Flows are UDP datagrams from this process to distinct loopback ports (--keep-loopback).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, Cli, ROOT, sleep } from '../helpers/cli.js';
import { count, heldBy, LeakCheck } from '../helpers/bpf.js';
import { runWorkload, workloadBuilt } from '../helpers/workload.js';

const isRoot = process.getuid?.() === 0;
const PAGE = 4096;

/** Every line of an NDJSON file parses; returns them. No torn last line. */
function ndjsonLines(path: string): unknown[] {
  const text = readFileSync(path, 'utf8');
  assert.ok(
    text === '' || text.endsWith('\n'),
    `torn last line in ${path}: ${JSON.stringify(text.slice(-80))}`,
  );
  return text
    .split('\n')
    .filter(Boolean)
    .map((l, i) => {
      try {
        return JSON.parse(l) as unknown;
      } catch {
        throw new Error(`line ${i + 1} of ${path} is not JSON: ${l.slice(0, 120)}`);
      }
    });
}

/** UDP datagrams from this process to 127.0.0.1:port, one per port. */
async function sendUdp(ports: number[]): Promise<void> {
  const s = createSocket('udp4');
  for (const p of ports) {
    await new Promise<void>((resolve, reject) =>
      s.send(Buffer.from('kg'), p, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
    );
  }
  s.close();
}

describe(
  'fault: ENOSPC under the output',
  { skip: !isRoot && 'needs root (mount, BPF)', concurrency: 1 },
  () => {
    const dir = realpathSync(mkdtempSync('/tmp/kgfault-enospc-'));
    const mnt = join(dir, 'mnt');

    /** A fresh 64 KiB tmpfs with `free` bytes left. */
    function fill(free: number): void {
      if (spawnSync('mountpoint', ['-q', mnt]).status === 0) spawnSync('umount', ['-l', mnt]);
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'kgfault', mnt], {
        encoding: 'utf8',
      });
      assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(64 * 1024 - free));
    }

    before(() => mkdirSync(mnt));
    after(() => {
      spawnSync('umount', ['-l', mnt]);
      rmSync(dir, { recursive: true, force: true });
    });

    test('monitor --output FILE: one line, exit 1, the file keeps its last complete write, no temp file', async (t) => {
      fill(2 * PAGE);
      const out = join(mnt, 'flows.ndjson');
      const leaks = new LeakCheck();
      const cli = new Cli([
        'advise',
        'network-policy',
        'monitor',
        '--local',
        '--keep-loopback',
        '--timeout',
        '60',
        '--output',
        out,
      ]);
      try {
        // one flow until the file has it: attached, reported, flushed (every 5 s)
        const first = 20000 + (process.pid % 20000);
        const deadline = Date.now() + 30_000;
        while (!(existsSync(out) && readFileSync(out, 'utf8').includes(`"port":${first}`))) {
          assert.ok(cli.running, cli.describeExit());
          assert.ok(Date.now() < deadline, `no flow in ${out} after 30 s: ${cli.stderr}`);
          await sendUdp([first]);
          await sleep(500);
        }
        leaks.track(cli.pid);
        const kept = ndjsonLines(out).length;
        // 60 more flows do not fit in the page that is left
        await sendUdp(Array.from({ length: 60 }, (_, i) => first + 1 + i));
        const x = await Promise.race([cli.exited, sleep(15_000).then(() => undefined)]);
        assert.ok(x, 'monitor still runs 15 s after its output could not be written');
        t.diagnostic(x.stderr.trim());
        assert.equal(x.code, 1, cli.describeExit());
        assert.match(
          x.stderr,
          new RegExp(
            `^Error: cannot write the flows to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no space left on device \\(ENOSPC\\); it keeps the ${kept} flow\\(s\\) of the last complete write \\([0-9TZ:.-]+\\), \\d+ flow\\(s\\) seen in all\\n$`,
          ),
        );
        assert.equal(ndjsonLines(out).length, kept, 'the file holds its last complete write');
        assert.deepEqual(
          readdirSync(mnt).sort(),
          ['filler', 'flows.ndjson'],
          'no temporary file left',
        );
        await leaks.assertClean();
      } finally {
        if (cli.running) await cli.stop('SIGKILL');
      }
    });

    /** Runs `args` with stdout on `file`; returns exit code and stderr. */
    function redirected(
      args: string[],
      file: string,
    ): { proc: ReturnType<typeof spawn>; done: Promise<{ code: number | null; stderr: string }> } {
      const fd = openSync(file, 'w');
      const proc = spawn(process.execPath, [CLI, ...args], {
        cwd: ROOT,
        stdio: ['ignore', fd, 'pipe'],
      });
      closeSync(fd);
      let stderr = '';
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
        proc.on('close', (code) => resolve({ code, stderr })),
      );
      return { proc, done };
    }

    /** Waits until process `pid` holds BPF links: its gadget is attached. */
    async function attached(pid: number, alive: () => boolean): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (heldBy(pid).link.size === 0 || count(heldBy(pid)) === 0) {
        assert.ok(alive(), 'the CLI exited before it attached');
        assert.ok(Date.now() < deadline, 'not attached after 30 s');
        await sleep(200);
      }
    }

    const tornLine = (file: string): RegExp =>
      new RegExp(
        `^Error: cannot write to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no space left on device \\(ENOSPC\\); it ends with the last complete line \\((\\d+) lines written\\)\\n$`,
      );

    test('monitor -o json > FILE: one line, exit 1, only whole lines in the file', async () => {
      fill(PAGE);
      const file = join(mnt, 'flows.json');
      const r = redirected(
        [
          'advise',
          'network-policy',
          'monitor',
          '--local',
          '--keep-loopback',
          '-o',
          'json',
          '--timeout',
          '10',
        ],
        file,
      );
      try {
        await attached(r.proc.pid!, () => r.proc.exitCode === null);
        // the tracker's links come first: send in rounds, so the gadget's hooks see them
        const base = 40000 + (process.pid % 20000);
        for (let round = 0; round < 4; round++) {
          await sendUdp(Array.from({ length: 60 }, (_, i) => base + i));
          await sleep(1000);
        }
        const x = await Promise.race([r.done, sleep(30_000).then(() => undefined)]);
        assert.ok(x, 'monitor did not end');
        assert.equal(x.code, 1, x.stderr);
        const m = tornLine(file).exec(x.stderr);
        assert.ok(m, x.stderr);
        assert.equal(ndjsonLines(file).length, Number(m[1]));
      } finally {
        if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
      }
    });

    test(
      'trace open -o json > FILE: one line, exit 1, only whole lines in the file',
      { skip: !workloadBuilt() && 'needs the workload' },
      async () => {
        fill(2 * PAGE);
        const file = join(mnt, 'opens.json');
        const leaks = new LeakCheck();
        const r = redirected(
          ['trace', 'open', '--local', '-o', 'json', '--prefix', `${dir}/`],
          file,
        );
        try {
          // attached: an open of a marker reaches the file (the disk has room for a few lines)
          const marker = join(dir, `ready-${process.pid}`);
          const deadline = Date.now() + 30_000;
          while (!readFileSync(file, 'utf8').includes(marker)) {
            assert.ok(r.proc.exitCode === null, 'trace open exited before it was attached');
            assert.ok(Date.now() < deadline, 'trace open not attached after 30 s');
            await runWorkload(['open-loop', '1', marker]);
            await sleep(200);
          }
          leaks.track(r.proc.pid!);
          // ~300 bytes a line: 200 opens are well over the 8 KiB left
          await runWorkload(['open-loop', '200', join(dir, 'x')]);
          const x = await Promise.race([r.done, sleep(15_000).then(() => undefined)]);
          assert.ok(x, 'trace open still runs 15 s after its output filled the disk');
          assert.equal(x.code, 1, x.stderr);
          const m = tornLine(file).exec(x.stderr);
          assert.ok(m, x.stderr);
          const lines = ndjsonLines(file);
          assert.equal(lines.length, Number(m[1]));
          assert.ok(lines.length > 0);
          await leaks.assertClean();
        } finally {
          if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
        }
      },
    );
  },
);
