// Redaction end to end: real daemons, a real gRPC client that keeps the raw bytes of every
// RunGadget/TraceloopShow response, real execs on the host and a real podman container.
//   - trace exec with --redact: `sh -c '/bin/true --password=hunter2 ...'` arrives as
//     `--password=***`, and `hunter2` is in none of the bytes that crossed the stream; the same
//     workload under a daemon without redaction shows the capture does see it when it is sent.
//   - traceloop show: the container's execve argv and the buffer it wrote are redacted in the
//     stream and in the CLI's output.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../proto/gen/gadget/v1/gadget.js';
import { runMessageFromPb } from '../proto/ts/convert.js';
import { splitNulStrings } from '../gadgets/framework/decode.js';
import type { RecordLayout } from '../gadgets/framework/types.js';
import { emptyFilter } from '../gadgets/framework/filter.js';
import { assemble, parseSlot, type Slot } from '../gadgets/traceloop/format.js';
import { syscallName } from '../gadgets/traceloop/table.js';
import { splitRecords } from '../proto/ts/records.js';
import { marker, runQuiet, sleep } from './helpers/cli.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import {
  ensureRootfs,
  podmanSkip,
  removeContainer,
  runContainer,
  uniqueName,
} from './fixtures/podman.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const D = pb.GadgetServiceDefinition;
const SECRET = 'hunter2';

function client(d: TestDaemon): grpc.Client {
  return new grpc.Client(d.addr.replace('unix://', 'unix:'), grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
}

/** A server stream whose responses are kept as the bytes that crossed the wire. */
class RawStream {
  readonly raw: Buffer[] = [];
  readonly ended: Promise<grpc.StatusObject | Error>;
  private readonly call: grpc.ClientReadableStream<Buffer>;

  constructor(c: grpc.Client, path: string, serialize: (r: never) => Buffer, req: unknown) {
    this.call = c.makeServerStreamRequest<unknown, Buffer>(
      path,
      serialize as (r: unknown) => Buffer,
      (b: Buffer) => b,
      req,
    );
    this.call.on('data', (b: Buffer) => this.raw.push(Buffer.from(b)));
    this.ended = new Promise((resolve) => {
      this.call.on('status', resolve);
      this.call.on('error', resolve);
    });
  }

  bytes(): Buffer {
    return Buffer.concat(this.raw);
  }

  /** The responses, decoded as the CLI decodes them. */
  messages(): ReturnType<typeof runMessageFromPb>[] {
    return this.raw.map((b) => runMessageFromPb(D.runGadget.responseDeserialize(b)));
  }

  cancel(): void {
    this.call.cancel();
  }
}

interface Exec {
  pid: number;
  args: string[];
}

/** trace exec records of a raw stream: pid and argv, decoded with the header's layout. */
function execs(s: RawStream): Exec[] {
  let layout: RecordLayout | undefined;
  const out: Exec[] = [];
  for (const m of s.messages()) {
    if (m?.message.kind === 'header') layout = m.message.header.layout;
    if (m?.message.kind !== 'batch' || !layout) continue;
    const f = (n: string): number => layout!.fields.find((x) => x.name === n)!.offset;
    for (const r of splitRecords(m.message.records)) {
      const size = Math.min(r.readUInt32LE(f('args_size')), r.length - f('args'));
      out.push({
        pid: r.readUInt32LE(f('pid')),
        args: splitNulStrings(r.subarray(f('args'), f('args') + size)),
      });
    }
  }
  return out;
}

async function until<T>(what: string, fn: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Runs trace exec (host processes) on a daemon, waits until it sees execs, then runs the
 * secret-carrying workload; returns the stream once the workload's execs arrived.
 */
async function traceWorkload(d: TestDaemon, m: string): Promise<RawStream> {
  const c = client(d);
  const s = new RawStream(c, D.runGadget.path, D.runGadget.requestSerialize, {
    gadget: 'trace_exec',
    params: {},
    filter: { ...emptyFilter(), host: true },
    timeoutSeconds: 60,
  });
  try {
    const ready = marker('ready');
    await until('trace exec to see execs', () => {
      void runQuiet('/bin/true', [ready]);
      return execs(s).some((e) => e.args[1] === ready) || undefined;
    });
    // by path: `sh` would be looked up along PATH, a failed exec per directory before it
    const code = await runQuiet('/bin/sh', [
      '-c',
      `/bin/true --password=${SECRET} ${m}; /bin/true --token ${SECRET} ${m}; /bin/true -H "Authorization: Bearer ${SECRET}" ${m}`,
    ]);
    assert.equal(code, 0);
    await until('the workload execs', () =>
      execs(s).filter((e) => e.args.at(-1) === m).length >= 3 ? true : undefined,
    );
    return s;
  } finally {
    s.cancel();
    await s.ended;
    c.close();
  }
}

describe('redaction: trace exec over gRPC', { skip: !isRoot && 'needs root' }, () => {
  let on: TestDaemon | undefined;
  let off: TestDaemon | undefined;
  before(async () => {
    [on, off] = await Promise.all([
      startDaemon('redact-on', { args: ['--redact'] }),
      startDaemon('redact-off'),
    ]);
  });
  after(async () => {
    await Promise.all([on?.cleanup({ traceloop: false }), off?.cleanup({ traceloop: false })]);
  });

  test('--redact: the secret never crosses the stream; the events arrive redacted', async () => {
    const m = marker('redact');
    const s = await traceWorkload(on!, m);
    assert.equal(s.bytes().includes(SECRET), false, 'hunter2 crossed the RunGadget stream');
    const mine = execs(s)
      .filter((e) => e.args.includes(m) || e.args.some((a) => a.includes(` ${m}`)))
      .map((e) => e.args);
    assert.deepEqual(mine, [
      [
        '/bin/sh',
        '-c',
        `/bin/true --password=*** ${m}; /bin/true --token *** ${m}; /bin/true -H "Authorization: Bearer ***" ${m}`,
      ],
      ['/bin/true', '--password=***', m],
      ['/bin/true', '--token', '***', m],
      ['/bin/true', '-H', 'Authorization: Bearer ***', m],
    ]);
  });

  test('without redaction (not Kubernetes mode) the same capture sees the secret', async () => {
    const m = marker('plain');
    const s = await traceWorkload(off!, m);
    assert.equal(s.bytes().includes(SECRET), true);
    const mine = execs(s)
      .filter((e) => e.args.at(-1) === m)
      .map((e) => e.args);
    assert.deepEqual(mine, [
      ['/bin/true', `--password=${SECRET}`, m],
      ['/bin/true', '--token', SECRET, m],
      ['/bin/true', '-H', `Authorization: Bearer ${SECRET}`, m],
    ]);
  });
});

describe(
  'redaction: traceloop show of a container',
  { skip: (!isRoot && 'needs root') || podmanSkip() },
  () => {
    let d: TestDaemon | undefined;
    const name = uniqueName('redact-tl');
    before(async () => {
      ensureRootfs();
      d = await startDaemon('redact-tl', { args: ['--redact'] });
    });
    after(async () => {
      await removeContainer(name);
      await d?.cleanup();
    });

    test('execve argv and written buffers are redacted in the stream and in `traceloop show`', async () => {
      const c = client(d!);
      try {
        const started = await new Promise<pb.TraceloopStartResponse>((resolve, reject) =>
          c.makeUnaryRequest(
            D.traceloopStart.path,
            D.traceloopStart.requestSerialize,
            D.traceloopStart.responseDeserialize,
            {
              filter: { ...emptyFilter(), containerNames: [name] },
              bufferKib: 0,
              syscalls: [],
              maxMemoryMib: 0,
              syscallsPerContainer: 0,
              durations: false,
            },
            (e, r) => (e ? reject(e) : resolve(r!)),
          ),
        );
        const m = marker('tl');
        const run = await runContainer(name, [
          '/bin/sh',
          '-c',
          `/bin/true --password=${SECRET} ${m}; echo "Authorization: Bearer ${SECRET}-tok"; exit 3`,
        ]);
        assert.equal(run.code, 3, run.stderr);

        // the recording is named by the daemon's next sync: show until it is
        let s: RawStream | undefined;
        let slots: Slot[] = [];
        const deadline = Date.now() + 20_000;
        for (;;) {
          s = new RawStream(c, D.traceloopShow.path, D.traceloopShow.requestSerialize, {
            sessionId: started.sessionId,
            container: name,
            instance: '0',
          });
          const status = await s.ended;
          slots = s
            .messages()
            .flatMap((x) => (x?.message.kind === 'batch' ? splitRecords(x.message.records) : []))
            .map((r) => parseSlot(r, 0, r.length))
            .filter((x): x is Slot => x !== null);
          if ('code' in status && status.code === grpc.status.OK && slots.length) break;
          if (Date.now() > deadline)
            throw new Error(`no recording of ${name}: ${JSON.stringify(status)}`);
          await sleep(300);
        }
        assert.equal(s.bytes().includes(SECRET), false, 'hunter2 crossed the TraceloopShow stream');
        const recs = assemble(slots);
        const execve = recs.find(
          (r) =>
            syscallName(r.nr) === 'execve' &&
            r.items[0]?.toString('latin1').startsWith('/bin/true'),
        );
        assert.ok(execve, 'the execve of /bin/true is recorded');
        assert.deepEqual(splitNulStrings(execve.items[1]!), ['/bin/true', '--password=***', m]);
        const write = recs.find(
          (r) => syscallName(r.nr) === 'write' && r.items[0]?.includes('Authorization'),
        );
        assert.ok(write, 'the write of the header line is recorded');
        assert.equal(write.items[0]!.toString('latin1'), 'Authorization: Bearer ***\n');

        // the CLI shows what crossed: the redacted forms
        const shown = await d!.ok(['traceloop', 'show', name]);
        assert.ok(!shown.stdout.includes(SECRET), shown.stdout);
        assert.match(
          shown.stdout,
          new RegExp(`execve +"/bin/true", \\["/bin/true", "--password=\\*\\*\\*", "${m}"\\]`),
        );
        assert.match(shown.stdout, /write +1, "Authorization: Bearer \*\*\*\\n", 34 /);
      } finally {
        c.close();
      }
    });
  },
);
