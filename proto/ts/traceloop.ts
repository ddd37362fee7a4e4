// The protobuf mappers of the Traceloop RPCs, used by both sides: the daemon's handlers
// (daemon/src/server/traceloop.ts) and the CLI's RemoteRuntime.

import type * as pb from '../gen/gadget/v1/gadget.js';
import type {
  TraceloopEntry,
  TraceloopSession,
  TraceloopStartOptions,
  TraceloopStatus,
} from '../../gadgets/framework/traceloop.js';
import {
  containerFromPb,
  containerToPb,
  filterFromPb,
  filterToPb,
  u64ToNumber,
} from './convert.js';

export function startOptionsFromPb(r: pb.TraceloopStartRequest): TraceloopStartOptions {
  const perContainer =
    r.syscallsPerContainer ||
    (r.bufferKib ? Math.max(1, Math.floor((r.bufferKib * 1024) / 392)) : 0);
  return {
    filter: filterFromPb(r.filter),
    syscalls: r.syscalls,
    ...(perContainer ? { syscallsPerContainer: perContainer } : {}),
    ...(r.maxMemoryMib ? { maxMemoryMib: r.maxMemoryMib } : {}),
    ...(r.durations ? { durations: true } : {}),
  };
}

export function startOptionsToPb(o: TraceloopStartOptions): pb.TraceloopStartRequest {
  return {
    filter: filterToPb(o.filter),
    bufferKib: 0,
    syscalls: o.syscalls,
    maxMemoryMib: o.maxMemoryMib ?? 0,
    syscallsPerContainer: o.syscallsPerContainer ?? 0,
    durations: o.durations ?? false,
  };
}

export function sessionToPb(s: TraceloopSession): pb.TraceloopStartResponse {
  return {
    sessionId: s.sessionId,
    node: s.node,
    syscallsPerContainer: s.syscallsPerContainer,
    buffers: s.buffers,
    memoryBytes: String(s.memoryBytes),
    resumed: s.resumed ?? false,
    filter: s.filter ? filterToPb(s.filter) : null,
    syscalls: s.syscalls ?? [],
    maxMemoryMib: s.maxMemoryMib ?? 0,
    startedAtMs: String(s.startedAt),
    durations: s.durations ?? false,
  };
}

export function sessionFromPb(r: pb.TraceloopStartResponse, node: string): TraceloopSession {
  return {
    sessionId: r.sessionId,
    node: r.node || node,
    state: 'recording',
    syscallsPerContainer: r.syscallsPerContainer,
    buffers: r.buffers,
    memoryBytes: u64ToNumber(r.memoryBytes, 'memory bytes'),
    // an older daemon does not say
    startedAt: u64ToNumber(r.startedAtMs || '0', 'start time') || Date.now(),
    ...(r.resumed ? { resumed: true } : {}),
    ...(r.filter ? { filter: filterFromPb(r.filter) } : {}),
    syscalls: r.syscalls,
    ...(r.maxMemoryMib ? { maxMemoryMib: r.maxMemoryMib } : {}),
    ...(r.durations ? { durations: true } : {}),
  };
}

export function entryToPb(e: TraceloopEntry): pb.TraceloopEntry {
  return {
    sessionId: e.sessionId,
    container: containerToPb(e.container),
    status: e.status,
    records: String(e.records),
    lost: String(e.lost),
    instance: String(e.instance),
    exitStatus: e.exitStatus ?? 0,
    hasExitStatus: e.exitStatus !== undefined,
  };
}

export function entryFromPb(e: pb.TraceloopEntry): TraceloopEntry {
  const container = containerFromPb(e.container!);
  return {
    sessionId: e.sessionId,
    container,
    status: e.status as TraceloopStatus,
    records: u64ToNumber(e.records, 'records'),
    lost: u64ToNumber(e.lost, 'lost'),
    instance: u64ToNumber(e.instance, 'instance') || container.generation,
    ...(e.hasExitStatus ? { exitStatus: e.exitStatus } : {}),
  };
}
