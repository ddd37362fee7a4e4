// A daemon of a test's own: the real CLI's `daemon` on a unix socket in a fresh directory, with
// a traceloop pin directory of its own (so tests never share or touch the node's recordings),
// and the real CLI against it with --remote.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cli, runCli } from './cli.js';
import type { CliExit, Ev, SpawnOptions } from './cli.js';

export interface DaemonOptions {
  /** more environment for the daemon and the CLI runs against it (HOST_ROOT, ...) */
  env?: Record<string, string>;
  /** a command line the daemon runs under (capsh ...) */
  wrapper?: SpawnOptions['wrapper'];
  /** more daemon flags (--redact, ...) */
  args?: string[];
}

export class TestDaemon {
  /** /tmp/kgtest-<tag>-XXXXXX, holding the socket */
  readonly dir: string;
  readonly sock: string;
  /** unix://<sock>, for --remote */
  readonly addr: string;
  /** /sys/fs/bpf/kgtest-<tag>-<our pid> */
  readonly pinDir: string;
  /** the environment of the daemon and of the CLI runs against it */
  readonly env: Record<string, string>;
  private readonly wrapper: SpawnOptions['wrapper'];
  private readonly args: string[];
  private current: Cli | undefined;

  constructor(tag: string, opts: DaemonOptions = {}) {
    this.dir = realpathSync(mkdtempSync(`/tmp/kgtest-${tag}-`));
    this.sock = join(this.dir, 'gadget.sock');
    this.addr = `unix://${this.sock}`;
    this.pinDir = `/sys/fs/bpf/kgtest-${tag}-${process.pid}`;
    this.env = { KGADGET_TRACELOOP_PIN_DIR: this.pinDir, ...opts.env };
    this.wrapper = opts.wrapper;
    this.args = opts.args ?? [];
  }

  /** The daemon process started last. */
  get daemon(): Cli {
    assert.ok(this.current, 'the test daemon was not started');
    return this.current;
  }

  get running(): boolean {
    return this.current?.running ?? false;
  }

  /** Starts a daemon process (again, on the same socket and pins) and waits until it listens. */
  async start(): Promise<Cli> {
    const d = new Cli(['daemon', '--listen', this.addr, ...this.args], {
      env: this.env,
      wrapper: this.wrapper,
    });
    this.current = d;
    await d.waitUntil(
      () => d.stderr.includes('listening') && existsSync(this.sock),
      30_000,
      'the daemon listening',
    );
    return d;
  }

  /** Runs the CLI against this daemon to completion. */
  cli(args: string[]): ReturnType<typeof runCli> {
    return runCli([...args, '--remote', this.addr], { env: this.env, timeoutMs: 60_000 });
  }

  /** cli(), asserting exit 0. */
  async ok(args: string[]): ReturnType<typeof runCli> {
    const r = await this.cli(args);
    assert.equal(r.code, 0, `kubectl-gadget ${args.join(' ')}: ${r.stderr}`);
    return r;
  }

  /** ok() with -o json, parsed as one JSON document (a list, for `traceloop list`). */
  async json<T = Ev[]>(args: string[]): Promise<T> {
    return JSON.parse((await this.ok([...args, '-o', 'json'])).stdout) as T;
  }

  /** ok() with -o json, parsed as one JSON object a line (`traceloop show`). */
  async ndjson(args: string[]): Promise<Ev[]> {
    return (await this.ok([...args, '-o', 'json'])).stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Ev);
  }

  /** Stops the daemon process if it runs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs?: number): Promise<CliExit | undefined> {
    return this.current?.running ? this.current.stop(signal, timeoutMs) : undefined;
  }

  /**
   * For `after` hooks, no assertions: deletes the traceloop recordings (unless `traceloop` is
   * false), stops the daemon, removes the directory and the pins.
   */
  async cleanup(
    opts: { traceloop?: boolean; signal?: NodeJS.Signals; timeoutMs?: number } = {},
  ): Promise<void> {
    if (opts.traceloop !== false && this.running) {
      await this.cli(['traceloop', 'delete']).catch(() => undefined);
    }
    await this.stop(opts.signal ?? 'SIGTERM', opts.timeoutMs);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.pinDir, { recursive: true, force: true });
  }
}

/** A TestDaemon, started; removed again when it does not come up. */
export async function startDaemon(tag: string, opts?: DaemonOptions): Promise<TestDaemon> {
  const d = new TestDaemon(tag, opts);
  try {
    await d.start();
  } catch (e) {
    await d.cleanup({ traceloop: false, signal: 'SIGKILL' });
    throw e;
  }
  return d;
}
