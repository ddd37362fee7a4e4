// TEST HELPER: spawn a node child that prints JSON lines on stdout, and wait for lines.

import { spawn, type ChildProcess } from 'node:child_process';

export type Line = Record<string, unknown>;

export class JsonLineChild {
  readonly proc: ChildProcess;
  readonly lines: Line[] = [];
  stderr = '';
  private waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(script: string | URL, args: string[]) {
    const path = script instanceof URL ? script.pathname : script;
    this.proc = spawn(process.execPath, [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (text.trim() === '') continue;
        try {
          this.lines.push(JSON.parse(text) as Line);
        } catch {
          this.lines.push({ event: 'raw', text });
        }
      }
      this.wake();
    });
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code) => {
        this.wake();
        resolve(code);
      }),
    );
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first line (from the start) matching pred; rejects after timeoutMs. */
  async waitFor(pred: (l: Line) => boolean, timeoutMs = 5000, what = 'line'): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(
          `timed out waiting for ${what}; lines: ${JSON.stringify(this.lines)}; stderr: ${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Start scripted-daemon.js on `listen` and wait until it listens. */
export async function startScriptedDaemon(
  listen: string,
  opts: object = {},
): Promise<{ child: JsonLineChild; address: string }> {
  const child = new JsonLineChild(new URL('./scripted-daemon.js', import.meta.url), [
    listen,
    JSON.stringify(opts),
  ]);
  const l = await child.waitFor(
    (x) => x.event === 'listening' || x.event === 'error',
    10000,
    'daemon to listen',
  );
  if (l.event === 'error') throw new Error(`scripted daemon failed: ${String(l.message)}`);
  return { child, address: String(l.address) };
}
