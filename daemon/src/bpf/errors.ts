// Errors of daemon/src/bpf: the addon throws them with an errno name as `code`; the wrappers
// throw the same shape for what they check themselves.

/** Errors thrown by the addon: `code` is the errno name (EPERM, ENOENT, ...). */
export interface BpfError extends Error {
  code: string;
  errno?: number;
  /** libbpf's log (warnings, verifier output) captured during the failed call */
  detail?: string;
  /** program that failed to load or attach */
  program?: string;
}

export function isBpfError(e: unknown): e is BpfError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

export function bpfError(message: string, code: string): BpfError {
  const e = new Error(message) as BpfError;
  e.code = code;
  return e;
}

/** Prefixes an addon error's message (keeps code/errno/detail). */
export function withContext(e: unknown, prefix: string): unknown {
  if (e instanceof Error) e.message = `${prefix}: ${e.message}`;
  return e;
}
