// The soak's connect/disconnect client: every interval it opens a new gRPC connection to the
// daemon (RemoteRuntime, as the CLI does), asks GetInfo, starts a run (trace exec and trace
// open in turn), waits for the run's header (the daemon has loaded and attached the gadget),
// cancels it, asks GetInfo again on the same connection and closes the connection. One JSON
// line per cycle on stdout. SIGTERM/SIGINT end it after the current cycle.
//
//   node dist/e2e/soak/churn-client.js <address> [intervalMs]

import { RemoteRuntime } from '../../plugin/src/runtimes/remote-runtime.js';
import { emptyFilter } from '../../gadgets/framework/filter.js';

export interface CycleRecord {
  n: number;
  ok: boolean;
  gadget: string;
  /** connect + first GetInfo, ms */
  connectMs: number;
  /** RunGadget to its header, ms */
  headerMs: number;
  /** GetInfo on the open connection after the run was cancelled, ms */
  infoMs: number;
  error?: string;
}

const [address, intervalArg] = process.argv.slice(2);
const intervalMs = Number(intervalArg ?? '1000');
let stopping = false;
process.once('SIGTERM', () => (stopping = true));
process.once('SIGINT', () => (stopping = true));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function cycle(n: number): Promise<CycleRecord> {
  const gadget = n % 2 ? 'trace_open' : 'trace_exec';
  const rec: CycleRecord = { n, ok: false, gadget, connectMs: -1, headerMs: -1, infoMs: -1 };
  const rt = new RemoteRuntime(address ?? '', { connectTimeoutMs: 10_000, callTimeoutMs: 30_000 });
  const ac = new AbortController();
  // a run that never sends its header is a failure, not a hang
  const limit = setTimeout(() => ac.abort(), 30_000);
  try {
    let t = Date.now();
    await rt.info();
    rec.connectMs = Date.now() - t;
    t = Date.now();
    const req = { gadget, params: {}, filter: emptyFilter(), timeoutSeconds: 0 };
    for await (const m of rt.run(req, ac.signal)) {
      if (m.kind === 'header') {
        rec.headerMs = Date.now() - t;
        ac.abort();
      }
    }
    if (rec.headerMs < 0) throw new Error('the run ended without a header');
    t = Date.now();
    await rt.info();
    rec.infoMs = Date.now() - t;
    rec.ok = true;
  } catch (e) {
    rec.error = ((e as Error).message ?? String(e)).split('\n')[0]!.slice(0, 300);
  } finally {
    clearTimeout(limit);
    await rt.close();
  }
  return rec;
}

for (let n = 1; !stopping; n++) {
  const t0 = Date.now();
  process.stdout.write(JSON.stringify(await cycle(n)) + '\n');
  const wait = intervalMs - (Date.now() - t0);
  for (let w = wait; w > 0 && !stopping; w -= 100) await sleep(Math.min(100, w));
}
