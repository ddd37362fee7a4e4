// Parsed flags -> RunRequest (what the runtime is asked to do) + the resolved params the
// transform sees. Validation errors become one-line UserErrors before anything is started.

import type { ContainerFilter, RunRequest } from '#gadgets/framework/runtime.js';
import { resolveParams } from '#gadgets/framework/resolve.js';
import { parseLabelSelector } from '#gadgets/framework/labels.js';
import { kernelFilterText, pushdown } from '#gadgets/framework/pushdown.js';
import type { GadgetDescriptor } from '#gadgets/framework/types.js';
import { UserError } from '../errors.js';
import { paramValues } from '../flags.js';
import type { CommonFlagValues } from '../flags.js';

export interface BuiltRequest {
  request: RunRequest;
  /** params with defaults filled, validated by the gadget's own rules */
  params: Record<string, string>;
}

function splitList(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function containerFilter(flags: CommonFlagValues): ContainerFilter {
  return {
    containerNames: flags.containername ?? [],
    containerIds: flags['container-id'] ?? [],
    host: flags.host ?? false,
    namespaces: flags['all-namespaces'] ? [] : splitList(flags.namespace),
    pods: flags.podname ? [flags.podname] : [],
    labelSelector: flags.selector ?? '',
    // only Kubernetes mode restricts to pod processes; --local/--remote trace the whole node
    podsOnly: false,
  };
}

export function buildRunRequest(
  descriptor: Pick<GadgetDescriptor, 'name' | 'command' | 'params' | 'kernelFilterFields'>,
  flags: CommonFlagValues & Record<string, unknown>,
): BuiltRequest {
  const given = paramValues(descriptor.params, flags);
  let params: Record<string, string>;
  try {
    params = resolveParams(descriptor as GadgetDescriptor, given);
  } catch (e) {
    const err = e as Error & { hint?: string };
    throw new UserError(err.message, err.hint);
  }
  const filter = containerFilter(flags);
  if (filter.labelSelector.trim() !== '') {
    try {
      parseLabelSelector(filter.labelSelector);
    } catch (e) {
      throw new UserError(
        (e as Error).message,
        "e.g. -l app=web, -l 'tier in (web,api),env!=dev', -l '!canary'",
      );
    }
  }
  // the -F expressions the gadget's program can apply; the pipeline still applies every -F
  const kernel = pushdown(flags.filter ?? [], descriptor.kernelFilterFields).map(kernelFilterText);
  return {
    request: {
      gadget: descriptor.name,
      params: given,
      filter,
      timeoutSeconds: flags.timeout ?? 0,
      ...(kernel.length > 0 ? { kernelFilters: kernel } : {}),
    },
    params,
  };
}
