// REPLAY MODE (a simulation, for the scale harness): a GadgetRuntime that stands in for one
// node's BPF programs. It feeds records captured once from the real gadgets (capture.ts,
// e2e/scale/testdata/) in the real batch framing (proto/ts/records.ts) at a set rate, and is
// served by the real gRPC server (daemon/src/server/server.ts) in replay-daemon.ts.
//
// - The schedule is absolute: record k of a run is due at start + k / rate. Each tick sends what
//   is due, so a late tick catches up instead of slowing the rate down.
// - A record not sent within `maxLateMs` (default 1 s) of its due time is not sent: it counts as
//   lost (in the run's stats.lost, as kernel ring-buffer losses are). Slowing down never hides a
//   loss. (The real gadgets' 16 MiB ring buffer would hold far more than 1 s of these records: the
//   bound is stricter than the kernel.) How late sent records were is reported (lateMaxMs).
// - With `count`, a run ends (done) once that many records were due: the harness then knows
//   exactly what each node sent.
// - Each record is stamped with its emit time: the timestamp field (boot clock, ns) is
//   overwritten just before the batch is handed to the server, so the CLI's output timestamp
//   minus the record's timestamp is the emit-to-output latency.
// - The records belong to one simulated pod container of the node (mntns_id/mntns_uid are
//   overwritten with its ids); the container is announced like the real daemon announces one.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ContainerInfo } from '../../gadgets/framework/containers.js';
import { RunError } from '../../gadgets/framework/errors.js';
import { matchesFilter } from '../../gadgets/framework/filter.js';
import type {
  GadgetRuntime,
  NodeInfo,
  RunHeader,
  RunMessage,
  RunRequest,
} from '../../gadgets/framework/runtime.js';
import { version } from '../../gadgets/framework/version.js';
import { framedSize } from '../../proto/ts/records.js';
import { ROOT } from '../helpers/cli.js';

export const REPLAY_GADGETS = ['trace_exec', 'trace_open'] as const;
export const SIM_NAMESPACE = 'kgscale';

export interface Capture {
  gadget: string;
  capturedAt: string;
  kernel: string;
  header: { layout: RunHeader['layout']; bootToWallNs: string };
  records: string[];
}

/** A capture, loaded once: the payloads and where timestamp and mntns fields sit. */
export interface LoadedCapture {
  gadget: string;
  layout: RunHeader['layout'];
  payloads: Buffer[];
  tsOff: number;
  mntnsOff: number;
  mntnsUidOff: number;
}

const cache = new Map<string, LoadedCapture>();

export function loadCapture(gadget: string): LoadedCapture {
  let c = cache.get(gadget);
  if (c) return c;
  const path = join(ROOT, 'e2e', 'scale', 'testdata', `${gadget}.json.gz`);
  const raw = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8')) as Capture;
  const off = (name: string): number => {
    const f = raw.header.layout.fields.find((x) => x.name === name);
    if (!f) throw new Error(`${path}: no field ${name} in the layout`);
    return f.offset;
  };
  c = {
    gadget,
    layout: raw.header.layout,
    payloads: raw.records.map((r) => Buffer.from(r, 'base64')),
    tsOff: off('timestamp'),
    mntnsOff: off('mntns_id'),
    mntnsUidOff: off('mntns_uid'),
  };
  if (c.payloads.length === 0) throw new Error(`${path}: no records`);
  cache.set(gadget, c);
  return c;
}

/** The boot clock (CLOCK_BOOTTIME) offset: wall = boot + this. /proc/uptime is 10 ms coarse. */
function bootToWallNs(): bigint {
  const up = readFileSync('/proc/uptime', 'utf8').split(' ')[0]!;
  const [s, cs = '0'] = up.split('.');
  const bootNs = BigInt(s!) * 1_000_000_000n + BigInt(cs.padEnd(9, '0').slice(0, 9));
  return wallNowNs() - bootNs;
}

/** Wall-clock ns with sub-ms resolution. */
export function wallNowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

export interface ReplayOptions {
  node: string;
  /** records per second of each run */
  rate: number;
  /** index of the node (makes its container ids unique) */
  index: number;
  /** one batch per tick; default 20 ms */
  tickMs?: number;
  /** a record later than this past its due time is lost; default 1000 ms */
  maxLateMs?: number;
  /** records of a run (sent + lost), then it ends with done; default 0: until cancelled */
  count?: number;
  /** after `count` records, keep the stream open (idle) until cancelled instead of ending */
  hold?: boolean;
  /** a run's totals, when it ends (the replay daemon reports them) */
  onRunEnd?: (r: ReplayRunReport) => void;
}

export interface ReplayRunReport {
  node: string;
  gadget: string;
  rate: number;
  sent: number;
  lost: number;
  /** the latest a sent record went out after its due time, ms */
  lateMaxMs: number;
  /** unix ms of the run's first and last batch */
  firstMs: number;
  lastMs: number;
}

export class ReplayRuntime implements GadgetRuntime {
  readonly container: ContainerInfo;
  private readonly boot2wall = bootToWallNs();

  constructor(private readonly opts: ReplayOptions) {
    const mntns = 4026600000 + opts.index;
    const podUid = `00000000-0000-4000-8000-${String(opts.index).padStart(12, '0')}`;
    this.container = {
      runtime: 'containerd',
      id: `${String(opts.index).padStart(8, '0')}`.padEnd(64, 'e'),
      name: 'app',
      pid: 1,
      mntnsId: mntns,
      mntnsUid: 900000 + opts.index,
      generation: 1,
      state: 'running',
      startedAt: Date.now(),
      image: 'replay',
      annotations: {},
      k8s: {
        namespace: SIM_NAMESPACE,
        pod: `app-${opts.node}`,
        container: 'app',
        podUid,
        labels: { app: 'replay' },
        ownerKind: '',
        ownerName: '',
        podIp: '',
        hostNetwork: false,
      },
    };
  }

  async info(): Promise<NodeInfo> {
    return {
      node: this.opts.node,
      kernel: 'replay (simulation)',
      version,
      gadgets: REPLAY_GADGETS.map((g) => ({
        name: g,
        command: g.split('_'),
        description: `${g} (replay)`,
      })),
    };
  }

  async listContainers(): Promise<ContainerInfo[]> {
    return [this.container];
  }

  async *run(req: RunRequest, signal: AbortSignal): AsyncIterable<RunMessage> {
    if (!(REPLAY_GADGETS as readonly string[]).includes(req.gadget))
      throw new RunError('NOT_FOUND', `replay mode has no gadget "${req.gadget}"`);
    const cap = loadCapture(req.gadget);
    const { rate } = this.opts;
    const tickMs = this.opts.tickMs ?? 20;
    const maxLateMs = this.opts.maxLateMs ?? 1000;
    const count = this.opts.count && this.opts.count > 0 ? this.opts.count : Infinity;
    yield {
      kind: 'header',
      header: {
        gadget: req.gadget,
        node: this.opts.node,
        layout: cap.layout,
        bootToWallNs: this.boot2wall,
      },
    };
    const selected = matchesFilter(req.filter, this.container);
    if (selected) yield { kind: 'containers', containers: [this.container] };
    const report: ReplayRunReport = {
      node: this.opts.node,
      gadget: req.gadget,
      rate,
      sent: 0,
      lost: 0,
      lateMaxMs: 0,
      firstMs: 0,
      lastMs: 0,
    };
    const t0 = performance.now();
    const endAt = req.timeoutSeconds > 0 ? t0 + req.timeoutSeconds * 1000 : Infinity;
    let next = 0; // index of the next record in the schedule
    let cursor = 0; // position in the capture
    let lastStats = t0;
    const wait = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        const t = setTimeout(done, ms);
        function done(): void {
          signal.removeEventListener('abort', done);
          clearTimeout(t);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    try {
      for (let tick = 1; !signal.aborted; tick++) {
        const at = t0 + tick * tickMs;
        const now0 = performance.now();
        if (at > now0) await wait(at - now0);
        if (signal.aborted) break;
        const now = Math.min(performance.now(), endAt);
        if (!selected) {
          if (now >= endAt) break;
          continue;
        }
        // records due by now: k with t0 + k/rate*1000 <= now
        const due = Math.min(count, Math.floor(((now - t0) * rate) / 1000));
        // too late to send: due before now - maxLateMs
        const lateLimit = Math.min(count, Math.floor(((now - maxLateMs - t0) * rate) / 1000));
        if (lateLimit > next) {
          report.lost += lateLimit - next;
          next = lateLimit;
        }
        const n = due - next;
        if (n > 0) {
          // the oldest record of this batch was due at t0 + next / rate
          const late = now - (t0 + ((next + 1) * 1000) / rate);
          if (late > report.lateMaxMs) report.lateMaxMs = late;
          let size = 0;
          for (let i = 0; i < n; i++)
            size += framedSize(cap.payloads[(cursor + i) % cap.payloads.length]!.length);
          const batch = Buffer.alloc(size);
          const stamp = wallNowNs() - this.boot2wall;
          let off = 0;
          for (let i = 0; i < n; i++) {
            const p = cap.payloads[cursor]!;
            cursor = (cursor + 1) % cap.payloads.length;
            batch.writeUInt32LE(p.length, off);
            p.copy(batch, off + 4);
            batch.writeBigUInt64LE(stamp, off + 4 + cap.tsOff);
            batch.writeBigUInt64LE(BigInt(this.container.mntnsId), off + 4 + cap.mntnsOff);
            batch.writeBigUInt64LE(BigInt(this.container.mntnsUid!), off + 4 + cap.mntnsUidOff);
            off += framedSize(p.length);
          }
          next = due;
          report.sent += n;
          const wall = Date.now();
          if (!report.firstMs) report.firstMs = wall;
          report.lastMs = wall;
          yield { kind: 'batch', records: batch, count: n };
        }
        if (now - lastStats >= 1000) {
          lastStats = now;
          yield { kind: 'stats', stats: { events: report.sent, lost: report.lost } };
        }
        if (now >= endAt) break;
        if (next >= count) {
          if (!this.opts.hold) break;
          yield { kind: 'stats', stats: { events: report.sent, lost: report.lost } };
          await wait(endAt === Infinity ? 2 ** 31 - 1 : endAt - performance.now());
          break;
        }
      }
      yield { kind: 'stats', stats: { events: report.sent, lost: report.lost } };
      if (!signal.aborted)
        yield { kind: 'done', reason: next >= count ? 'replay done' : 'timeout' };
    } finally {
      this.opts.onRunEnd?.(report);
    }
  }

  async close(): Promise<void> {}
}
