// ContainerFilter semantics (pure).
//
// - A filter with no selector (no names, ids, namespaces, pods, label selector) selects every
//   container, and the host too unless podsOnly.
// - Selectors are ANDed: a container matches when every given selector matches it. Names match
//   the runtime name or the k8s container name; ids match by prefix; namespaces, pods and the
//   label selector need a k8s identity.
// - host: host processes (container === null) match. Containers then match only when some
//   selector is given and matches (so `host` alone means "only the host").
// - podsOnly: containers without a k8s identity never match; the host matches only with host.

import { labelSelectorMatches } from './labels.js';
import type { ContainerInfo } from './containers.js';

export interface ContainerFilter {
  /** container names (podman name or k8s container name) */
  containerNames: string[];
  /** full or prefix container ids */
  containerIds: string[];
  /** only processes outside containers */
  host: boolean;
  /** Kubernetes: namespaces ([] = all), pod names, label selector string */
  namespaces: string[];
  pods: string[];
  labelSelector: string;
  /** Kubernetes mode: only pod processes unless host is set */
  podsOnly: boolean;
}

export function emptyFilter(): ContainerFilter {
  return {
    containerNames: [],
    containerIds: [],
    host: false,
    namespaces: [],
    pods: [],
    labelSelector: '',
    podsOnly: false,
  };
}

export function hasContainerSelector(f: ContainerFilter): boolean {
  return (
    f.containerNames.length > 0 ||
    f.containerIds.length > 0 ||
    f.namespaces.length > 0 ||
    f.pods.length > 0 ||
    f.labelSelector.trim() !== ''
  );
}

/**
 * Whether a process in `container` (null: a host process) is selected by `filter`.
 * Throws LabelSelectorError when the filter's label selector does not parse (validate early
 * with parseLabelSelector).
 */
export function matchesFilter(filter: ContainerFilter, container: ContainerInfo | null): boolean {
  const selective = hasContainerSelector(filter);
  if (container === null) return filter.host || (!selective && !filter.podsOnly);
  if (filter.podsOnly && !container.k8s) return false;
  if (!selective) return !filter.host;

  const k8s = container.k8s;
  if (
    filter.containerNames.length > 0 &&
    !filter.containerNames.some(
      (n) => n === container.name || (k8s !== undefined && n === k8s.container),
    )
  ) {
    return false;
  }
  if (
    filter.containerIds.length > 0 &&
    !filter.containerIds.some((p) => p !== '' && container.id.startsWith(p.toLowerCase()))
  ) {
    return false;
  }
  if (filter.namespaces.length > 0 && (!k8s || !filter.namespaces.includes(k8s.namespace))) {
    return false;
  }
  if (filter.pods.length > 0 && (!k8s || !filter.pods.includes(k8s.pod))) return false;
  if (filter.labelSelector.trim() !== '') {
    // TODO(pod informer): k8s.labels is {} until ContainerRegistry.setPodInfo() fills it.
    if (!k8s || !labelSelectorMatches(filter.labelSelector, k8s.labels)) return false;
  }
  return true;
}
