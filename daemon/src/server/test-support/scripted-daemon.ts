// TEST ENTRY: a daemon process serving the ScriptedRuntime test double, for transport tests.
//
//   node scripted-daemon.js <listen> [json ServerOptions subset]
//
// Prints one JSON object per line on stdout: {"event":"listening","address":...}, the test
// double's run reports ({"event":"run-start"|"run-abort"|"run-end","tag":...}) and the server's
// run events ({"event":"server-run","type":"start"|"end",...}). SIGTERM closes the server.

import { startServer, type GadgetServer, type ServerOptions } from '../server.js';
import { SCRIPTED_GADGETS, ScriptedRuntime } from './scripted-runtime.js';

const emit = (o: object): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

const [listen, optsJson] = process.argv.slice(2);
if (!listen) {
  process.stderr.write('usage: scripted-daemon.js <listen> [options-json]\n');
  process.exit(2);
}
const extra = (optsJson ? JSON.parse(optsJson) : {}) as Pick<
  ServerOptions,
  | 'keepaliveTimeMs'
  | 'keepaliveTimeoutMs'
  | 'maxQueuedBytes'
  | 'maxQueuedBatches'
  | 'maxRuns'
  | 'maxRunsPerCaller'
>;

const runtime = new ScriptedRuntime((r) => emit(r));
let server: GadgetServer | undefined;
// Installed before "listening" is announced: until a listener exists SIGTERM kills the process
// outright and the socket file would be left behind.
process.once('SIGTERM', () => {
  void (server?.close() ?? Promise.resolve()).then(() => {
    emit({ event: 'closed' });
    process.exit(0);
  });
});
try {
  server = await startServer(runtime, listen, {
    ...extra,
    listGadgets: async () => SCRIPTED_GADGETS,
    onRunEvent: (e) => emit({ event: 'server-run', ...e }),
    log: (level, message) => process.stderr.write(`${level}: ${message}\n`),
  });
  emit({ event: 'listening', address: server.address });
} catch (e) {
  emit({ event: 'error', message: (e as Error).message });
  process.exit(1);
}
