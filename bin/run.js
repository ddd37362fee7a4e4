#!/usr/bin/env node
// kubectl-gadget entry point (oclif). Errors are printed by plugin/src/errors.ts: one line,
// exit 1 for what the user can fix, 2 for bugs.

import { flush, run } from '@oclif/core';

try {
  await run(process.argv.slice(2), import.meta.url);
  await flush();
} catch (err) {
  const { reportError } = await import('../dist/plugin/src/errors.js');
  reportError(err);
}
// Everything is written and the runtime closed by now; do not wait for stray handles.
process.exit(process.exitCode ?? 0);
