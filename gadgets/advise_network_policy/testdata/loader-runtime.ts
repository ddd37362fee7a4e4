// Test-only GadgetRuntime for advise_network_policy while the daemon's libbpf wrapper cannot
// attach cgroup programs (Collection.attach() fails with EOPNOTSUPP on cgroup/connect4 & co.).
// It runs testdata/netpol-loader.c (built on demand into build/netpol/), which attaches the same
// object with bpf_program__attach_cgroup on the cgroup v2 root, and turns its framed records into
// the RunMessages LocalRuntime would send (no container registry: no 'containers' messages).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { clockOffsetNs } from '../../../daemon/src/bpf/index.js';
import { AsyncQueue } from '../../../daemon/src/runtime/queue.js';
import type {
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
} from '../../../daemon/src/runtime/types.js';
import { gadgetLayoutPath, gadgetObjectPath, packageRoot } from '../../framework/paths.js';
import type { RecordLayout } from '../../framework/types.js';
import { drainFlows } from '../drain.js';
import { descriptor } from '../gadget.js';

/** Sizes of the globals the loader may set (from program.bpf.c and bpf/gadget.h). */
const GLOBAL_SIZES: Record<string, number> = {
  report_interval_ns: 8,
  capture_dns: 1,
  gadget_filter_mode: 1,
  gadget_self_tgid: 4,
};

export const CGROUP2_ROOT = process.env.KGADGET_CGROUP2_ROOT ?? '/sys/fs/cgroup/unified';

function hexInt(v: number | bigint | boolean, size: number): string {
  let x = BigInt(typeof v === 'boolean' ? (v ? 1 : 0) : v);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b.toString('hex');
}

/** Builds build/netpol/netpol-loader when missing or older than its source; returns its path. */
export function ensureLoader(): string {
  const root = packageRoot();
  const src = join(root, 'gadgets', 'advise_network_policy', 'testdata', 'netpol-loader.c');
  const out = join(root, 'build', 'netpol', 'netpol-loader');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('mkdir', ['-p', join(root, 'build', 'netpol')]);
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', out, src, '-lbpf'], { stdio: 'inherit' });
  }
  return out;
}

export class LoaderRuntime implements GadgetRuntime {
  /** stderr of the last run (for test diagnostics) */
  lastStderr = '';

  constructor(private readonly node = hostname()) {}

  async info(): Promise<NodeInfo> {
    return { node: this.node, kernel: '', version: 'test-loader', gadgets: [] };
  }

  async listContainers(): Promise<[]> {
    return [];
  }

  async close(): Promise<void> {}

  async *run(req: RunRequest, signal: AbortSignal): AsyncIterable<RunMessage> {
    if (req.gadget !== descriptor.name)
      throw new Error(`LoaderRuntime only runs ${descriptor.name}`);
    const params: Record<string, string> = {};
    for (const p of descriptor.params) if (p.default !== undefined) params[p.name] = p.default;
    Object.assign(params, req.params);
    const config = descriptor.configure(params, { selfPid: process.pid });
    const args = ['-c', CGROUP2_ROOT];
    const globals: Record<string, unknown> = { ...config.rodata, gadget_self_tgid: process.pid };
    for (const [k, v] of Object.entries(globals)) {
      const size = GLOBAL_SIZES[k];
      if (
        size === undefined ||
        !(typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean')
      )
        throw new Error(`loader: cannot set ${k}`);
      args.push('-g', `${k}=${hexInt(v, size)}`);
    }
    for (const [map, entries] of Object.entries(config.maps ?? {})) {
      for (const [k, v] of entries)
        args.push(
          '-m',
          `${map}=${Buffer.from(k).toString('hex')}:${Buffer.from(v).toString('hex')}`,
        );
    }
    args.push(gadgetObjectPath(descriptor.name));
    const layout = JSON.parse(
      readFileSync(gadgetLayoutPath(descriptor.name), 'utf8'),
    ) as RecordLayout;

    const q = new AsyncQueue<RunMessage>();
    const child = spawn(ensureLoader(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let ready!: () => void;
    let failed!: (e: Error) => void;
    const readyP = new Promise<void>((res, rej) => {
      ready = res;
      failed = rej;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      this.lastStderr = stderr;
      if (stderr.includes('ready\n')) ready();
    });
    let pending: Buffer = Buffer.alloc(0);
    child.stdout.on('data', (d: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      for (;;) {
        let off = 0;
        let count = 0;
        let dump = false;
        while (off + 4 <= pending.length) {
          const len = pending.readUInt32LE(off);
          if (len === 0xffffffff) {
            dump = true;
            break;
          }
          const next = off + ((4 + len + 7) & ~7);
          if (next > pending.length) break;
          off = next;
          count++;
        }
        if (count > 0) {
          q.push({ kind: 'batch', records: Buffer.from(pending.subarray(0, off)), count });
          pending = pending.subarray(off);
        }
        if (!dump) return;
        // the map dump at exit: [0xffffffff, key size, value size, n] then n (key, value)
        if (pending.length < 16) return;
        const ks = pending.readUInt32LE(4);
        const vs = pending.readUInt32LE(8);
        const n = pending.readUInt32LE(12);
        const end = 16 + n * (ks + vs);
        if (pending.length < end) return;
        const entries: Array<[Uint8Array, Uint8Array]> = [];
        for (let i = 0, p = 16; i < n; i++, p += ks + vs) {
          entries.push([pending.subarray(p, p + ks), pending.subarray(p + ks, p + ks + vs)]);
        }
        const drained = drainFlows(entries, layout);
        if (drained.count > 0)
          q.push({ kind: 'batch', records: drained.records, count: drained.count });
        pending = pending.subarray(end);
      }
    });
    const exited = new Promise<number>((res) => child.on('close', (code) => res(code ?? 1)));
    void exited.then((code) => {
      failed(new Error(`netpol-loader exited (${code}): ${stderr.trim()}`));
      q.push({ kind: 'done', reason: signal.aborted ? 'cancelled' : `loader exited (${code})` });
      q.end();
    });
    const stop = (): void => {
      child.stdin.end();
    };
    signal.addEventListener('abort', stop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    if (req.timeoutSeconds > 0) timer = setTimeout(stop, req.timeoutSeconds * 1000);
    try {
      await readyP;
      yield {
        kind: 'header',
        header: { gadget: descriptor.name, node: this.node, layout, bootToWallNs: clockOffsetNs() },
      };
      for await (const m of q) yield m;
    } finally {
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      if (child.exitCode === null) {
        child.stdin.end();
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    }
  }
}
