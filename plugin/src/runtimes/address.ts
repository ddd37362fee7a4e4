// Daemon addresses for the CLI (--address). The parser is part of the wire contract
// (proto/ts/address.ts) so `kubectl-gadget daemon --listen` and the CLI accept exactly the same
// forms; this module is the CLI's entry point to it.
//
//   unix:///run/kubectl-gadget/gadget.sock   (default)
//   tcp://HOST:PORT
//   HOST:PORT                                (tcp)

import {
  AddressError,
  DEFAULT_ADDRESS,
  formatAddress,
  grpcTarget,
  parseAddress,
  type DaemonAddress,
} from '#proto/ts/address.js';

export {
  AddressError,
  DEFAULT_ADDRESS,
  formatAddress,
  grpcTarget,
  parseAddress,
  type DaemonAddress,
};

/**
 * Validates a user-given address and returns its canonical form (`unix:///…` or `tcp://…`),
 * or the default when none was given. Throws AddressError with a one-line message.
 */
export function normalizeAddress(input: string | undefined): string {
  if (input === undefined || input.trim() === '') return DEFAULT_ADDRESS;
  return formatAddress(parseAddress(input));
}
