// The container registry and its helpers (see registry.ts for how it works).

export type {
  ContainerInfo,
  ContainerRegistryEvents,
  K8sIdentity,
} from '../../../gadgets/framework/containers.js';
export {
  ContainerRegistry,
  type ContainerRegistryEventMap,
  type ContainerRegistryOptions,
  type PodInfo,
} from './registry.js';
export {
  emptyFilter,
  hasContainerSelector,
  matchesFilter,
} from '../../../gadgets/framework/filter.js';
export {
  formatLabelSelector,
  labelSelectorMatches,
  LabelSelectorError,
  matchLabels,
  parseLabelSelector,
  type LabelRequirement,
} from '../../../gadgets/framework/labels.js';
export { matchCgroupPath, parseProcCgroup, type CgroupMatch } from './cgroup.js';
export {
  ContainerdSource,
  ContainersStorageSource,
  parseOciConfig,
  type MetadataSource,
  type RuntimeMeta,
} from './sources.js';
