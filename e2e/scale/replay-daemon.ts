// REPLAY DAEMON (a simulation, for the scale harness): one process serving the real gRPC API
// (daemon/src/server/server.ts startServer) for MANY simulated nodes, one unix socket per node,
// each backed by a ReplayRuntime (replay-runtime.ts) with its own node name. 200 real daemons of
// ~70 MiB would not fit this machine; the harness says how many processes serve how many nodes.
//
//   node dist/e2e/scale/replay-daemon.js --dir DIR --nodes sim-0001,sim-0002 --rate 1000 [--count N]
//
// Listens on DIR/<node>.sock. Stdout, one JSON object per line:
//   {"ready": true, "nodes": N}                      once every socket listens
//   {"run": {node, gadget, rate, sent, lost, firstMs, lastMs}}   when a run ends
//   {"cpu": {userUs, systemUs}, "rssKiB": N}         on SIGUSR2
// SIGTERM closes the servers and exits.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer, type GadgetServer } from '../../daemon/src/server/server.js';
import { ReplayRuntime } from './replay-runtime.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      nodes: { type: 'string' },
      'first-index': { type: 'string', default: '0' },
      rate: { type: 'string', default: '1000' },
      'tick-ms': { type: 'string', default: '20' },
      'max-late-ms': { type: 'string', default: '1000' },
      // records per run (then done); 0: until cancelled
      count: { type: 'string', default: '0' },
      // after --count records, keep each stream open (idle) until cancelled
      hold: { type: 'boolean', default: false },
    },
  });
  if (!values.dir || !values.nodes) throw new Error('--dir and --nodes are required');
  const nodes = values.nodes.split(',').filter(Boolean);
  const rate = Number(values.rate);
  const first = Number(values['first-index']);
  const emit = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');
  const servers: GadgetServer[] = [];
  const runtimes = nodes.map(
    (node, i) =>
      new ReplayRuntime({
        node,
        rate,
        index: first + i,
        tickMs: Number(values['tick-ms']),
        maxLateMs: Number(values['max-late-ms']),
        count: Number(values.count),
        hold: values.hold,
        onRunEnd: (r) => emit({ run: r }),
      }),
  );
  for (let i = 0; i < nodes.length; i++) {
    servers.push(
      await startServer(runtimes[i]!, `unix://${join(values.dir, `${nodes[i]}.sock`)}`, {
        log: (level, m) => {
          if (level !== 'info') process.stderr.write(`${nodes[i]}: ${level}: ${m}\n`);
        },
      }),
    );
  }
  emit({ ready: true, nodes: nodes.length });
  process.on('SIGUSR2', () => {
    const cpu = process.cpuUsage();
    const rss = /VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    emit({ cpu: { userUs: cpu.user, systemUs: cpu.system }, rssKiB: Number(rss) });
  });
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    void Promise.all(servers.map((s) => s.close())).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `replay-daemon: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
