// Daemon addresses for the CLI (--address). The parser lives with the daemon's server
// (daemon/src/server/address.ts) so `kubectl-gadget daemon --listen` and the CLI accept exactly
// the same forms; this module is the CLI's entry point to it.
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
} from '../../../daemon/src/server/address.js';

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
