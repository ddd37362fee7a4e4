// Container id from a /proc/<pid>/cgroup file (pure functions).
//
// Patterns recognised (any line, v2 "0::" line first; cgroup-namespaced "/../" prefixes are fine):
//   podman cgroupfs   /libpod_parent/libpod-<id>                (seen on this project's dev host)
//   podman systemd    /machine.slice/libpod-<id>.scope[/container]
//   containerd CRI    /kubepods.slice/.../cri-containerd-<id>.scope   (systemd driver)
//   CRI cgroupfs      /kubepods/besteffort/pod<uid>/<id>        (containerd or cri-o: runtime 'unknown')
//   containerd (ctr)  /<namespace>/<id>                         ('unknown' until metadata says)
//   docker            /docker/<id>  or  /system.slice/docker-<id>.scope
//   cri-o             /.../crio-<id>.scope  or  /.../crio-<id>
// Runtime helper cgroups (libpod-conmon-<id>, crio-conmon-<id>) are not containers.

import type { ContainerInfo } from '../../../gadgets/framework/containers.js';

export type RuntimeName = ContainerInfo['runtime'];

export interface CgroupMatch {
  id: string;
  /** runtime as told by the cgroup path alone ('unknown' when the path has only the id) */
  runtime: RuntimeName;
  /** pod uid from a kubepods path, dashes restored ('' when absent) */
  podUid: string;
  /** the cgroup path the id came from */
  path: string;
}

const COMPONENT_RE =
  /^(?:(libpod|docker|cri-containerd|crio|containerd)-)?([0-9a-f]{64})(?:\.scope)?$/;
const PREFIX_RUNTIME: Record<string, RuntimeName> = {
  libpod: 'podman',
  docker: 'docker',
  'cri-containerd': 'containerd',
  containerd: 'containerd',
  crio: 'cri-o',
};
const POD_RE =
  /(?:^|[-_])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

/** Matches one cgroup path; the deepest id-looking component wins. */
export function matchCgroupPath(path: string): CgroupMatch | null {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const m = COMPONENT_RE.exec(parts[i] as string);
    if (!m) continue;
    const prefix = m[1];
    let runtime: RuntimeName = prefix ? (PREFIX_RUNTIME[prefix] ?? 'unknown') : 'unknown';
    if (!prefix && parts[i - 1] === 'docker') runtime = 'docker';
    let podUid = '';
    for (let j = i - 1; j >= 0; j--) {
      const p = POD_RE.exec(parts[j] as string);
      if (p) {
        podUid = (p[1] as string).replace(/_/g, '-');
        break;
      }
    }
    return { id: m[2] as string, runtime, podUid, path };
  }
  return null;
}

/** The distinct cgroup paths of a /proc/<pid>/cgroup text, the v2 ("0::") one first. */
export function cgroupPaths(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    // hierarchy-ID:controller-list:cgroup-path (the path may itself contain ':')
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const path = line.slice(b + 1);
    if (line.startsWith('0::')) paths.unshift(path);
    else paths.push(path);
  }
  return [...new Set(paths)];
}

/** Parses the text of /proc/<pid>/cgroup. Returns null for a process outside containers. */
export function parseProcCgroup(text: string): CgroupMatch | null {
  for (const p of cgroupPaths(text)) {
    const m = matchCgroupPath(p);
    if (m) return m;
  }
  return null;
}
