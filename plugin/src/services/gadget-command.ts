// What every gadget command (trace exec, trace open, ...) does once its flags are parsed.

import type { GadgetDescriptor } from '#gadgets/framework/types.js';
import type { CommonFlagValues } from '../flags.js';
import { buildRunRequest } from './request.js';
import type { RunSummary } from '../pipeline/run.js';
import { runtimeMode, withRuntime } from '../runtimes/runtime.js';

export async function runGadgetCommand(
  descriptor: GadgetDescriptor,
  flags: CommonFlagValues & Record<string, unknown>,
): Promise<RunSummary> {
  // validate everything before starting anything
  const { request, params } = buildRunRequest(descriptor, flags);
  const { runGadget } = await import('../pipeline/run.js');
  return withRuntime(flags, (runtime) =>
    runGadget(runtime, {
      descriptor,
      request,
      params,
      output: flags.output ?? { format: 'columns' },
      debug: flags.debug ?? false,
      singleNode: runtimeMode(flags) !== 'kubernetes',
      filters: flags.filter ?? [],
    }),
  );
}
