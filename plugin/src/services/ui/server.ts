// The `ui` web server: node:http on 127.0.0.1 only, a random 128-bit token on every request, a
// strict Content-Security-Policy, the page bundled at build time (dist/ui/, scripts/build-ui.mjs)
// and the JSON / Server-Sent-Event routes of routes.ts. Nothing is loaded from outside.
//
// Auth: the URL `ui` prints carries ?token=; that first load sets an HttpOnly SameSite=Strict
// cookie and redirects to the bare path, so the page (fetch, EventSource) is authorized by the
// cookie; a client may send the X-Gadget-Token header instead. Anything else gets 403. The Host
// header must name the loopback address the server listens on (no DNS rebinding).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '#gadgets/framework/paths.js';
import { UserError } from '../../errors.js';
import type { CommonFlagValues } from '../../flags.js';
import { escapeControl } from '../../output/escape.js';
import { openRuntime, runtimeMode } from '../../runtimes/runtime.js';
import { allRoutes } from './routes.js';
import { toJsonText, UiInputError } from './types.js';
import type { UiContext, UiRequest, UiRoute } from './types.js';

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const COOKIE = 'kg_ui_token';
export const TOKEN_HEADER = 'x-gadget-token';
/** POST bodies (a flow file, policies) above this are refused */
const MAX_BODY = 32 << 20;

/** The bundled page: a fixed list of files, so no request path reaches the file system. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export function assetsDir(): string {
  return join(packageRoot(), 'dist', 'ui');
}

export interface UiServerOptions {
  routes: readonly UiRoute[];
  /** 0 (default): any free port */
  port?: number;
  /** aborts every request's signal (the `ui` process stops) */
  signal: AbortSignal;
  /** defaults to dist/ui of the package */
  assets?: string;
  /** defaults to 16 random bytes, hex */
  token?: string;
}

export interface UiServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

function baseHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = toJsonText(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text + '\n');
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return v.join('=');
  }
  return undefined;
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) {
    throw new UiInputError('POST body must be JSON', 'send Content-Type: application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new UiInputError(`request body over ${MAX_BODY >> 20} MiB`);
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (e) {
    throw new UiInputError(`request body is not JSON: ${(e as Error).message}`);
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}

/** Writes each value as one SSE `data:` message, waiting for the socket when it is full. */
async function streamEvents(
  res: ServerResponse,
  values: AsyncIterable<unknown>,
  signal: AbortSignal,
): Promise<void> {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  try {
    for await (const v of values) {
      if (signal.aborted || res.destroyed) break;
      if (!res.write(`data: ${toJsonText(v)}\n\n`)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (!res.destroyed) res.write('event: end\ndata: {}\n\n');
  } catch (e) {
    if (!res.destroyed) res.write(`event: fail\ndata: ${toJsonText(errorBody(e))}\n\n`);
  } finally {
    res.end();
  }
}

function errorBody(e: unknown): { error: string; hint?: string } {
  if (e instanceof UiInputError || e instanceof UserError) {
    const hint = (e as { hint?: string }).hint;
    return hint ? { error: e.message, hint } : { error: e.message };
  }
  return { error: e instanceof Error ? e.message : String(e) };
}

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const token = opts.token ?? randomBytes(16).toString('hex');
  const dir = opts.assets ?? assetsDir();
  const routes = new Map(opts.routes.map((r) => [`${r.method} ${r.path}`, r]));
  const files = new Map<string, Buffer>();
  for (const [path, a] of Object.entries(ASSETS)) {
    try {
      files.set(path, await readFile(join(dir, a.file)));
    } catch {
      throw new UserError(
        `the ui page is not built (${join(dir, a.file)} is missing)`,
        'run npm run build (scripts/build.sh bundles the page with esbuild)',
      );
    }
  }
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    baseHeaders(res);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      sendText(res, 403, 'forbidden: wrong Host (open the URL kubectl gadget ui printed)');
      return;
    }
    const queryToken = url.searchParams.get('token') ?? undefined;
    const header = req.headers[TOKEN_HEADER];
    const given =
      queryToken ?? (typeof header === 'string' ? header : undefined) ?? cookieToken(req);
    if (!sameToken(given, token)) {
      sendText(
        res,
        403,
        'forbidden: missing or wrong token (open the URL kubectl gadget ui printed, with its ?token=)',
      );
      return;
    }
    if (queryToken !== undefined && req.method === 'GET' && files.has(url.pathname)) {
      // the first load: keep the token in a cookie, not in the address bar or history
      res.setHeader('Set-Cookie', `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`);
      res.writeHead(303, { Location: url.pathname });
      res.end();
      return;
    }
    url.searchParams.delete('token');
    const asset = files.get(url.pathname);
    if (asset && req.method === 'GET') {
      res.writeHead(200, {
        'Content-Type': ASSETS[url.pathname]!.type,
        'Content-Length': asset.length,
      });
      res.end(asset);
      return;
    }
    const route = routes.get(`${req.method} ${url.pathname}`);
    if (!route) {
      sendJson(res, 404, { error: `no ${req.method} ${url.pathname}` });
      return;
    }
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    res.on('close', abort);
    opts.signal.addEventListener('abort', abort, { once: true });
    try {
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      const request: UiRequest = { query: url.searchParams, body, signal: ac.signal };
      const out = await route.handle(request);
      if (isAsyncIterable(out)) await streamEvents(res, out, ac.signal);
      else sendJson(res, 200, out ?? null);
    } catch (e) {
      if (res.headersSent) res.end();
      else
        sendJson(
          res,
          e instanceof UiInputError || e instanceof UserError ? 400 : 500,
          errorBody(e),
        );
    } finally {
      res.off('close', abort);
      opts.signal.removeEventListener('abort', abort);
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorBody(e));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new UserError(
              `port ${opts.port} on 127.0.0.1 is in use`,
              'pick another --port, or --port 0 for any free one',
            )
          : e,
      ),
    );
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What `kubectl gadget ui` parsed: the mode flags, --port. */
export type UiFlags = CommonFlagValues & { port?: number };

/**
 * `kubectl gadget ui`: opens the runtime the flags choose (as `trace exec` does), serves the page,
 * prints its URL with the token, and runs until SIGINT/SIGTERM (or `signal`), which ends every run
 * the page started, then closes the runtime.
 */
export async function serveUi(
  flags: UiFlags,
  opts: { stdout?: NodeJS.WritableStream; signal?: AbortSignal } = {},
): Promise<void> {
  const stdout = opts.stdout ?? process.stdout;
  const mode = runtimeMode(flags);
  // a run the page starts names its namespace or none: none is every namespace (the service map
  // of the cluster), not the kubeconfig context's one as a command without -n would take
  const runtime = await openRuntime(
    mode === 'kubernetes' ? { ...flags, 'all-namespaces': true } : flags,
  );
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    const ctx: UiContext = {
      runtime,
      mode,
      flags,
      signal: ac.signal,
      log: {
        info: (m) => {
          if (flags.debug) process.stderr.write(`debug: ${escapeControl(m)}\n`);
        },
        warn: (m) => process.stderr.write(`warning: ${escapeControl(m)}\n`),
      },
    };
    const server = await startUiServer({
      routes: allRoutes(ctx),
      signal: ac.signal,
      ...(flags.port !== undefined ? { port: flags.port } : {}),
    });
    stdout.write(`kubectl gadget ui (${mode} mode) at ${server.url}\nCtrl-C to stop.\n`);
    if (!ac.signal.aborted) {
      await new Promise<void>((resolve) =>
        ac.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    await server.close();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    opts.signal?.removeEventListener('abort', stop);
    await runtime.close().catch(() => undefined);
  }
}
