// The container registry and its helpers (see registry.ts for how it works).

export type { ContainerInfo, ContainerRegistryEvents, K8sIdentity } from './types.js';
export {
  ContainerRegistry,
  type ContainerRegistryEventMap,
  type ContainerRegistryOptions,
  type PodInfo,
} from './registry.js';
export { emptyFilter, hasContainerSelector, matchesFilter } from './filter.js';
export {
  formatLabelSelector,
  labelSelectorMatches,
  LabelSelectorError,
  matchLabels,
  parseLabelSelector,
  type LabelRequirement,
} from './labels.js';
export { matchCgroupPath, parseProcCgroup, type CgroupMatch } from './cgroup.js';
export {
  ContainerdSource,
  ContainersStorageSource,
  parseOciConfig,
  type MetadataSource,
  type RuntimeMeta,
} from './sources.js';
