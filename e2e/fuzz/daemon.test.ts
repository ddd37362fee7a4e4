// The bounded fuzz run of `npm test` against a real daemon process (daemon.ts): random gRPC
// requests, malformed gRPC messages over raw HTTP/2, socket garbage, and bursts of up to 500
// concurrent streams with rapid resets, about 4 s each (FUZZ_SECONDS overrides). The daemon
// loads BPF: root only, in the integration tier (e2e/).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { daemonTargets, FuzzDaemon } from './daemon.js';
import { budgetMs, formatReport, runTarget } from './runner.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('fuzz the daemon', { skip: !isRoot && 'needs root (the daemon loads BPF)' }, () => {
  let d: FuzzDaemon;
  before(async () => {
    d = await FuzzDaemon.start();
  });
  after(async () => {
    await d?.close();
  });

  for (const name of ['grpc-requests', 'grpc-raw-h2', 'socket-garbage', 'grpc-bursts']) {
    test(`fuzz ${name}`, async (t) => {
      const target = daemonTargets(d).find((x) => x.name === name)!;
      const r = await runTarget(target, budgetMs(4000));
      t.diagnostic(formatReport(r));
      t.diagnostic(`GetInfo: ${d.infoChecks} checks, slowest ${d.slowestInfoMs.toFixed(1)} ms`);
      assert.equal(r.failure, undefined, `${name}: ${r.failure}`);
      assert.ok(r.inputs > 0, 'no input was tried');
      assert.ok(d.d.running, 'the daemon died');
    });
  }
});
