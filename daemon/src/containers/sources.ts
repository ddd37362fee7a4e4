// Runtime metadata sources: given a container id (from the cgroup path), read the runtime's
// on-disk state. All reads are synchronous and bounded (a handful of small files per container).
//
// containers/storage (podman, cri-o)
//   runc state      <runcRoot>/<id>/state.json           init_process_pid, labels "bundle=<dir>"
//   podman bundle   <graphroot>/overlay-containers/<id>/userdata/config.json
//   cri-o bundle    <runroot>/overlay-containers/<id>/userdata/config.json
//   names, image    <graphroot>/overlay-containers/containers.json  (names[], metadata.image-name)
//   pid file        <runroot>/overlay-containers/<id>/userdata/pidfile
//   podman's conmon (parent of the init pid) also carries "-n <name>" on its command line.
// containerd (shim v2; also docker, whose containerd namespace is "moby")
//   bundle          <state>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json
//   init pid        <state>/io.containerd.runtime.v2.task/<namespace>/<id>/init.pid
// docker names      <dockerRoot>/containers/<id>/config.v2.json

import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { RuntimeName } from './cgroup.js';
import { readCmdline, readStat, readText } from './proc.js';
import { emptyK8s, type K8sIdentity } from '../../../gadgets/framework/containers.js';

export interface RuntimeMeta {
  runtime: RuntimeName;
  id: string;
  name: string;
  image: string;
  /** init pid from the runtime's state; 0 when the state does not say */
  initPid: number;
  annotations: Record<string, string>;
  k8s?: K8sIdentity;
  /** a CRI sandbox (pause) container: its namespaces are known, but it is not listed */
  sandbox: boolean;
  /** the config.json read ('' if none) */
  bundle: string;
  /** containerd namespace ('' for other runtimes) */
  containerdNamespace: string;
}

export interface MetadataSource {
  readonly name: string;
  /** null when this source does not know the id (yet) */
  lookup(id: string, hint: RuntimeName, pid: number): RuntimeMeta | null;
  /** for runtimes whose ids are not 64-hex: a cgroup path that is one of their containers */
  matchCgroupPath?(path: string): { id: string; runtime: RuntimeName } | null;
}

// ---------------------------------------------------------------------------------------------
// OCI config.json (pure)

export interface OciBundleInfo {
  annotations: Record<string, string>;
  hostname: string;
  args: string[];
  rootPath: string;
  /** no network namespace of its own (shares the host's) */
  hostNetwork: boolean;
  /** CRI: sandbox (pause) container */
  sandbox: boolean;
  /** CRI: k8s identity when the annotations carry one */
  k8s?: K8sIdentity;
  /** CRI: image reference from annotations ('' if none) */
  image: string;
  /** CRI: container name from annotations ('' if none) */
  criName: string;
  /** which CRI annotation family was found */
  cri: 'containerd' | 'cri-o' | '';
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Parses an OCI runtime config.json (text or parsed) into what the registry needs. */
export function parseOciConfig(config: string | unknown): OciBundleInfo {
  let c: unknown = config;
  if (typeof config === 'string') c = JSON.parse(config);
  if (!isObj(c)) throw new Error('config.json: not an object');
  const annotations = stringRecord(c.annotations);
  const process = isObj(c.process) ? c.process : {};
  const args = Array.isArray(process.args)
    ? process.args.filter((a): a is string => typeof a === 'string')
    : [];
  const root = isObj(c.root) ? c.root : {};
  const linux = isObj(c.linux) ? c.linux : {};
  const nss = Array.isArray(linux.namespaces) ? linux.namespaces : [];
  const hostNetwork = !nss.some((n) => isObj(n) && n.type === 'network');

  let sandbox = false;
  let k8s: K8sIdentity | undefined;
  let image = '';
  let criName = '';
  let cri: OciBundleInfo['cri'] = '';
  const a = annotations;
  if (a['io.kubernetes.cri.container-type'] !== undefined) {
    // containerd CRI plugin
    cri = 'containerd';
    sandbox = a['io.kubernetes.cri.container-type'] === 'sandbox';
    image = a['io.kubernetes.cri.image-name'] ?? '';
    criName = a['io.kubernetes.cri.container-name'] ?? '';
    if (a['io.kubernetes.cri.sandbox-name'] !== undefined) {
      k8s = {
        ...emptyK8s(),
        namespace: a['io.kubernetes.cri.sandbox-namespace'] ?? '',
        pod: a['io.kubernetes.cri.sandbox-name'] ?? '',
        container: criName,
        podUid: a['io.kubernetes.cri.sandbox-uid'] ?? '',
        hostNetwork,
      };
    }
  } else if (a['io.kubernetes.cri-o.ContainerType'] !== undefined) {
    cri = 'cri-o';
    sandbox = a['io.kubernetes.cri-o.ContainerType'] === 'sandbox';
    image = a['io.kubernetes.cri-o.ImageName'] ?? a['io.kubernetes.cri-o.Image'] ?? '';
    criName = a['io.kubernetes.container.name'] ?? '';
    if (a['io.kubernetes.pod.name'] !== undefined) {
      k8s = {
        ...emptyK8s(),
        namespace: a['io.kubernetes.pod.namespace'] ?? '',
        pod: a['io.kubernetes.pod.name'] ?? '',
        container: criName,
        podUid: a['io.kubernetes.pod.uid'] ?? '',
        hostNetwork,
      };
    }
  }
  return {
    annotations,
    hostname: typeof c.hostname === 'string' ? c.hostname : '',
    args,
    rootPath: typeof root.path === 'string' ? root.path : '',
    hostNetwork,
    sandbox,
    k8s,
    image,
    criName,
    cri,
  };
}

function readJson(path: string): unknown {
  const t = readText(path);
  if (t === null) return null;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return null;
  }
}

function readOci(path: string): OciBundleInfo | null {
  const t = readText(path);
  if (t === null) return null;
  try {
    return parseOciConfig(t);
  } catch {
    return null;
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

function readPidFile(path: string): number {
  const t = readText(path);
  const n = t === null ? NaN : Number.parseInt(t.trim(), 10);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

// ---------------------------------------------------------------------------------------------
// containerd

export class ContainerdSource implements MetadataSource {
  readonly name = 'containerd';
  constructor(
    private readonly stateDirs: readonly string[],
    private readonly dockerRoot = '/var/lib/docker',
  ) {}

  private taskRoots(): string[] {
    const out: string[] = [];
    for (const s of this.stateDirs) {
      out.push(join(s, 'io.containerd.runtime.v2.task'), join(s, 'io.containerd.runtime.v1.linux'));
    }
    return out;
  }

  /** The task directory of a container, '' if none: one readdir per state dir. */
  findTaskDir(id: string): { dir: string; namespace: string } | null {
    for (const root of this.taskRoots()) {
      let namespaces: string[];
      try {
        namespaces = readdirSync(root);
      } catch {
        continue;
      }
      for (const ns of namespaces) {
        const dir = join(root, ns, id);
        if (readText(join(dir, 'config.json')) !== null) return { dir, namespace: ns };
      }
    }
    return null;
  }

  lookup(id: string, hint: RuntimeName): RuntimeMeta | null {
    if (hint === 'podman' || hint === 'cri-o') return null;
    const t = this.findTaskDir(id);
    if (!t) return null;
    return this.readTask(id, t.dir, t.namespace);
  }

  /** Reads one task bundle directory (exported for tests on a hand-made state dir). */
  readTask(id: string, dir: string, namespace: string): RuntimeMeta | null {
    const bundle = join(dir, 'config.json');
    const oci = readOci(bundle);
    if (!oci) return null;
    const docker = namespace === 'moby';
    let name = oci.criName || oci.annotations['nerdctl/name'] || '';
    let image = oci.image;
    if (docker) {
      const cfg = readJson(join(this.dockerRoot, 'containers', id, 'config.v2.json'));
      if (isObj(cfg)) {
        if (typeof cfg.Name === 'string') name = cfg.Name.replace(/^\//, '');
        if (isObj(cfg.Config) && typeof cfg.Config.Image === 'string') image = cfg.Config.Image;
      }
    }
    return {
      runtime: docker ? 'docker' : 'containerd',
      id,
      name: name || id.slice(0, 12),
      image,
      initPid: readPidFile(join(dir, 'init.pid')),
      annotations: oci.annotations,
      k8s: oci.k8s,
      sandbox: oci.sandbox,
      bundle,
      containerdNamespace: namespace,
    };
  }

  /** ctr-style "/<namespace>/<id>" cgroups, whose ids may be any string. */
  matchCgroupPath(path: string): { id: string; runtime: RuntimeName } | null {
    const parts = path.split('/').filter((p) => p && p !== '..');
    if (parts.length !== 2) return null;
    const [ns, id] = parts as [string, string];
    for (const root of this.taskRoots()) {
      // most paths are a host's (/system.slice/x.service): a stat that does not throw says so
      // before a read that would (an exception per new pid of the poll)
      if (!isDir(join(root, ns))) continue;
      if (readText(join(root, ns, id, 'config.json')) !== null) {
        return { id, runtime: ns === 'moby' ? 'docker' : 'containerd' };
      }
    }
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// containers/storage: podman and cri-o

interface StorageEntry {
  names: string[];
  image: string;
  imageName: string;
}

export class ContainersStorageSource implements MetadataSource {
  readonly name = 'containers-storage';
  private readonly listCache = new Map<
    string,
    { mtimeMs: number; byId: Map<string, StorageEntry> }
  >();

  /**
   * @param storageRoots graph roots and run roots (podman keeps config.json under the graph
   *   root, cri-o under the run root; both are searched)
   * @param runcRoots runc --root directories holding <id>/state.json
   */
  constructor(
    private readonly storageRoots: readonly string[],
    private readonly runcRoots: readonly string[],
    private readonly procRoot = '/proc',
  ) {}

  /** <root>/<driver>-containers directories (overlay, vfs, btrfs, ...). */
  private containerDirs(): string[] {
    const out: string[] = [];
    for (const root of this.storageRoots) {
      let names: string[];
      try {
        names = readdirSync(root);
      } catch {
        continue;
      }
      for (const n of names) if (n.endsWith('-containers')) out.push(join(root, n));
    }
    return out;
  }

  private storageEntry(containersDir: string, id: string): StorageEntry | null {
    const file = join(containersDir, 'containers.json');
    let mtimeMs: number;
    try {
      mtimeMs = statSync(file).mtimeMs;
    } catch {
      return null;
    }
    let cached = this.listCache.get(file);
    if (!cached || cached.mtimeMs !== mtimeMs) {
      const byId = new Map<string, StorageEntry>();
      const list = readJson(file);
      if (Array.isArray(list)) {
        for (const e of list) {
          if (!isObj(e) || typeof e.id !== 'string') continue;
          let imageName = '';
          if (typeof e.metadata === 'string') {
            try {
              const md = JSON.parse(e.metadata) as unknown;
              if (isObj(md) && typeof md['image-name'] === 'string') imageName = md['image-name'];
            } catch {
              // metadata is free-form
            }
          }
          byId.set(e.id, {
            names: Array.isArray(e.names)
              ? e.names.filter((x): x is string => typeof x === 'string')
              : [],
            image: typeof e.image === 'string' ? e.image : '',
            imageName,
          });
        }
      }
      cached = { mtimeMs, byId };
      this.listCache.set(file, cached);
    }
    return cached.byId.get(id) ?? null;
  }

  lookup(id: string, hint: RuntimeName, pid: number): RuntimeMeta | null {
    if (hint === 'containerd' || hint === 'docker') return null;
    // 1. runc state: init pid and bundle directory.
    let initPid = 0;
    let bundleDir = '';
    for (const root of this.runcRoots) {
      const st = readJson(join(root, id, 'state.json'));
      if (!isObj(st)) continue;
      if (typeof st.init_process_pid === 'number') initPid = st.init_process_pid;
      const labels = isObj(st.config) && Array.isArray(st.config.labels) ? st.config.labels : [];
      for (const l of labels) {
        if (typeof l === 'string' && l.startsWith('bundle=')) bundleDir = l.slice('bundle='.length);
      }
      break;
    }
    // 2. the bundle's config.json: from the state, else from the storage roots.
    let oci: OciBundleInfo | null = null;
    let bundle = '';
    const dirs = this.containerDirs();
    const candidates = bundleDir ? [bundleDir] : [];
    for (const d of dirs) candidates.push(join(d, id, 'userdata'));
    for (const b of candidates) {
      oci = readOci(join(b, 'config.json'));
      if (oci) {
        bundle = join(b, 'config.json');
        break;
      }
    }
    if (!oci) return null;
    // 3. pid file when runc state had none
    if (!initPid) {
      for (const d of dirs) {
        initPid = readPidFile(join(d, id, 'userdata', 'pidfile'));
        if (initPid) break;
      }
    }
    // 4. name and image from containers.json (next to the bundle, then all roots)
    let entry: StorageEntry | null = null;
    const bundleContainersDir = dirname(dirname(dirname(bundle)));
    for (const d of [bundleContainersDir, ...dirs]) {
      entry = this.storageEntry(d, id);
      if (entry) break;
    }
    const libpod = oci.annotations['io.container.manager'] === 'libpod';
    const runtime: RuntimeName = libpod ? 'podman' : oci.cri === 'cri-o' ? 'cri-o' : hint;
    let name = oci.criName || entry?.names[0] || '';
    if (!name && runtime === 'podman') name = this.conmonName(initPid || pid);
    const image = oci.image || entry?.imageName || '';
    return {
      runtime,
      id,
      name: name || id.slice(0, 12),
      image,
      initPid,
      annotations: oci.annotations,
      k8s: oci.k8s,
      sandbox: oci.sandbox,
      bundle,
      containerdNamespace: '',
    };
  }

  /** podman's conmon is the parent of the container's init: "conmon ... -n <name> ..." */
  private conmonName(pid: number): string {
    const st = readStat(this.procRoot, pid);
    if (!st) return '';
    const argv = readCmdline(this.procRoot, st.ppid);
    if (!argv || !argv[0]?.endsWith('conmon')) return '';
    const i = argv.indexOf('-n');
    return i >= 0 ? (argv[i + 1] ?? '') : '';
  }
}
