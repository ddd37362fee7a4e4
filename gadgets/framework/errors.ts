// Errors the user can act on, as opposed to bugs. The gRPC server maps `code` to a status and
// the CLI prints `message` (and `hint`) as one line. Input a message quotes goes through clip().

export { clip, clipLine, MAX_ECHO } from './clip.js';

export type RunErrorCode =
  'INVALID_ARGUMENT' | 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'PERMISSION_DENIED' | 'UNAVAILABLE';

export class RunError extends Error {
  constructor(
    readonly code: RunErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RunError';
  }
}

export function isRunError(e: unknown): e is RunError {
  return e instanceof Error && e.name === 'RunError' && 'code' in e;
}

/** A daemon never reached: reported even when the run was being stopped (a short --timeout). */
export function isUnreachable(e: unknown): boolean {
  return isRunError(e) && (e as { unreachable?: unknown }).unreachable === true;
}
