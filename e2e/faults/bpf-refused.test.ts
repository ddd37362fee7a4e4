// Faults of the BPF side: no bpffs where traceloop pins its recordings (the daemon runs in a
// private mount namespace, `unshare -m`, with /sys/fs/bpf unmounted), and a map size the kernel
// refuses (traceloop start --max-memory 1 TiB: its slot arrays would be larger than this
// machine's memory, and vmalloc refuses such a size at once). Each: one line on stderr, exit 1,
// and nothing stays loaded: the daemon holds exactly what it held before (its container
// tracker), no pin and no orphaned object is left; the daemon goes on serving.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { count, fmt, heldClosure, LeakCheck, minus, type BpfIds } from '../helpers/bpf.js';
import { readyExec, sleep } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { abandonAll, startTraced } from '../helpers/trace.js';

const isRoot = process.getuid?.() === 0;

// the daemon and the CLIs against it run where /sys/fs/bpf is not mounted (every stacked mount)
const NO_BPFFS = [
  'unshare',
  '-m',
  '--propagation',
  'private',
  'sh',
  '-c',
  'while mountpoint -q /sys/fs/bpf; do umount -l /sys/fs/bpf || exit 99; done; exec "$@"',
  'sh',
];

async function sameHeld(pid: number, want: BpfIds): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const h = heldClosure(pid);
    const extra = minus(h, want);
    const gone = minus(want, h);
    if (count(extra) === 0 && count(gone) === 0) return;
    if (Date.now() > deadline)
      throw new Error(`the daemon holds +[${fmt(extra)}] -[${fmt(gone)}] after the failed start`);
    await sleep(200);
  }
}

describe(
  'fault: bpffs missing, map size refused',
  { skip: !isRoot && 'needs root', concurrency: 1 },
  () => {
    const daemons: TestDaemon[] = [];
    after(async () => {
      await abandonAll();
      for (const d of daemons) await d.cleanup({ signal: 'SIGKILL' });
    });

    async function refusedStart(d: TestDaemon, args: string[], line: string): Promise<void> {
      const leaks = new LeakCheck();
      const baseline = heldClosure(d.daemon.pid);
      const r = await d.cli(['traceloop', 'start', ...args]);
      assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, line);
      await sameHeld(d.daemon.pid, baseline);
      assert.ok(
        !existsSync(d.pinDir) || readdirSync(d.pinDir).length === 0,
        `pins left in ${d.pinDir}`,
      );
      await leaks.assertNothingNew();
      // the daemon goes on serving: a stream gadget runs
      const { cli } = await startTraced(
        ['trace', 'exec', '--remote', d.addr, '-o', 'json'],
        (c) => readyExec(c),
        { env: d.env },
      );
      const x = await cli.stop('SIGINT');
      assert.equal(x.code, 0, cli.describeExit());
    }

    test('traceloop start on a daemon without bpffs: one line naming the file system, nothing loaded', async () => {
      const d = await startDaemon('fb-nobpffs', { wrapper: NO_BPFFS });
      daemons.push(d);
      // the daemon really has no bpffs: its view of /proc/self/mounts
      const mounts = readFileSync(`/proc/${d.daemon.pid}/mounts`, 'utf8');
      assert.ok(!/ \/sys\/fs\/bpf bpf /.test(mounts), 'bpffs is still mounted in the daemon');
      await refusedStart(
        d,
        [],
        `Error: traceloop pins its recordings under ${d.pinDir}, but /sys/fs/bpf is not a BPF file system: mount one (mount -t bpf bpf /sys/fs/bpf), or set KGADGET_TRACELOOP_PIN_DIR to a directory on one\n`,
      );
    });

    test('traceloop start --max-memory 1 TiB: the kernel refuses the map size; one line, nothing loaded', async () => {
      const d = await startDaemon('fb-mapsize');
      daemons.push(d);
      // 4096 recordings (the most) x 65536 slots x 392 bytes: 98 GiB, more than this machine has
      await refusedStart(
        d,
        ['--syscalls', '65536', '--max-memory', String(1 << 20)],
        "Error: the kernel refused traceloop's maps for 4096 recordings of 65536 syscalls (100352 MiB, --max-memory 1048576): Cannot allocate memory (ENOMEM); lower --max-memory or --syscalls\n",
      );
    });
  },
);
