// Writing to stdout with backpressure: callers await only when the stream asks them to.

import type { Writable } from 'node:stream';

/** A stream that will never drain again (closed pipe, `| head`): writes to it are dropped. */
function dead(out: Writable): boolean {
  return out.destroyed || out.writableEnded || out.errored !== null;
}

function waitDrain(out: Writable): Promise<void> {
  // 'error'/'close' may have been emitted already: they would never come again
  if (dead(out)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}

/** Write one chunk; returns a promise only if the stream's buffer is full (await it). */
export function writeChunk(out: Writable, chunk: string | Buffer): void | Promise<void> {
  if (chunk.length === 0 || dead(out) || out.write(chunk)) return;
  return waitDrain(out);
}

/** Resolves once everything written so far has left the stream's buffer. */
export async function drained(out: Writable): Promise<void> {
  if (out.writableNeedDrain) await waitDrain(out);
}
