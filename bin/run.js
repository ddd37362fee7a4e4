#!/usr/bin/env node
// kubectl-gadget entry point (oclif). Errors are printed by plugin/src/errors.ts: one line,
// exit 1 for what the user can fix, 2 for bugs.

import { flush, run } from '@oclif/core';

/**
 * oclif's flush() waits for 'drain', which a stdout whose reader is gone (EPIPE) never emits:
 * with nothing else in the event loop, node would end with exit code 13 (unsettled top-level
 * await). Node "undestroys" stdio after an error, so each write fails again with 'error' and
 * 'close': those end the wait too.
 */
function flushStdout() {
  return new Promise((resolve) => {
    const out = process.stdout;
    const done = () => {
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.once('close', done);
    out.once('error', done);
    flush().then(done, done);
  });
}

try {
  await run(process.argv.slice(2), import.meta.url);
  await flushStdout();
} catch (err) {
  const { reportError } = await import('../dist/plugin/src/errors.js');
  reportError(err);
}
// Everything is written and the runtime closed by now; do not wait for stray handles.
process.exit(process.exitCode ?? 0);
