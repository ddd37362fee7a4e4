// The page's access to the `ui` server. The token travels in the HttpOnly cookie the first load
// set (server.ts), so fetch and EventSource need nothing more. Every value arrives as JSON and is
// shown as text: no view puts a received string into HTML (innerHTML, dangerouslySetInnerHTML).

export type Query = Record<string, string | readonly string[] | undefined>;

/** An API error: one line, and a hint when the server has one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface StreamHandlers<T> {
  message(value: T): void;
  /** the stream ended normally */
  end?(): void;
  /** the stream failed (the server's error, or the connection) */
  fail?(error: ApiError): void;
}

export interface Api {
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body: unknown, query?: Query): Promise<T>;
  /** Server-Sent Events of a route; returns a function that closes the stream (stops its run). */
  stream<T>(path: string, query: Query, handlers: StreamHandlers<T>): () => void;
}

export function url(path: string, query: Query = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    for (const one of typeof v === 'string' ? [v] : v) q.append(k, one);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => undefined)) as
    { error?: string; hint?: string } | undefined;
  if (!res.ok) {
    throw new ApiError(body?.error ?? `HTTP ${res.status}`, body?.hint, res.status);
  }
  return body as T;
}

export function createApi(): Api {
  return {
    async get<T>(path: string, query?: Query): Promise<T> {
      return answer<T>(await fetch(url(path, query), { credentials: 'same-origin' }));
    },
    async post<T>(path: string, body: unknown, query?: Query): Promise<T> {
      return answer<T>(
        await fetch(url(path, query), {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        }),
      );
    },
    stream<T>(path: string, query: Query, h: StreamHandlers<T>): () => void {
      const es = new EventSource(url(path, query));
      let closed = false;
      const close = (): void => {
        closed = true;
        es.close();
      };
      es.onmessage = (e: MessageEvent<string>) => h.message(JSON.parse(e.data) as T);
      es.addEventListener('end', () => {
        close();
        h.end?.();
      });
      es.addEventListener('fail', (e) => {
        close();
        const b = JSON.parse((e as MessageEvent<string>).data) as { error: string; hint?: string };
        h.fail?.(new ApiError(b.error, b.hint));
      });
      // the connection broke (the ui process stopped): no reconnect, the run is gone
      es.onerror = () => {
        if (closed) return;
        close();
        h.fail?.(
          new ApiError('connection to kubectl gadget ui lost', 'is the ui command still running?'),
        );
      };
      return close;
    },
  };
}
