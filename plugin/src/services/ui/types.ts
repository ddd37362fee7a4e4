// The contract between the `ui` server (server.ts) and the routes each view serves
// (events-api.ts, map-api.ts, traceloop-api.ts). A route answers with one JSON value or streams
// JSON values as Server-Sent Events; the server does all the HTTP (token, CSP, encoding).
//
// Escape rule: every recorded string (a comm, a path, a pod name, a syscall argument) reaches the
// page as JSON text only (toJsonText below: '<', '>', '&' and U+2028/9 escaped as \uXXXX), and
// the page renders it as text (Preact text nodes; never innerHTML or dangerouslySetInnerHTML).

import type { GadgetRuntime } from '#gadgets/framework/runtime.js';
import type { CommonFlagValues } from '../../flags.js';

/** Where the runtime runs the gadgets, as the CLI chose it from the flags. */
export type UiMode = 'local' | 'remote' | 'kubernetes';

export interface UiLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** What every route gets: the one runtime of the `ui` process and how it was made. */
export interface UiContext {
  /** the same runtime (and authorization) `trace exec` would use with these flags */
  readonly runtime: GadgetRuntime;
  readonly mode: UiMode;
  /** the global flags `ui` was started with (mode, kubeconfig, ...) */
  readonly flags: Readonly<CommonFlagValues>;
  /** aborted when the server stops (Ctrl-C): every run a route started must end with it */
  readonly signal: AbortSignal;
  readonly log: UiLogger;
}

/** One API request, as a route sees it. */
export interface UiRequest {
  /** the query string (the token already removed) */
  readonly query: URLSearchParams;
  /** a POST body parsed as JSON (undefined for GET) */
  readonly body: unknown;
  /** aborted when the client goes away (an EventSource closed) or the server stops */
  readonly signal: AbortSignal;
}

/** What a route returns: a JSON value, or a stream of them sent as Server-Sent Events. */
export type UiResponse = unknown | AsyncIterable<unknown>;

export interface UiRoute {
  readonly method: 'GET' | 'POST';
  /** exact path, under /api/ (e.g. /api/events/stream) */
  readonly path: string;
  handle(req: UiRequest): Promise<UiResponse> | UiResponse;
}

/** A route factory: each view's module exports one (eventsRoutes, mapRoutes, traceloopRoutes). */
export type UiRoutes = (ctx: UiContext) => UiRoute[];

/**
 * An error a route throws for bad input: the server answers 400 with { error, hint } (one line
 * each) instead of 500.
 */
export class UiInputError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** JSON text safe in any HTML context: the markup characters are escaped as \uXXXX. */
export function toJsonText(value: unknown): string {
  const text =
    JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null';
  return text.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
