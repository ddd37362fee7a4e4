// Container identity from the OCI runtime's exec, before the container's first process runs.
//
// The native watcher (daemon/native/fanotify.c) holds every exec of the runtime binaries (runc,
// crun) with fanotify FAN_OPEN_EXEC_PERM until its own thread has read, from /proc/<pid> of the
// exec'ing process, its argv and cwd and the bundle's config.json; then it allows the exec.
// Which execs name a container, and what they tell:
//   conmon -> runc|crun create   (podman, cri-o) conmon's argv: -c ID, -n NAME, -b BUNDLE, -p PIDFILE
//   runc create -> runc init     runc's argv: create --bundle B --pid-file P ID (any caller)
//   containerd-shim -> runc      the shim's cwd is a bundle (its pod's sandbox); once the exec is
//                                done, the runtime's own argv (--bundle, id) is read ('exec' record)
//   podman -> runc start|delete  the id only (the argv after exec); delete ends the retention clock
// Records reach JS through a queue the thread fills: lookup() drains it first, so a record
// queued before the registry asks is seen even while the notification is still on its way.
//
// RuntimeExecSource keeps what it learned by container id for `retentionMs` after the last exec
// that named it (the runtime's `delete` comes at the container's end), at most `maxEntries`
// (oldest evicted, counted), and answers MetadataSource.lookup from it: the registry names a
// container whose runtime files are gone.

import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';

import { native } from '../bpf/native.js';
import type { RuntimeName } from './cgroup.js';
import type { MetadataSource, RuntimeMeta } from './sources.js';
import { parseOciConfig, type OciBundleInfo } from './sources.js';

/** One record of the native watcher. */
export interface ExecRecord {
  /**
   * 'perm': a permission event (exe/argv/cwd are the exec'ing process's, still the caller's
   * image, e.g. conmon); 'exec': the same pid once the exec was done (the runtime's own argv)
   */
  kind: 'perm' | 'exec';
  /** an 'exec' record has the seq of its 'perm' record */
  seq: number;
  pid: number;
  ppid: number;
  exe: string;
  argv: string[];
  cwd: string;
  /** the bundle directory whose config.json was read ('' if none) */
  bundle: string;
  config: string | null;
  /** CLOCK_BOOTTIME ns when the event was read */
  tsNs: number;
  /** from reading the event to answering it, ns (0 for 'exec') */
  answerNs: number;
}

export interface ExecWatchStats {
  /** fanotify events read */
  seen: number;
  /** permission events answered (always FAN_ALLOW) */
  answered: number;
  /** slowest answer, from reading the event to writing the answer, ns */
  maxAnswerNs: number;
  totalAnswerNs: number;
  /** records not queued (queue full or no memory): the exec was answered all the same */
  dropped: number;
  queued: number;
  queuedBytes: number;
  /** the kernel's fanotify queue overflowed (events lost; permission events are not) */
  overflows: number;
  errors: number;
  configReads: number;
  configTruncated: number;
  /** callers followed until their exec was done */
  followed: number;
  followTimeouts: number;
  /** callers not followed: too many at once */
  followFull: number;
  running: boolean;
}

export type WatcherHandle = { readonly __brand: 'exec-watcher' };

interface FanotifyAddon {
  fanotifyWatch(
    paths: string[],
    cb: (() => void) | null,
    opts?: { maxConfigBytes?: number; maxQueued?: number; maxQueuedBytes?: number },
  ): WatcherHandle;
  fanotifyDrain(w: WatcherHandle): ExecRecord[];
  fanotifyStats(w: WatcherHandle): ExecWatchStats;
  fanotifyClose(w: WatcherHandle): void;
}

const addon = (): FanotifyAddon => native() as unknown as FanotifyAddon;

/** The native watcher: the binaries are marked until close(). */
export class ExecWatcher {
  private closed = false;
  private constructor(private readonly h: WatcherHandle) {}

  /**
   * Marks `paths` (throws with code EPERM without CAP_SYS_ADMIN, or the errno of a path). `onReady`
   * is called (on the event loop, coalesced) when records wait to be drained.
   */
  static start(
    paths: string[],
    onReady?: () => void,
    opts: { maxConfigBytes?: number; maxQueued?: number; maxQueuedBytes?: number } = {},
  ): ExecWatcher {
    return new ExecWatcher(addon().fanotifyWatch(paths, onReady ?? null, opts));
  }

  drain(): ExecRecord[] {
    return this.closed ? [] : addon().fanotifyDrain(this.h);
  }

  stats(): ExecWatchStats {
    return addon().fanotifyStats(this.h);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    addon().fanotifyClose(this.h);
  }
}

// ---------------------------------------------------------------------------------------------
// finding the runtime binaries

export const RUNTIME_NAMES = ['runc', 'crun'] as const;
const BIN_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/bin', '/sbin'];
const CONTAINERD_CONFIGS = ['/etc/containerd/config.toml'];
const CONTAINERS_CONFS = [
  '/etc/containers/containers.conf',
  '/usr/share/containers/containers.conf',
];

/** A path of the host under `root`, its symlinks followed inside `root` (at most 8). */
function resolveInRoot(root: string, hostPath: string): string | null {
  let p = join(root, hostPath);
  for (let i = 0; i < 8; i++) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return null;
    }
    if (!st.isSymbolicLink()) return p;
    const t = readlinkSync(p);
    p = isAbsolute(t) ? join(root, t) : join(dirname(p), t);
  }
  return null;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Runtime binary paths named by containerd's config (`BinaryName = "..."` of the runc runtime
 * options) and podman's containers.conf (`runc = ["/usr/bin/runc", ...]`). Pure: text in.
 */
export function configuredRuntimePaths(containerdToml: string, containersConf: string): string[] {
  const out: string[] = [];
  for (const m of containerdToml.matchAll(/^\s*BinaryName\s*=\s*["']([^"']+)["']/gm)) {
    if (m[1]) out.push(m[1]);
  }
  // [engine.runtimes] runc = [ "...", ... ], crun = [...]
  for (const m of containersConf.matchAll(/^\s*(runc|crun)\s*=\s*\[([^\]]*)\]/gm)) {
    for (const q of (m[2] ?? '').matchAll(/["']([^"']+)["']/g)) if (q[1]) out.push(q[1]);
  }
  return out;
}

/**
 * The runtime binaries on the host seen under `root` ('/' or e.g. '/host'): runc and crun in
 * PATH (only when root is '/': a pod's PATH is not the host's) and the usual directories, plus
 * what containerd's and podman's configs name. Symlinks are followed, and each file is listed
 * once (marks are per inode).
 */
export function findRuntimeBinaries(
  root = '/',
  pathEnv: string | undefined = process.env.PATH,
): string[] {
  const candidates: string[] = [];
  const dirs = [...BIN_DIRS];
  if (root === '/' && pathEnv) {
    for (const d of pathEnv.split(':')) if (d.startsWith('/') && !dirs.includes(d)) dirs.push(d);
  }
  for (const d of dirs) for (const n of RUNTIME_NAMES) candidates.push(join(d, n));
  const toml = CONTAINERD_CONFIGS.map((f) => readOr(join(root, f))).join('\n');
  const conf = CONTAINERS_CONFS.map((f) => readOr(join(root, f))).join('\n');
  for (const p of configuredRuntimePaths(toml, conf)) {
    if (isAbsolute(p)) candidates.push(p);
    else for (const d of dirs) candidates.push(join(d, p));
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of candidates) {
    const p = resolveInRoot(root, c);
    if (!p) continue;
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (!st.isFile() || (st.mode & 0o111) === 0) continue;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// records -> container identity (pure)

/** Global options of runc and crun that take a separate value. */
const VALUE_GLOBALS = new Set([
  '--root',
  '--log',
  '--log-format',
  '--log-level',
  '--criu',
  '--rootless',
  '--cgroup-manager',
]);

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,255}$/;

export interface RuntimeArgs {
  /** create, run, start, exec, delete, kill, state, init, ... ('' if none) */
  subcommand: string;
  /** the container id: the last argument ('' if none) */
  id: string;
  bundle: string;
  pidFile: string;
}

/** Parses a runc/crun command line ("runc [globals] <subcommand> [options] <id>"). */
export function parseRuntimeArgv(argv: readonly string[]): RuntimeArgs {
  const out: RuntimeArgs = { subcommand: '', id: '', bundle: '', pidFile: '' };
  let i = 1;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('-')) break;
    if (VALUE_GLOBALS.has(a)) i++;
  }
  out.subcommand = argv[i] ?? '';
  const rest = argv.slice(i + 1);
  for (let j = 0; j < rest.length; j++) {
    const a = rest[j] as string;
    const next = rest[j + 1] ?? '';
    if (a === '--bundle' || a === '-b') out.bundle = next;
    else if (a.startsWith('--bundle=')) out.bundle = a.slice('--bundle='.length);
    else if (a === '--pid-file') out.pidFile = next;
    else if (a.startsWith('--pid-file=')) out.pidFile = a.slice('--pid-file='.length);
  }
  const last = rest[rest.length - 1] ?? '';
  if (out.subcommand !== 'init' && rest.length && ID_RE.test(last) && !last.startsWith('-')) {
    out.id = last;
  }
  return out;
}

/** What conmon's command line tells: -c ID, -n NAME, -b BUNDLE, -p PIDFILE, -r RUNTIME. */
export function parseConmonArgv(argv: readonly string[]): {
  id: string;
  name: string;
  bundle: string;
  pidFile: string;
  exec: boolean;
} {
  const get = (short: string, long: string): string => {
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i] as string;
      if (a === short || a === long) return argv[i + 1] ?? '';
      if (a.startsWith(long + '=')) return a.slice(long.length + 1);
    }
    return '';
  };
  return {
    id: get('-c', '--cid'),
    name: get('-n', '--name'),
    bundle: get('-b', '--bundle'),
    pidFile: get('-p', '--container-pidfile'),
    exec: argv.includes('-e') || argv.includes('--exec'),
  };
}

const base = (p: string): string => basename(p || '');
const isRuntimeExe = (exe: string): boolean =>
  (RUNTIME_NAMES as readonly string[]).includes(base(exe));

/** What one record says of a container; null when it names none. */
export interface ExecFacts {
  id: string;
  /** podman's name from conmon -n ('' if none) */
  name: string;
  subcommand: string;
  bundle: string;
  config: string | null;
  pidFile: string;
  /** containerd namespace when the bundle is a containerd task dir */
  containerdNamespace: string;
}

const TASK_DIR_RE = /\/io\.containerd\.runtime\.v[12]\.(?:task|linux)\/([^/]+)\/([^/]+)\/?$/;

export function factsOf(r: ExecRecord): ExecFacts | null {
  const facts: ExecFacts = {
    id: '',
    name: '',
    subcommand: '',
    bundle: r.bundle,
    config: r.config,
    pidFile: '',
    containerdNamespace: '',
  };
  const argv0 = base(r.argv[0] ?? '');
  if (r.kind === 'exec' || isRuntimeExe(r.exe) || isRuntimeExe(argv0)) {
    // the runtime's own argv: after the exec, or runc create re-exec'ing itself as runc init
    const a = parseRuntimeArgv(r.argv);
    facts.id = a.id;
    facts.subcommand = a.subcommand;
    facts.pidFile = a.pidFile;
  } else if (argv0 === 'conmon') {
    const c = parseConmonArgv(r.argv);
    facts.id = c.id;
    facts.name = c.name;
    facts.pidFile = c.pidFile;
    facts.subcommand = c.exec ? 'exec' : 'create';
  }
  const task = TASK_DIR_RE.exec(r.bundle);
  if (task) {
    facts.containerdNamespace = task[1] as string;
    // a shim's cwd: its pod's sandbox bundle, whose directory is the sandbox's id
    if (!facts.id && r.config) facts.id = task[2] as string;
  }
  if (!facts.id || !ID_RE.test(facts.id)) return null;
  return facts;
}

// ---------------------------------------------------------------------------------------------
// the metadata source

interface Known {
  meta: RuntimeMeta;
  pidFile: string;
  /** Date.now() of the newest record naming it */
  at: number;
}

export interface RuntimeExecStats extends ExecWatchStats {
  /** container ids known */
  cached: number;
  /** dropped to stay within maxEntries before their retention was over */
  evicted: number;
  /** dropped after the retention */
  expired: number;
  /** records drained from the watcher */
  records: number;
  /** config.json that did not parse */
  badConfigs: number;
}

export interface RuntimeExecOptions {
  /** the host's root as this process sees it ('/' or '/host' in a pod) */
  hostRoot?: string;
  /** binaries to mark (default: findRuntimeBinaries(hostRoot)) */
  binaries?: string[];
  /** how long a container is kept after the last exec that named it (default 10 min) */
  retentionMs?: number;
  maxEntries?: number;
  /** docker's data root (host path), for docker names */
  dockerRoot?: string;
  /** called for each record (tests, diagnostics) */
  onRecord?: (r: ExecRecord) => void;
}

export type StartResult =
  | { ok: true; binaries: string[] }
  | { ok: false; reason: 'denied' | 'no-binaries' | 'error'; message: string };

/** containers whose parsed config.json is kept: more than start at once */
const PARSED_MAX = 64;

export class RuntimeExecSource implements MetadataSource {
  readonly name = 'runtime-exec';
  private watcher: ExecWatcher | undefined;
  private readonly known = new Map<string, Known>();
  private readonly retentionMs: number;
  private readonly maxEntries: number;
  private readonly hostRoot: string;
  private evicted = 0;
  private expired = 0;
  private records = 0;
  private badConfigs = 0;
  private lastSweep = 0;
  private lastStats: ExecWatchStats | undefined;
  private disk: readonly MetadataSource[] = [];
  /**
   * The parsed config.json by container id: each runtime exec of a container (conmon's, runc
   * create's, runc init's, start, delete) reads the same bundle, parsed once while unchanged;
   * the newest PARSED_MAX only (each holds its config's text)
   */
  private readonly parsed = new Map<string, { config: string; oci: OciBundleInfo }>();

  constructor(private readonly opts: RuntimeExecOptions = {}) {
    this.retentionMs = opts.retentionMs ?? 10 * 60 * 1000;
    this.maxEntries = opts.maxEntries ?? 4096;
    this.hostRoot = opts.hostRoot ?? '/';
  }

  /** Marks the runtime binaries. Never throws: the result says why it did not start. */
  start(): StartResult {
    if (this.watcher) return { ok: true, binaries: [] };
    let binaries: string[];
    try {
      binaries = this.opts.binaries ?? findRuntimeBinaries(this.hostRoot);
    } catch (e) {
      return { ok: false, reason: 'error', message: (e as Error).message };
    }
    if (!binaries.length) {
      return {
        ok: false,
        reason: 'no-binaries',
        message: `no runc or crun found under ${this.hostRoot}`,
      };
    }
    try {
      this.watcher = ExecWatcher.start(binaries, () => this.pump());
    } catch (e) {
      const code = (e as { code?: string }).code;
      return {
        ok: false,
        reason: code === 'EPERM' || code === 'EACCES' ? 'denied' : 'error',
        message: (e as Error).message,
      };
    }
    return { ok: true, binaries };
  }

  get running(): boolean {
    return this.watcher !== undefined;
  }

  /** Drains the native queue into the cache. */
  pump(): void {
    if (!this.watcher) return;
    const recs = this.watcher.drain();
    for (const r of recs) this.ingest(r);
    const now = Date.now();
    if (now - this.lastSweep > 10_000) this.sweep(now);
  }

  /** Applies one record (exported through the class for tests with hand-made records). */
  ingest(r: ExecRecord, now = Date.now()): void {
    this.records++;
    this.opts.onRecord?.(r);
    const f = factsOf(r);
    if (!f) return;
    const cur = this.known.get(f.id);
    let meta = cur?.meta;
    if (f.config) {
      const fresh = this.metaFromConfig(f, r.config as string);
      if (fresh) {
        // a later record without a name (runc init's) keeps the name conmon gave
        if (meta && fresh.name === f.id.slice(0, 12) && meta.name !== fresh.name) {
          fresh.name = meta.name;
        }
        meta = fresh;
      }
    } else if (meta && f.name) {
      meta = { ...meta, name: f.name };
    }
    if (!meta) return; // an id we hold no config for (runc start/delete of an older container)
    this.known.delete(f.id);
    this.known.set(f.id, { meta, pidFile: f.pidFile || cur?.pidFile || '', at: now });
    while (this.known.size > this.maxEntries) {
      const oldest = this.known.keys().next().value as string;
      this.known.delete(oldest);
      this.evicted++;
    }
  }

  /** parseOciConfig, once per container id and config text. */
  private parseConfig(id: string, config: string): OciBundleInfo {
    const hit = this.parsed.get(id);
    if (hit && hit.config === config) return hit.oci;
    const oci = parseOciConfig(config);
    this.parsed.delete(id);
    this.parsed.set(id, { config, oci });
    if (this.parsed.size > PARSED_MAX) {
      this.parsed.delete(this.parsed.keys().next().value as string);
    }
    return oci;
  }

  private metaFromConfig(f: ExecFacts, config: string): RuntimeMeta | null {
    let oci;
    try {
      oci = this.parseConfig(f.id, config);
    } catch {
      this.badConfigs++;
      return null;
    }
    const a = oci.annotations;
    let runtime: RuntimeName;
    if (a['io.container.manager'] === 'libpod') runtime = 'podman';
    else if (oci.cri === 'cri-o') runtime = 'cri-o';
    else if (f.containerdNamespace === 'moby') runtime = 'docker';
    else if (oci.cri === 'containerd' || f.containerdNamespace) runtime = 'containerd';
    else runtime = 'podman';
    let name = oci.criName || f.name || a['nerdctl/name'] || '';
    let image = oci.image;
    if (runtime === 'docker') {
      const d = this.dockerConfig(f.id);
      if (d.name) name = d.name;
      if (d.image) image = d.image;
    }
    return {
      runtime,
      id: f.id,
      name: name || f.id.slice(0, 12),
      image,
      initPid: 0,
      annotations: a,
      k8s: oci.k8s,
      sandbox: oci.sandbox,
      bundle: f.bundle ? join(f.bundle, 'config.json') : '',
      containerdNamespace: f.containerdNamespace,
    };
  }

  private dockerConfig(id: string): { name: string; image: string } {
    const root = join(this.hostRoot, this.opts.dockerRoot ?? '/var/lib/docker');
    try {
      const c = JSON.parse(
        readFileSync(join(root, 'containers', id, 'config.v2.json'), 'utf8'),
      ) as {
        Name?: unknown;
        Config?: { Image?: unknown };
      };
      return {
        name: typeof c.Name === 'string' ? c.Name.replace(/^\//, '') : '',
        image: typeof c.Config?.Image === 'string' ? c.Config.Image : '',
      };
    } catch {
      return { name: '', image: '' };
    }
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [id, k] of this.known) {
      if (now - k.at < this.retentionMs) break; // Map order is the age order
      this.known.delete(id);
      this.expired++;
    }
  }

  /**
   * The on-disk sources, asked for an id this source knows: while the container's files exist
   * they add what an exec cannot tell (the image name of a podman container, the init pid from
   * runc's state); the name and identity read at the exec fill what they lack.
   */
  setDiskSources(sources: readonly MetadataSource[]): void {
    this.disk = sources;
  }

  lookup(id: string, hint?: RuntimeName, pid = 0): RuntimeMeta | null {
    this.pump();
    const k = this.known.get(id);
    if (!k) return null;
    for (const s of this.disk) {
      let d: RuntimeMeta | null = null;
      try {
        d = hint ? s.lookup(id, hint, pid) : null;
      } catch {
        // a half-written state file: what the exec read stands
      }
      if (!d) continue;
      const unnamed = d.name === id.slice(0, 12);
      return {
        ...d,
        name: unnamed ? k.meta.name : d.name,
        image: d.image || k.meta.image,
        k8s: d.k8s ?? k.meta.k8s,
      };
    }
    // the init pid, while the runtime's pid file still exists (written once the init is forked)
    let initPid = 0;
    if (k.pidFile) {
      const t = readOr(join(this.hostRoot, k.pidFile));
      const n = Number.parseInt(t.trim(), 10);
      if (Number.isInteger(n) && n > 0) initPid = n;
    }
    return { ...k.meta, initPid };
  }

  /** Ids known, newest last (tests, diagnostics). */
  ids(): string[] {
    return [...this.known.keys()];
  }

  stats(): RuntimeExecStats | undefined {
    const w = this.watcher ? this.watcher.stats() : this.lastStats;
    if (!w) return undefined;
    return {
      ...w,
      cached: this.known.size,
      evicted: this.evicted,
      expired: this.expired,
      records: this.records,
      badConfigs: this.badConfigs,
    };
  }

  close(): void {
    if (!this.watcher) return;
    this.pump();
    this.lastStats = this.watcher.stats();
    this.watcher.close();
    this.watcher = undefined;
  }
}

/** The one-line warning when the watcher cannot run; undefined when it runs. */
export function runtimeExecWarning(r: StartResult): string | undefined {
  if (r.ok) return undefined;
  if (r.reason === 'no-binaries') return undefined; // nothing to watch: no runtime on this host
  const what =
    'containers that live only milliseconds may go unnamed (their identity is read after the fact)';
  if (r.reason === 'denied') {
    return `runtime exec watch not permitted (${r.message}): ${what}; run the daemon with CAP_SYS_ADMIN to name every container before it starts`;
  }
  return `runtime exec watch failed (${r.message}): ${what}`;
}
