// Who may use the daemon, and how much: mutual TLS for TCP listeners, caps on concurrent runs
// (overall and per caller), and the audit log of runs (docs/security.md).
//
//   const sec = await daemonSecurity({ listen, tlsCert, tlsKey, tlsClientCa, auditLog });
//   await startServer(runtime, listen, { ...sec, log });

import { closeSync, createWriteStream, openSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { RunError } from '../../../gadgets/framework/errors.js';
import { formatAddress, parseAddress, type DaemonAddress } from '../../../proto/ts/address.js';
import { HINT_TRAILER } from '../../../proto/ts/convert.js';

/** Default --max-runs: concurrent runs on one daemon. */
export const DEFAULT_MAX_RUNS = 64;
/** Default --max-runs-per-caller. */
export const DEFAULT_MAX_RUNS_PER_CALLER = 16;

// ---- TLS ------------------------------------------------------------------------------------

/** PEM contents of the daemon's certificate, its key and the CA its clients' certificates chain to. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  clientCa: Buffer;
}

export interface TlsFiles {
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

const TLS_HINT =
  'give all three: --tls-cert FILE --tls-key FILE --tls-client-ca FILE (PEM; see docs/security.md)';

/** Reads a PEM file named by a flag; a one-line error when it cannot. */
export async function readPem(flag: string, path: string, hint?: string): Promise<Buffer> {
  let b: Buffer;
  try {
    b = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new RunError('INVALID_ARGUMENT', `cannot read ${flag} ${path}: ${code}`, hint);
  }
  if (!b.includes('-----BEGIN ')) {
    throw new RunError(
      'INVALID_ARGUMENT',
      `${flag} ${path} is not a PEM file (no "-----BEGIN" line)`,
      hint,
    );
  }
  return b;
}

/**
 * The daemon's TLS material from its flags: none (undefined) or all three files. Errors are one
 * line: a missing partner flag, TLS on a unix socket, an unreadable or non-PEM file.
 */
export async function loadServerTls(
  addr: DaemonAddress,
  f: TlsFiles,
): Promise<ServerTls | undefined> {
  const given = (
    [
      ['--tls-cert', f.tlsCert],
      ['--tls-key', f.tlsKey],
      ['--tls-client-ca', f.tlsClientCa],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (given.length === 0) return undefined;
  if (addr.kind === 'unix') {
    throw new RunError(
      'INVALID_ARGUMENT',
      `${given.map(([n]) => n).join(', ')}: TLS applies to tcp:// listen addresses, not ${formatAddress(addr)}`,
      'a unix socket is protected by its file mode (0600); drop the --tls-* flags or listen on tcp://HOST:PORT',
    );
  }
  if (given.length < 3) {
    const missing = ['--tls-cert', '--tls-key', '--tls-client-ca'].filter(
      (n) => !given.some(([g]) => g === n),
    );
    throw new RunError(
      'INVALID_ARGUMENT',
      `${given.map(([n]) => n).join(' and ')} ${given.length === 1 ? 'needs' : 'need'} ${missing.join(' and ')}: the daemon serves mutual TLS only`,
      TLS_HINT,
    );
  }
  return {
    cert: await readPem('--tls-cert', f.tlsCert!, TLS_HINT),
    key: await readPem('--tls-key', f.tlsKey!, TLS_HINT),
    clientCa: await readPem('--tls-client-ca', f.tlsClientCa!, TLS_HINT),
  };
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * A TCP listener beyond loopback needs TLS, or --insecure. Returns true when --insecure lets one
 * through (log insecureWarning()); throws the one-line refusal otherwise.
 */
export function checkListen(addr: DaemonAddress, tls: boolean, insecure: boolean): boolean {
  if (addr.kind !== 'tcp' || tls || isLoopbackHost(addr.host)) return false;
  const where = formatAddress(addr);
  if (!insecure) {
    throw new RunError(
      'FAILED_PRECONDITION',
      `refusing to listen on ${where} without TLS: anyone who reaches it could trace every process on this node`,
      `give --tls-cert, --tls-key and --tls-client-ca (mutual TLS), listen on 127.0.0.1, or add --insecure to accept the risk`,
    );
  }
  return true;
}

export function insecureWarning(where: string): string {
  return `listening on ${where} without TLS (--insecure): anyone who reaches it can trace every process on this node`;
}

/** "CN=alice, O=dev" from a peer certificate's subject (grpc-js auth context). */
export function subjectString(cert: PeerCertificate | undefined): string | undefined {
  const s = cert?.subject as Record<string, string | string[]> | undefined;
  if (!s || Object.keys(s).length === 0) return undefined;
  return Object.entries(s)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`))
    .join(', ');
}

// ---- caps on concurrent runs ----------------------------------------------------------------

export interface Caller {
  /** who: a Kubernetes user, a client certificate's subject, or the connection's peer */
  id: string;
  /** 'unix': a client of the unix socket, which only root can reach: not capped per caller */
  via: 'kubernetes' | 'tls' | 'peer' | 'unix';
}

/** A RESOURCE_EXHAUSTED status with a hint in the trailer (what RemoteRuntime shows). */
export function exhausted(details: string, hint: string): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  metadata.set(HINT_TRAILER, Buffer.from(hint, 'utf8'));
  return { code: grpc.status.RESOURCE_EXHAUSTED, details, metadata };
}

/** Counts runs per caller against --max-runs-per-caller. */
export class CallerCaps {
  private readonly perCaller = new Map<string, number>();

  constructor(readonly maxPerCaller: number) {}

  /** A release function, or the refusal when the caller is at its cap. */
  acquire(c: Caller): (() => void) | grpc.StatusObject {
    if (c.via === 'unix') return () => {};
    const key = `${c.via}\0${c.id}`;
    const n = this.perCaller.get(key) ?? 0;
    if (n >= this.maxPerCaller) {
      return exhausted(
        `too many runs: ${describeCaller(c)} already has ${n} on this daemon (--max-runs-per-caller ${this.maxPerCaller})`,
        'end some of your runs first (each trace command is one run per node), or restart the daemon with a higher --max-runs-per-caller',
      );
    }
    this.perCaller.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.perCaller.get(key) ?? 1) - 1;
      if (left <= 0) this.perCaller.delete(key);
      else this.perCaller.set(key, left);
    };
  }

  /** callers with runs (tests, leak checks) */
  get callers(): number {
    return this.perCaller.size;
  }
}

export function overallExhausted(active: number, max: number): grpc.StatusObject {
  return exhausted(
    `too many runs: this daemon is running ${active}, its maximum (--max-runs ${max})`,
    'try again when runs have ended, or restart the daemon with a higher --max-runs',
  );
}

function describeCaller(c: Caller): string {
  const id = auditString(c.id, 120);
  switch (c.via) {
    case 'kubernetes':
      return `user "${id}"`;
    case 'tls':
      return `client certificate "${id}"`;
    case 'peer':
    case 'unix':
      return `connection ${id}`;
  }
}

// ---- audit log ------------------------------------------------------------------------------

/** Longest client-supplied string an audit line carries (one verbose log had 1 MB lines). */
export const AUDIT_MAX_CHARS = 256;
/** Most entries of a client-supplied list or map an audit line carries. */
export const AUDIT_MAX_ITEMS = 32;

/** `s` capped at `max` characters, with how many were left out: "abc…(+1234 chars)". */
export function auditString(s: string, max = AUDIT_MAX_CHARS): string {
  if (s.length <= max) return s;
  const end = /[\uD800-\uDBFF]/.test(s[max - 1] ?? '') ? max - 1 : max;
  return `${s.slice(0, end)}…(+${s.length - end} chars)`;
}

/** A capped list of capped strings; "…(+N more)" stands for what was left out. */
export function auditList(l: readonly string[]): string[] {
  const out = l.slice(0, AUDIT_MAX_ITEMS).map((s) => auditString(s));
  if (l.length > AUDIT_MAX_ITEMS) out.push(`…(+${l.length - AUDIT_MAX_ITEMS} more)`);
  return out;
}

/** A capped map of capped keys and values. */
export function auditMap(m: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(m);
  const out: Record<string, string> = {};
  for (const [k, v] of entries.slice(0, AUDIT_MAX_ITEMS)) out[auditString(k, 64)] = auditString(v);
  if (entries.length > AUDIT_MAX_ITEMS) out['…'] = `(+${entries.length - AUDIT_MAX_ITEMS} more)`;
  return out;
}

/**
 * One JSON line. JSON.stringify escapes C0 controls (newlines included); DEL, C1 controls and
 * the Unicode line/paragraph separators are escaped too, so no raw control character reaches a
 * terminal or a line-based log reader, and the line still parses back to the same values.
 */
export function auditLine(rec: Record<string, unknown>): string {
  return JSON.stringify(rec).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Where audit lines go: stderr (default) or a file opened for appending, mode 0600. */
export interface AuditSink {
  write(rec: Record<string, unknown>): void;
  close(): Promise<void>;
}

export function openAuditLog(path: string | undefined): AuditSink {
  if (path === undefined || path === '' || path === '-') {
    return {
      write: (rec) => void process.stderr.write(`${auditLine(rec)}\n`),
      close: async () => {},
    };
  }
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (e) {
    throw new RunError(
      'INVALID_ARGUMENT',
      `cannot open --audit-log ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'give a writable file path (it is appended to), or leave --audit-log out to log to stderr',
    );
  }
  let stream: WriteStream;
  try {
    stream = createWriteStream('', { fd, flags: 'a' });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let failed = false;
  stream.on('error', (e) => {
    // a full disk must not take the daemon down: say so once, keep serving
    if (!failed) process.stderr.write(`error: audit log ${path}: ${e.message}\n`);
    failed = true;
  });
  return {
    write: (rec) => {
      if (!failed) stream.write(`${auditLine(rec)}\n`);
    },
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}

// ---- all of it, from the daemon's flags ---------------------------------------------------

export interface SecurityFlags extends TlsFiles {
  listen: string;
  insecure?: boolean;
  maxRuns?: number;
  maxRunsPerCaller?: number;
  auditLog?: string;
}

export interface SecurityOptions {
  tls?: ServerTls;
  insecure?: boolean;
  maxRuns?: number;
  maxRunsPerCaller?: number;
  audit?: AuditSink;
}

/**
 * Checks the daemon's security flags and loads what they name, before anything is loaded into
 * the kernel: a bad flag fails the start at once, with one line.
 */
export async function daemonSecurity(f: SecurityFlags): Promise<SecurityOptions> {
  const addr = parseAddress(f.listen, { allowPortZero: true });
  const tls = await loadServerTls(addr, f);
  checkListen(addr, tls !== undefined, f.insecure ?? false);
  for (const [flag, v] of [
    ['--max-runs', f.maxRuns],
    ['--max-runs-per-caller', f.maxRunsPerCaller],
  ] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
      throw new RunError('INVALID_ARGUMENT', `invalid ${flag} ${v}: expected a whole number >= 1`);
    }
  }
  return {
    tls,
    insecure: f.insecure,
    maxRuns: f.maxRuns,
    maxRunsPerCaller: f.maxRunsPerCaller,
    audit: openAuditLog(f.auditLog),
  };
}
