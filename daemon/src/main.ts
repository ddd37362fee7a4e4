// The node daemon: one LocalRuntime behind the gRPC server, until SIGINT/SIGTERM.

import { LocalRuntime, preflight } from './runtime/local.js';
import { startServer } from './server/server.js';

export interface DaemonOptions {
  listen: string;
  node?: string;
  /** Kubernetes mode: runs without filters see only pod processes unless --host */
  kubernetes?: boolean;
  verbose?: boolean;
}

export async function startDaemon(opts: DaemonOptions): Promise<void> {
  // handlers first: a SIGTERM during start must still remove the socket and unload everything
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  preflight();
  const runtime = new LocalRuntime({ node: opts.node, kubernetes: opts.kubernetes });
  // load the container tracker now so a broken kernel fails at start, not at the first run
  await runtime.listContainers();
  const log = (level: string, message: string): void => {
    if (opts.verbose || level !== 'info') process.stderr.write(`${level}: ${message}\n`);
  };
  const server = await startServer(runtime, opts.listen, { log });
  process.stderr.write(`kubectl-gadget daemon listening on ${server.address}\n`);

  await stopped;
  await server.close();
  await runtime.close();
}
