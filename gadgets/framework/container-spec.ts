// Which recordings a user's container reference names (pure: the CLI filters with it too).

import type { ContainerInfo } from './containers.js';

/** container id (prefix), runtime or k8s container name, pod, pod/container, ns/pod[/container] */
export function matchesSpec(spec: string, c: ContainerInfo): boolean {
  if (!spec) return false;
  if (/^[0-9a-f]{3,64}$/.test(spec) && c.id.startsWith(spec)) return true;
  if (c.name === spec) return true;
  const k = c.k8s;
  if (!k) return false;
  if (k.container === spec || k.pod === spec) return true;
  const parts = spec.split('/');
  if (parts.length === 2) {
    const [a, b] = parts as [string, string];
    return (k.pod === a && k.container === b) || (k.namespace === a && k.pod === b);
  }
  if (parts.length === 3) {
    const [ns, pod, ct] = parts as [string, string, string];
    return k.namespace === ns && k.pod === pod && k.container === ct;
  }
  return false;
}
