// The data of traceloop's API (TraceloopApi in runtime.ts): a syscall flight recorder per
// container that lives in the daemon (its recordings outlive any CLI process, and the daemon too:
// see daemon/src/traceloop/recorder.ts).

import type { ContainerInfo } from './containers.js';
import type { ContainerFilter } from './filter.js';

export interface TraceloopStartOptions {
  /** which containers to record; an empty filter records every container */
  filter: ContainerFilter;
  /** syscalls kept per container (rounded up to a power of two); default 2048, at most 65536 */
  syscallsPerContainer?: number;
  /** global memory cap of the recordings in MiB; default 64 */
  maxMemoryMib?: number;
  /** syscall names to record; empty = all */
  syscalls: string[];
  /** record each syscall's exit time too (`show` prints durations); a second clock read */
  durations?: boolean;
}

export interface TraceloopSession {
  sessionId: string;
  node: string;
  /** 'recording' | 'stopped' (stopped: programs detached, recordings still readable) */
  state: 'recording' | 'stopped';
  syscallsPerContainer: number;
  /** number of per-container buffers (the memory cap / one buffer's size) */
  buffers: number;
  memoryBytes: number;
  startedAt: number;
  /**
   * start found a session recording already (or pinned by an earlier daemon, and resumed it): it
   * goes on with its own settings, and the ones asked for were not applied
   */
  resumed?: boolean;
  /** the session's settings: which containers, which syscalls (empty: all), the memory cap */
  filter?: ContainerFilter;
  syscalls?: string[];
  maxMemoryMib?: number;
  /** exit times are recorded (start --durations) */
  durations?: boolean;
}

export type TraceloopStatus = 'recording' | 'stopped' | 'container-exited' | 'evicted';

export interface TraceloopEntry {
  sessionId: string;
  /** the recorded container; `generation` is the recording's instance number (kernel-assigned) */
  container: ContainerInfo;
  status: TraceloopStatus;
  /** records held now */
  records: number;
  /** records overwritten (the buffer wrapped) */
  lost: number;
  /** the instance (generation) of this recording; also container.generation */
  instance: number;
  /** wait(2) status of the container's init when the kernel saw it exit */
  exitStatus?: number;
}

export interface TraceloopShowRequest {
  sessionId: string;
  /** container id (or prefix), container name, pod, pod/container or namespace/pod/container */
  container: string;
  /** an instance (generation) of a restarted container; 0 = the newest */
  instance: number;
}
