// Output to a regular file that may fill up (`-o json > FILE`, `advise network-policy monitor
// -o json > FILE`). Node's stdout on a file is a SyncWriteStream: one write(2) per chunk, a short
// write dropped without a word and a later ENOSPC emitted as a stream error. Here each chunk is
// written to the end in a loop, and on a write error (ENOSPC, EDQUOT, EFBIG, EIO) the torn last
// line is cut off again, so the file holds only whole NDJSON lines, and the error says how many.

import { fstatSync, ftruncateSync, readlinkSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { UserError, fsReason } from '../errors.js';

export class FileOut {
  /** complete lines written by this process */
  lines = 0;
  /** bytes written since the last newline (a chunk need not end in one) */
  private sinceNewline = 0;

  constructor(
    readonly fd: number,
    /** the file's name in messages */
    readonly name: string,
  ) {}

  /** stdout, when it is a regular file (shell redirection); undefined otherwise. */
  static stdout(): FileOut | undefined {
    try {
      if (!fstatSync(1).isFile()) return undefined;
    } catch {
      return undefined;
    }
    let name = 'stdout';
    try {
      name = readlinkSync('/proc/self/fd/1');
    } catch {
      // keep "stdout"
    }
    return new FileOut(1, name);
  }

  /** Writes the whole chunk; throws a one-line UserError after cutting a torn line off. */
  write(chunk: string | Buffer): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    } catch (e) {
      this.account(buf, off);
      throw this.failed(e);
    }
    this.account(buf, buf.length);
  }

  private account(buf: Buffer, n: number): void {
    let nl = 0;
    let last = -1;
    for (let i = buf.indexOf(10); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) {
      nl++;
      last = i;
    }
    this.lines += nl;
    this.sinceNewline = last === -1 ? this.sinceNewline + n : n - last - 1;
  }

  private failed(e: unknown): UserError {
    let kept = `it ends with the last complete line (${this.lines} lines written)`;
    if (this.sinceNewline > 0) {
      try {
        // the file position is its end (`>` or `>>`): the torn bytes are its last ones
        ftruncateSync(this.fd, fstatSync(this.fd).size - this.sinceNewline);
        this.sinceNewline = 0;
      } catch (t) {
        kept = `its last line is torn (${this.lines} complete lines; cutting it off failed: ${fsReason(t)})`;
      }
    }
    return new UserError(`cannot write to ${this.name}: ${fsReason(e)}; ${kept}`);
  }
}

/**
 * Writes text to `out` and waits until it is written: through FileOut when `out` is stdout on a
 * regular file, else the stream's callback (an error becomes a one-line UserError; a closed pipe
 * is not one: the reader left).
 */
export async function writeText(out: Writable, text: string): Promise<void> {
  const file = out === process.stdout ? FileOut.stdout() : undefined;
  if (file) return file.write(text);
  const gone = (e: unknown): boolean =>
    ['EPIPE', 'ERR_STREAM_DESTROYED'].includes((e as NodeJS.ErrnoException).code ?? '');
  // the stream also emits the error: without a listener that would be an uncaught exception
  const ignore = (): void => {};
  out.on('error', ignore);
  try {
    await new Promise<void>((resolve, reject) => {
      out.write(text, (e) => {
        if (!e || gone(e)) resolve();
        else reject(new UserError(`cannot write the output: ${fsReason(e)}`));
      });
    });
  } finally {
    out.off('error', ignore);
  }
}
