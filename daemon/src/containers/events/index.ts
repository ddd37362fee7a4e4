// The runtimes' event streams as metadata sources (see containerd.ts and podman.ts): a fallback
// for what happened while the daemon was down, and the identity path where fanotify is not
// permitted. Each is started only when its socket or log file exists: a missing one is silent,
// an unreadable one is one warning line.

import { constants, accessSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { MetadataSource } from '../sources.js';
import { ContainerdEventSource, type ContainerdEventStats } from './containerd.js';
import { PodmanEventSource, type PodmanEventStats } from './podman.js';

export {
  ContainerdEventSource,
  type ContainerdEvent,
  type ContainerdEventStats,
} from './containerd.js';
export {
  PodmanEventSource,
  parsePodmanEventLine,
  LineSplitter,
  type PodmanEvent,
  type PodmanEventStats,
} from './podman.js';
export { MetaCache } from './cache.js';

export interface RuntimeEventSourcesOptions {
  /** the host's root as mounted in a pod (HOST_ROOT); '' or '/' on the host */
  hostRoot?: string;
  /** default <hostRoot>/run/containerd/containerd.sock */
  containerdSocket?: string;
  /** containerd --state dirs, already under hostRoot (default <hostRoot>/run/containerd) */
  containerdStateDirs?: string[];
  dockerRoot?: string;
  /** default <hostRoot>/run/libpod/events/events.log (root's podman, events_logger = "file") */
  podmanEventsLog?: string;
  /** how long a gone container's name is kept (the registry's exitedRetentionMs) */
  retentionMs?: number;
  warn?: (message: string) => void;
}

export interface RuntimeEventSources {
  /** started sources, to append to the registry's (after the on-disk ones) */
  readonly sources: MetadataSource[];
  readonly containerd?: ContainerdEventSource;
  readonly podman?: PodmanEventSource;
  stats(): { containerd?: ContainerdEventStats; podman?: PodmanEventStats };
  close(): void;
}

/** Whether `path` is there and usable; warns once (and says false) when it is not readable. */
function present(
  path: string,
  kind: 'socket' | 'file',
  warn: (m: string) => void,
  what: string,
): boolean {
  try {
    const st = statSync(path);
    if (kind === 'socket' ? !st.isSocket() : !st.isFile()) {
      warn(`${what}: ${path} is not a ${kind}: not used`);
      return false;
    }
    accessSync(path, kind === 'socket' ? constants.R_OK | constants.W_OK : constants.R_OK);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      warn(`${what}: ${path}: ${(e as Error).message}: not used`);
    }
    return false;
  }
}

export function startRuntimeEventSources(o: RuntimeEventSourcesOptions = {}): RuntimeEventSources {
  const root = o.hostRoot && o.hostRoot !== '/' ? o.hostRoot : '';
  const at = (p: string): string => (root ? join(root, p) : p);
  const warn = o.warn ?? (() => {});
  let containerd: ContainerdEventSource | undefined;
  let podman: PodmanEventSource | undefined;
  const sock = o.containerdSocket ?? at('/run/containerd/containerd.sock');
  if (present(sock, 'socket', warn, 'containerd events')) {
    containerd = new ContainerdEventSource({
      socket: sock,
      hostRoot: root,
      stateDirs: o.containerdStateDirs ?? [at('/run/containerd')],
      dockerRoot: o.dockerRoot ?? at('/var/lib/docker'),
      retentionMs: o.retentionMs,
      warn,
    });
    containerd.start();
  }
  const log = o.podmanEventsLog ?? at('/run/libpod/events/events.log');
  // podman creates the log with its first event since boot: where podman is installed, the
  // source waits for it (a stat a second)
  const podmanBin = ['/usr/bin/podman', '/usr/local/bin/podman'].some((p) => existsSync(at(p)));
  if (
    present(log, 'file', warn, 'podman events') ||
    (o.podmanEventsLog === undefined && podmanBin && !existsSync(log))
  ) {
    podman = new PodmanEventSource({ path: log, retentionMs: o.retentionMs, warn });
    podman.start();
  }
  // evictions mean the cache bound is too small for the node's container churn: say so, rarely
  const evicted = { containerd: 0, podman: 0 };
  const timer = setInterval(() => {
    for (const [k, s] of [
      ['containerd', containerd],
      ['podman', podman],
    ] as const) {
      const n = s?.stats().evicted ?? 0;
      if (n > evicted[k]) {
        warn(`${k} events: ${n - evicted[k]} container names evicted from the cache in 10 min`);
        evicted[k] = n;
      }
    }
  }, 600_000);
  timer.unref();
  return {
    sources: [containerd, podman].filter((s): s is NonNullable<typeof s> => s !== undefined),
    containerd,
    podman,
    stats: () => ({ containerd: containerd?.stats(), podman: podman?.stats() }),
    close: () => {
      clearInterval(timer);
      containerd?.close();
      podman?.close();
    },
  };
}
