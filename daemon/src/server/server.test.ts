// The gRPC server's socket handling and status mapping, with the daemon in a child process
// where the scenario needs a real process (stale socket after SIGKILL).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../../../proto/gen/gadget/v1/gadget.js';
import { RunError } from '../../../gadgets/framework/errors.js';
import { startServer, toStatus } from './server.js';
import { startScriptedDaemon } from './test-support/child.js';
import { ScriptedRuntime } from './test-support/scripted-runtime.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kg-srv-'));
}

describe('startServer on a unix socket', () => {
  test('creates the parent dir 0700 and the socket 0600; close() removes the socket', async () => {
    const dir = await tempDir();
    const sock = join(dir, 'kubectl-gadget', 'gadget.sock');
    try {
      const { child, address } = await startScriptedDaemon(`unix://${sock}`);
      try {
        assert.equal(address, `unix://${sock}`);
        const s = await stat(sock);
        assert.ok(s.isSocket());
        assert.equal(s.mode & 0o777, 0o600);
        assert.equal((await stat(join(dir, 'kubectl-gadget'))).mode & 0o777, 0o700);
      } finally {
        await child.stop();
      }
      assert.equal(existsSync(sock), false, 'socket removed on shutdown');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('replaces a stale socket left by a killed daemon, refuses a live one', async () => {
    const dir = await tempDir();
    const listen = `unix://${dir}/gadget.sock`;
    try {
      const first = await startScriptedDaemon(listen);
      first.child.proc.kill('SIGKILL');
      await first.child.exited;
      assert.ok(existsSync(join(dir, 'gadget.sock')), 'a SIGKILLed daemon leaves its socket');

      const second = await startScriptedDaemon(listen);
      try {
        await assert.rejects(
          startScriptedDaemon(listen),
          /another daemon is already listening there/,
        );
      } finally {
        await second.child.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('refuses to replace a file that is not a socket', async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir, 'gadget.sock'), 'not a socket');
      await assert.rejects(
        startServer(new ScriptedRuntime(), `unix://${dir}/gadget.sock`),
        /exists and is not a socket/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('rejects a malformed listen address', async () => {
    await assert.rejects(startServer(new ScriptedRuntime(), 'unix://relative.sock'), {
      message:
        'invalid daemon address "unix://relative.sock": the socket path must be absolute, e.g. unix:///run/kubectl-gadget/gadget.sock',
    });
  });
});

describe('startServer on TCP', () => {
  test('port 0 reports the bound port; traceloop on a runtime without a recorder is refused', async () => {
    const server = await startServer(new ScriptedRuntime(), 'tcp://127.0.0.1:0');
    try {
      const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(server.address);
      assert.ok(m, server.address);
      assert.ok(Number(m[1]) > 0);

      const client = new grpc.Client(`127.0.0.1:${m[1]}`, grpc.credentials.createInsecure());
      const def = pb.GadgetServiceDefinition.traceloopList;
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.makeUnaryRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize,
          { sessionId: '' },
          (e) => resolve(e),
        ),
      );
      assert.equal(err?.code, grpc.status.FAILED_PRECONDITION);
      assert.equal(err?.details, 'this daemon has no traceloop recorder');
      client.close();
    } finally {
      await server.close();
    }
  });

  test('close() aborts active runs', async () => {
    const reports: string[] = [];
    const server = await startServer(
      new ScriptedRuntime((r) => reports.push(`${r.event}:${r.tag}`)),
      'tcp://127.0.0.1:0',
    );
    const port = server.address.split(':').pop()!;
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const def = pb.GadgetServiceDefinition.runGadget;
    const call = client.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      {
        gadget: 'endless',
        params: { tag: 'shutdown' },
        filter: null,
        timeoutSeconds: 0,
        kernelFilters: [],
      },
    );
    const status = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    assert.equal(server.activeRuns(), 1);
    await server.close();
    assert.ok(reports.includes('run-abort:shutdown'), reports.join(','));
    assert.ok(reports.includes('run-end:shutdown'));
    assert.equal(server.activeRuns(), 0);
    const err = await status;
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.equal(err.details, 'the daemon is shutting down');
    client.close();
  });
});

describe('status messages stay within HTTP/2 header limits', () => {
  test('an error quoting 100 KB of input unclipped still reaches the client, and the connection answers', async () => {
    // the test double's unknown-gadget error quotes the name as given: only toStatus bounds it
    const server = await startServer(new ScriptedRuntime(), 'tcp://127.0.0.1:0');
    const port = server.address.split(':').pop()!;
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const def = pb.GadgetServiceDefinition.runGadget;
      const gadget = 'é'.repeat(100_000);
      const call = client.makeServerStreamRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        { gadget, params: {}, filter: null, timeoutSeconds: 0, kernelFilters: [] },
      );
      call.on('error', () => {});
      const status = await Promise.race([
        new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve)),
        new Promise<'none'>((resolve) => setTimeout(() => resolve('none'), 5000).unref()),
      ]);
      assert.notEqual(status, 'none', 'no status within 5 s');
      if (status === 'none') return;
      assert.equal(status.code, grpc.status.NOT_FOUND);
      assert.equal(status.details, `${`unknown gadget "${gadget}"`.slice(0, 2000)}…`);
      const info = pb.GadgetServiceDefinition.getInfo;
      const node = await new Promise<string>((resolve, reject) =>
        client.makeUnaryRequest(
          info.path,
          info.requestSerialize,
          info.responseDeserialize,
          {},
          new grpc.Metadata(),
          { deadline: Date.now() + 3000 },
          (e, r) => (e ? reject(e) : resolve(r!.node)),
        ),
      );
      assert.equal(node, 'node-1');
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('toStatus', () => {
  test('maps user errors to their status with the message intact', () => {
    const s = toStatus(
      new RunError('FAILED_PRECONDITION', 'BPF LSM not enabled', 'boot with lsm=bpf'),
    );
    assert.equal(s.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(s.details, 'BPF LSM not enabled');
    assert.equal(s.metadata?.get('gadget-hint-bin')[0]?.toString(), 'boot with lsm=bpf');
    assert.equal(
      toStatus(new RunError('INVALID_ARGUMENT', 'x')).code,
      grpc.status.INVALID_ARGUMENT,
    );
    assert.equal(toStatus(new RunError('NOT_FOUND', 'x')).code, grpc.status.NOT_FOUND);
    const unknown = Object.assign(new Error('unknown gadget "foo"'), { code: 'UNKNOWN_GADGET' });
    assert.equal(toStatus(unknown).code, grpc.status.NOT_FOUND);
    const bug = toStatus(new TypeError('x is undefined'));
    assert.equal(bug.code, grpc.status.INTERNAL);
    assert.equal(bug.details, 'x is undefined');
  });
});

describe('caps on concurrent runs and cancelled calls (daemon child process)', () => {
  const RUN = pb.GadgetServiceDefinition.runGadget;
  const endless = (tag: string): pb.RunRequest => ({
    gadget: 'endless',
    params: { tag, interval: '50' },
    filter: null,
    timeoutSeconds: 0,
    kernelFilters: [],
  });
  const newClient = (address: string): grpc.Client =>
    // a subchannel pool of its own: a connection of its own, so a caller of its own
    new grpc.Client(address.replace('tcp://', ''), grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
  interface S {
    header: boolean;
    status?: grpc.StatusObject;
    call: grpc.ClientReadableStream<pb.RunResponse>;
  }
  const open = (c: grpc.Client, tag: string): S => {
    const call = c.makeServerStreamRequest(
      RUN.path,
      RUN.requestSerialize,
      RUN.responseDeserialize,
      endless(tag),
    );
    const s: S = { header: false, call };
    call.on('data', (r: pb.RunResponse) => {
      if (r.header) s.header = true;
    });
    call.on('error', () => {});
    call.on('status', (st) => (s.status = st));
    return s;
  };
  const settled = async (l: S[]): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!l.every((s) => s.header || s.status)) {
      if (Date.now() > deadline) throw new Error('streams did not settle within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('per caller, then overall: RESOURCE_EXHAUSTED with a hint; slots come back when runs end', async () => {
    const { child, address } = await startScriptedDaemon('tcp://127.0.0.1:0', {
      maxRuns: 3,
      maxRunsPerCaller: 2,
    });
    const a = newClient(address);
    const b = newClient(address);
    try {
      const fromA = [open(a, 'a1'), open(a, 'a2'), open(a, 'a3')];
      await settled(fromA);
      assert.deepEqual(
        fromA.map((s) => s.header),
        [true, true, false],
      );
      const perCaller = fromA[2]!.status!;
      assert.equal(perCaller.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(
        perCaller.details,
        /^too many runs: connection 127\.0\.0\.1:\d+ already has 2 on this daemon \(--max-runs-per-caller 2\)$/,
      );
      assert.equal(
        perCaller.metadata.get('gadget-hint-bin')[0]?.toString(),
        'end some of your runs first (each trace command is one run per node), or restart the daemon with a higher --max-runs-per-caller',
      );
      const fromB = [open(b, 'b1'), open(b, 'b2')];
      await settled(fromB);
      assert.deepEqual(
        fromB.map((s) => s.header),
        [true, false],
      );
      assert.equal(fromB[1]!.status!.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(
        fromB[1]!.status!.details,
        'too many runs: this daemon is running 3, its maximum (--max-runs 3)',
      );
      // the runtime ran exactly the three accepted runs
      const starts = (): string[] =>
        child.lines.filter((l) => l.event === 'run-start').map((l) => String(l.tag));
      assert.deepEqual(starts().sort(), ['a1', 'a2', 'b1']);

      // one run ends: its slot is free again
      fromA[0]!.call.cancel();
      await child.waitFor((l) => l.event === 'run-end' && l.tag === 'a1', 5000, 'a1 ended');
      const again = open(b, 'b3');
      await settled([again]);
      assert.equal(again.header, true);
      assert.deepEqual(starts().sort(), ['a1', 'a2', 'b1', 'b3']);
    } finally {
      a.close();
      b.close();
      await child.stop();
    }
  });

  test('rapid resets (HEADERS, DATA, RST_STREAM sent together) never reach the runtime', async () => {
    const { child, address } = await startScriptedDaemon('tcp://127.0.0.1:0');
    const port = Number(address.split(':').pop());
    try {
      const msg = Buffer.from(pb.RunRequest.encode(endless('reset')));
      const frame = Buffer.alloc(5 + msg.length);
      frame.writeUInt32BE(msg.length, 1);
      msg.copy(frame, 5);
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      const closed: Array<Promise<void>> = [];
      for (let i = 0; i < 200; i++) {
        const r = s.request({
          ':method': 'POST',
          ':path': RUN.path,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        r.on('error', () => {});
        closed.push(new Promise((resolve) => r.once('close', () => resolve())));
        r.end(frame);
        r.close(http2.constants.NGHTTP2_CANCEL);
      }
      await Promise.all(closed);
      s.destroy();
      // then a real run on a fresh connection: it starts, so the daemon was listening all along
      const c = newClient(address);
      const ok = open(c, 'after');
      await settled([ok]);
      assert.equal(ok.header, true);
      const info = pb.GadgetServiceDefinition.getInfo;
      const stats = await new Promise<pb.DaemonStats | undefined>((resolve, reject) =>
        c.makeUnaryRequest(
          info.path,
          info.requestSerialize,
          info.responseDeserialize,
          {},
          (e, r) => (e ? reject(e) : resolve(r?.stats)),
        ),
      );
      c.close();
      assert.deepEqual(
        child.lines.filter((l) => l.event === 'run-start').map((l) => l.tag),
        ['after'],
        'only the real run reached the runtime',
      );
      assert.deepEqual(
        child.lines.filter((l) => l.tag === 'reset').map((l) => l.event),
        [],
        'no reset stream was started or aborted in the runtime',
      );
      assert.ok(stats);
      assert.equal(stats.runsStarted, '1');
      assert.equal(stats.runsRefused, '0');
      assert.equal(stats.runsActive, '1');
    } finally {
      await child.stop();
    }
  });
});
