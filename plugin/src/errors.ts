// Errors the user can act on print one line (plus an optional hint) and exit 1; anything else is
// a bug: one line and exit 2, with the stack only under --debug. oclif's own parse errors (unknown
// flag, bad value, exclusive flags) are user errors too and are squeezed into one line here.

import { escapeControl } from './output/escape.js';

export class UserError extends Error {
  /** the message as given, kept apart from `message` because oclif rewrites that on flag errors */
  readonly reason: string;
  readonly exitCode = 1;

  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UserError';
    this.reason = message;
  }
}

/** An error's text: a gRPC status's reason when there is one. */
export function errText(e: unknown): string {
  return e instanceof Error ? ((e as { reason?: string }).reason ?? e.message) : String(e);
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof Error && e.name === 'UserError' && 'reason' in e;
}

/**
 * Errors of other layers that are the user's to act on, duck-typed by name: daemon RunError (also
 * what RemoteRuntime maps gRPC statuses to) and AddressError (a malformed --remote address).
 */
function isRunErrorLike(e: unknown): e is Error & { hint?: string } {
  return e instanceof Error && (e.name === 'RunError' || e.name === 'AddressError');
}

interface OclifErrorLike extends Error {
  oclif?: { exit?: number | false };
  code?: string;
  parse?: { input?: { context?: { id?: string } } };
}

function isOclifError(e: unknown): e is OclifErrorLike {
  return e instanceof Error && typeof (e as OclifErrorLike).oclif === 'object';
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * Squeeze one of oclif's multi-line parse messages into one line:
 * "Parsing --timeout \n\tExpected an integer...\nSee more help with --help" -> "--timeout: Expected an integer...".
 */
export function oneLine(message: string): string {
  let m = message.replace(ANSI, '').replace(/\n?See more help with --help\s*$/, '');
  const parsing = /^Parsing (--[\w-]+)\s*\n\s*([\s\S]*)$/.exec(m);
  if (parsing) m = `${parsing[1]}: ${parsing[2]}`;
  m = m.replace(/^The following errors? occurred:\s*/, '');
  return m
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');
}

export interface FormattedError {
  lines: string[];
  exitCode: number;
}

/**
 * What to print and which exit code to use for an error that reached the top. Control characters
 * are escaped: messages and hints may quote daemon text, recorded data or input.
 */
export function formatError(err: unknown, debug: boolean): FormattedError {
  const f = formatRaw(err, debug);
  return {
    ...f,
    // a --debug stack keeps its line breaks
    lines: f.lines.map((l) =>
      /\n\s+at /.test(l) ? l.split('\n').map(escapeControl).join('\n') : escapeControl(l),
    ),
  };
}

function formatRaw(err: unknown, debug: boolean): FormattedError {
  if (isUserError(err)) {
    const lines = [`Error: ${err.reason}`];
    if (err.hint) lines.push(`Hint: ${err.hint}`);
    if (debug && err.stack) lines.push(err.stack);
    return { lines, exitCode: 1 };
  }
  if (isRunErrorLike(err)) {
    const lines = [`Error: ${oneLine(err.message)}`];
    if (err.hint) lines.push(`Hint: ${err.hint}`);
    if (debug && err.stack) lines.push(err.stack);
    return { lines, exitCode: 1 };
  }
  if (isOclifError(err)) {
    // this.exit(n) from a command, or oclif's own usage errors (parse, command not found)
    if (err.code === 'EEXIT') {
      const exit = err.oclif?.exit;
      return { lines: [], exitCode: typeof exit === 'number' ? exit : 0 };
    }
    const wasParse = /See more help with --help\s*$/.test(err.message);
    const id = err.parse?.input?.context?.id;
    let line = `Error: ${oneLine(err.message)}`;
    if (wasParse) line += ` (see: kubectl gadget ${id ? id.replace(/:/g, ' ') + ' ' : ''}--help)`;
    const lines = [line];
    if (debug && err.stack) lines.push(err.stack);
    // oclif uses 2 by default; here 2 means a bug, and these are all usage errors
    return { lines, exitCode: 1 };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const lines = [`Error (bug): ${oneLine(e.message || e.name)}`];
  if (debug) lines.push(e.stack ?? '');
  else lines[0] += ' (run with --debug for the stack)';
  return { lines, exitCode: 2 };
}

/** Prints an error that reached the top and sets the exit code. Never throws. */
export function reportError(err: unknown, argv: readonly string[] = process.argv): number {
  const debug = argv.includes('--debug');
  let f: FormattedError;
  try {
    f = formatError(err, debug);
  } catch {
    f = { lines: [`Error (bug): ${String(err)}`], exitCode: 2 };
  }
  if (f.lines.length) process.stderr.write(f.lines.join('\n') + '\n');
  process.exitCode = f.exitCode;
  return f.exitCode;
}

/**
 * A file system error as a short reason: "no space left on device (ENOSPC)" from Node's
 * "ENOSPC: no space left on device, write" (the path is the caller's to name).
 */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const text = err instanceof Error ? err.message : String(e);
  const m = /^E[A-Z0-9]+: ([^,]+)/.exec(text);
  if (m && code) return `${m[1]} (${code})`;
  return code && !text.includes(code) ? `${text} (${code})` : text;
}
