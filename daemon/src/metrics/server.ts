// GET /metrics over plain HTTP on --metrics-listen HOST:PORT. Separate from the gRPC server
// (its own socket; a scrape reads counters and a few /proc files, it never waits on a run).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import type { DaemonMetrics } from './registry.js';

export interface MetricsListen {
  host: string;
  port: number;
}

/** HOST:PORT or [IPv6]:PORT; port 0 picks a free one. One-line errors with the accepted form. */
export function parseMetricsListen(s: string): MetricsListen {
  const bad = (why: string) =>
    new Error(
      `invalid --metrics-listen '${s}': ${why} (use HOST:PORT, e.g. 127.0.0.1:9477, 0.0.0.0:9477 or [::1]:9477)`,
    );
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) throw bad(s.includes('://') ? 'no scheme here' : 'expected HOST:PORT');
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port > 65535) throw bad(`port ${port} is over 65535`);
  if (m[1] !== undefined && isIP(host) !== 6) throw bad(`${host} is not an IPv6 address`);
  if (
    m[2] !== undefined &&
    isIP(host) !== 4 &&
    !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)
  )
    throw bad(`${host} is not an address or host name`);
  return { host, port };
}

export interface MetricsServer {
  /** http://host:port/metrics, port filled in */
  url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  metrics: DaemonMetrics,
  listen: MetricsListen,
  log: (level: 'warn', message: string) => void = () => {},
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    metrics.text().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (e: unknown) => {
        log('warn', `metrics: ${(e as Error)?.message ?? String(e)}`);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  // a scraper sends small requests: slow or piled-up clients are cut off, not waited on
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 30_000;
  server.maxConnections = 32;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot serve metrics on ${listen.host}:${listen.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use (pick another --metrics-listen port)' : e.message}`,
        ),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
