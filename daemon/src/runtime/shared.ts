// Daemon-wide state shared by every run: the container registry and the container tracker
// (bpf/container_tracker.bpf.c), whose maps every gadget object reuses by fd.

import { bpfObjectPath } from '../../../gadgets/framework/paths.js';
import * as bpf from '../bpf/index.js';
import { ContainerRegistry, type ContainerRegistryOptions } from '../containers/registry.js';
import type { ContainerInfo } from '../containers/types.js';
import { RunError } from '../errors.js';

const SHARED_MAPS = ['gadget_mntns_known', 'gadget_mntns_alias', 'gadget_mntns_container'];

/**
 * A load that bpf() refused for lack of privilege (EPERM/EACCES: no CAP_BPF/CAP_PERFMON/
 * CAP_SYS_ADMIN, seccomp, lockdown) as an error the user can act on; undefined for others.
 */
export function bpfDenied(e: unknown): RunError | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== 'EPERM' && code !== 'EACCES') return undefined;
  return new RunError(
    'PERMISSION_DENIED',
    `bpf() denied (${(e as Error).message}): run as root with CAP_BPF and CAP_PERFMON ` +
      '(or CAP_SYS_ADMIN), outside a seccomp or LSM policy that blocks bpf()',
  );
}

export class SharedState {
  readonly bpf = bpf;
  readonly registry: ContainerRegistry;
  private tracker: bpf.Collection;
  private started: Promise<void>;

  constructor(opts: ContainerRegistryOptions) {
    const spec = bpf.ObjectSpec.open(bpfObjectPath('container_tracker'));
    try {
      this.tracker = spec.load();
      this.tracker.attach();
    } catch (e) {
      spec.close();
      throw bpfDenied(e) ?? e;
    }
    const known = this.tracker.map('gadget_mntns_known');
    const alias = this.tracker.map('gadget_mntns_alias');
    const containers = this.tracker.map('gadget_mntns_container');
    const key = (n: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(n));
      return b;
    };
    const one = Buffer.from([1]);
    this.registry = new ContainerRegistry(opts);
    this.registry.on('mntns-added', (n: number) => known.update(key(n), one));
    this.registry.on('mntns-removed', (n: number) => {
      known.delete(key(n));
      alias.delete(key(n)); // the inode may be reused by an unrelated namespace
    });
    this.registry.on('added', (c: ContainerInfo) => containers.update(key(c.mntnsId), one));
    this.registry.on('removed', (c: ContainerInfo) => containers.delete(key(c.mntnsId)));
    this.started = this.registry.start();
  }

  ready(): Promise<void> {
    return this.started;
  }

  /** Point a gadget's daemon-wide maps at the tracker's, before the gadget is loaded. */
  shareMaps(spec: bpf.ObjectSpec): void {
    for (const name of SHARED_MAPS) {
      if (spec.hasMap(name)) spec.reuseMap(name, this.tracker.map(name).fd);
    }
  }

  close(): void {
    this.registry.close();
    this.tracker.close();
  }
}
