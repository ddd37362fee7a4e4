// The container registry and its helpers (see registry.ts for how it works). Container types,
// filters and label selectors are gadgets/framework's (containers.ts, filter.ts, labels.ts).

export {
  ContainerRegistry,
  type ContainerRegistryEventMap,
  type ContainerRegistryEvents,
  type ContainerRegistryOptions,
  type PodInfo,
} from './registry.js';
export { matchCgroupPath, parseProcCgroup, type CgroupMatch } from './cgroup.js';
export {
  ContainerdSource,
  ContainersStorageSource,
  parseOciConfig,
  type MetadataSource,
  type RuntimeMeta,
} from './sources.js';
