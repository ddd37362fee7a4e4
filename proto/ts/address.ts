// Daemon addresses, shared by the server (--listen) and the CLI (--address):
//   unix:///abs/path.sock    a unix socket (the default, /run/kubectl-gadget/gadget.sock)
//   tcp://HOST:PORT          plain TCP (no authentication: only when asked for)
//   HOST:PORT                same as tcp://HOST:PORT
// IPv6 hosts are bracketed: tcp://[::1]:7000.

import { isIP } from 'node:net';
import { clipLine } from '../../gadgets/framework/clip.js';

export const DEFAULT_ADDRESS = 'unix:///run/kubectl-gadget/gadget.sock';

export type DaemonAddress =
  { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

const FORMS = 'expected unix:///path/to/socket, tcp://HOST:PORT or HOST:PORT';

export class AddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressError';
  }
}

/**
 * Parses and validates an address. `allowPortZero` lets a server ask the kernel for a free port.
 * Throws AddressError with a one-line message that shows the accepted forms.
 */
export function parseAddress(input: string, opts: { allowPortZero?: boolean } = {}): DaemonAddress {
  const s = input.trim();
  const bad = (why: string): AddressError =>
    new AddressError(`invalid daemon address "${clipLine(input)}": ${why}`);
  if (s === '') throw bad(FORMS);

  if (s.startsWith('unix:')) {
    let path: string;
    if (s.startsWith('unix://')) {
      path = s.slice('unix://'.length);
      if (!path.startsWith('/')) {
        throw bad(`the socket path must be absolute, e.g. unix:///run/kubectl-gadget/gadget.sock`);
      }
    } else {
      path = s.slice('unix:'.length);
      if (!path.startsWith('/')) {
        throw bad(`the socket path must be absolute, e.g. unix:///run/kubectl-gadget/gadget.sock`);
      }
    }
    if (path.endsWith('/')) throw bad('the socket path names a directory, not a socket file');
    if (path.includes('\0')) throw bad('the socket path contains a NUL byte');
    // sun_path is 108 bytes including the terminating NUL
    if (Buffer.byteLength(path) > 107) throw bad('the socket path is longer than 107 bytes');
    return { kind: 'unix', path: normalizeSlashes(path) };
  }

  let rest = s;
  if (s.startsWith('tcp://')) {
    rest = s.slice('tcp://'.length);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    throw bad(`unsupported scheme "${clipLine(s.slice(0, s.indexOf(':')), 40)}": ${FORMS}`);
  } else if (s.startsWith('/')) {
    throw bad(`to use a unix socket write unix://${clipLine(s)}`);
  }
  if (rest.endsWith('/')) rest = rest.slice(0, -1);

  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw bad('missing "]" after the IPv6 address');
    host = rest.slice(1, close);
    if (isIP(host) !== 6) throw bad(`"${clipLine(host)}" is not an IPv6 address`);
    if (rest[close + 1] !== ':') throw bad(`missing port: ${FORMS}`);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw bad(`missing port: ${FORMS}`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) throw bad('write IPv6 addresses in brackets, e.g. tcp://[::1]:7000');
  }
  if (host === '') throw bad(`missing host: ${FORMS}`);
  if (
    isIP(host) === 0 &&
    !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(host)
  ) {
    throw bad(`"${clipLine(host)}" is not a valid host name or IP address`);
  }
  if (!/^\d{1,5}$/.test(portText))
    throw bad(`port "${clipLine(portText, 40)}" is not a number: ${FORMS}`);
  const port = Number(portText);
  const min = opts.allowPortZero ? 0 : 1;
  if (port < min || port > 65535) throw bad(`port ${port} is out of range (${min}-65535)`);
  return { kind: 'tcp', host, port };
}

function normalizeSlashes(p: string): string {
  return p.replace(/\/{2,}/g, '/');
}

/** The canonical string form: unix:///path or tcp://host:port. */
export function formatAddress(a: DaemonAddress): string {
  if (a.kind === 'unix') return `unix://${a.path}`;
  return `tcp://${hostPort(a.host, a.port)}`;
}

/** The target string @grpc/grpc-js dials / binds for this address. */
export function grpcTarget(a: DaemonAddress): string {
  if (a.kind === 'unix') return `unix://${a.path}`;
  const v = isIP(a.host);
  if (v === 4) return `ipv4:${a.host}:${a.port}`;
  if (v === 6) return `ipv6:[${a.host}]:${a.port}`;
  return `dns:${a.host}:${a.port}`;
}

/** host:port for binding a TCP server (grpc-js bindAsync form). */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
