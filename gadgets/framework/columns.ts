// Columns every gadget shows or hides the same way (IG: K8S.* shown, the rest hidden).

import type { ColumnSpec } from './types.js';

export const COMMON_LEADING_COLUMNS: ColumnSpec[] = [
  { name: 'node', header: 'K8S.NODE', width: 8 },
  { name: 'namespace', header: 'K8S.NAMESPACE', width: 8 },
  { name: 'pod', header: 'K8S.PODNAME', width: 8 },
  { name: 'container', header: 'K8S.CONTAINER', width: 8 },
];

export const COMMON_HIDDEN_COLUMNS: ColumnSpec[] = [
  { name: 'timestamp', width: 30, hidden: true },
  { name: 'container_id', width: 12, hidden: true },
  { name: 'runtime', width: 8, hidden: true },
  { name: 'mntns_id', width: 10, hidden: true, align: 'right' },
  { name: 'tid', width: 7, hidden: true, align: 'right' },
  { name: 'uid', width: 5, hidden: true, align: 'right' },
  { name: 'gid', width: 5, hidden: true, align: 'right' },
];
