// What the map and traceloop routes share to reuse the commands as they are: a Writable that
// keeps a command's output for reading back, and the commands' user errors as the server's 400.

import { Writable } from 'node:stream';
import { isUserError } from '../../errors.js';
import { UiInputError } from './types.js';

/** Keeps what is written (a pipe to the command: no TTY, so no terminal width). */
export class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** A UserError of the services (a bad flow file, a bad -F) as UiInputError: one line + hint. */
export async function asInput<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (isUserError(e)) throw new UiInputError(e.reason, e.hint);
    throw e;
  }
}
