// The gRPC server's hooks into the metrics, over a real gRPC connection to a scripted runtime
// (no kernel): a run's records, losses, start and end land in the counters of its gadget.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../../../proto/gen/gadget/v1/gadget.js';
import { startServer } from '../server/server.js';
import { ScriptedRuntime, scriptedMessages } from '../server/test-support/scripted-runtime.js';
import { DaemonMetrics } from './registry.js';
import { parseMetrics, sample } from './test-support/parse.js';

test('a scripted run: started 1, events = records the client got, lost from stats, active 0 after', async () => {
  const metrics = new DaemonMetrics(new Set(['scripted']), {
    processMetrics: false,
    bpfMemory: async () => ({ maps: 0, progs: 0 }),
  });
  const server = await startServer(new ScriptedRuntime(), 'tcp://127.0.0.1:0', {
    runMetrics: (g) => metrics.runStarted(g),
  });
  const port = server.address.split(':').pop()!;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const def = pb.GadgetServiceDefinition.runGadget;
    const call = client.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      {
        gadget: 'scripted',
        params: { tag: 'm' },
        filter: null,
        timeoutSeconds: 0,
        kernelFilters: [],
      },
    );
    let records = 0;
    call.on('data', (r: pb.RunResponse) => (records += r.batch?.count ?? 0));
    await new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    const want = scriptedMessages('m');
    const sent = want.reduce((s, m) => s + (m.kind === 'batch' ? m.count : 0), 0);
    const lost = want.reduce((s, m) => (m.kind === 'stats' ? Math.max(s, m.stats.lost) : s), 0);
    assert.ok(sent > 0 && lost > 0);
    assert.equal(records, sent);
    // the run ends on the server after the stream ended
    for (let i = 0; i < 50 && server.activeRuns() > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    const f = parseMetrics(await metrics.text());
    const g = { gadget: 'scripted' };
    assert.equal(sample(f, 'kubectl_gadget_runs_started_total', g), 1);
    assert.equal(sample(f, 'kubectl_gadget_runs_active', g), 0);
    assert.equal(sample(f, 'kubectl_gadget_events_total', g), records);
    assert.equal(sample(f, 'kubectl_gadget_lost_events_total', g), lost);
    assert.equal(sample(f, 'kubectl_gadget_dropped_batches_total', g), 0);
  } finally {
    client.close();
    await server.close();
  }
});
