// traceloop's entry for list-gadgets. It is not run as a stream of events: recording lives in the
// node daemon (daemon/src/traceloop/recorder.ts) and is read with its own commands.

import type { GadgetListing } from '../framework/types.js';

export const listing: GadgetListing = {
  name: 'traceloop',
  command: ['traceloop'],
  description: 'Flight recorder: the last syscalls of every container, readable after a crash',
  docs: 'docs/traceloop.md',
  usage: 'use `kubectl gadget traceloop start|list|show|stop|delete`',
};
