// Flags shared by every command, defined once, plus the gadget-specific flags generated from a
// descriptor's params, so a gadget folder declares its options in one place.

import { Flags } from '@oclif/core';
import type { Interfaces } from '@oclif/core';
import type { ColumnSpec, GadgetDescriptor, ParamSpec } from '#gadgets/framework/types.js';
import { clipLine } from '#gadgets/framework/clip.js';
import { MAX_TIMEOUT_SECONDS } from '#gadgets/framework/resolve.js';
import { UserError } from './errors.js';
import { OUTPUT_HELP, parseOutputSpec } from './output/spec.js';
import { findColumn } from './output/columns.js';
import { FilterSyntaxError, parseFieldFilter } from '#gadgets/framework/field-filter.js';
import type { FieldFilter } from '#gadgets/framework/field-filter.js';
import type { OutputSpec } from './output/spec.js';
import type { SortKey } from './output/list.js';

type FlagChar = NonNullable<Parameters<typeof Flags.boolean>[0]>['char'];

/** TLS to a daemon reached with --remote tcp://HOST:PORT (its --tls-* flags: mutual TLS). */
export const remoteTlsFlags = {
  'tls-ca': Flags.string({
    description:
      'With --remote tcp://: verify the daemon against this CA certificate (PEM) instead of the system roots.',
    helpValue: 'FILE',
    helpGroup: 'MODE',
  }),
  'tls-cert': Flags.string({
    description: 'With --remote tcp://: the client certificate (PEM) to present; needs --tls-key.',
    helpValue: 'FILE',
    helpGroup: 'MODE',
  }),
  'tls-key': Flags.string({
    description: 'With --remote tcp://: the private key of --tls-cert (PEM).',
    helpValue: 'FILE',
    helpGroup: 'MODE',
  }),
  'tls-server-name': Flags.string({
    description:
      "With --remote tcp://: the name the daemon's certificate must carry, when it is not the address's host.",
    helpValue: 'NAME',
    helpGroup: 'MODE',
  }),
};

/** The --tls-* flags given, by name (for errors). */
export function tlsFlagsGiven(flags: RemoteTlsFlagValues): string[] {
  return (['tls-ca', 'tls-cert', 'tls-key', 'tls-server-name'] as const)
    .filter((k) => flags[k] !== undefined)
    .map((k) => `--${k}`);
}

/** --tls-* without --remote: Kubernetes mode tunnels through the API server, --local has no wire. */
export function checkTlsNeedsRemote(flags: RemoteTlsFlagValues & { remote?: string }): void {
  const given = tlsFlagsGiven(flags);
  if (given.length > 0 && flags.remote === undefined) {
    throw new UserError(
      `${given.join(', ')} apply to --remote tcp://HOST:PORT only`,
      'add --remote tcp://HOST:PORT (a daemon started with --tls-cert/--tls-key/--tls-client-ca), or drop the --tls-* flags',
    );
  }
}

export interface RemoteTlsFlagValues {
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'tls-server-name'?: string;
}

export const modeFlags = {
  local: Flags.boolean({
    description: 'Run the gadget in this process (needs root).',
    exclusive: ['remote'],
    helpGroup: 'MODE',
  }),
  remote: Flags.string({
    description: 'Address of a kubectl-gadget daemon: unix:///path/to.sock or tcp://host:port.',
    helpValue: 'ADDR',
    helpGroup: 'MODE',
  }),
  ...remoteTlsFlags,
};

export const kubernetesFlags = {
  kubeconfig: Flags.string({
    description: 'Path to the kubeconfig file.',
    helpGroup: 'KUBERNETES',
  }),
  context: Flags.string({ description: 'Kubeconfig context to use.', helpGroup: 'KUBERNETES' }),
  namespace: Flags.string({
    char: 'n',
    description: 'Only pods in this namespace (comma-separated for several).',
    exclusive: ['all-namespaces'],
    helpGroup: 'KUBERNETES',
  }),
  'all-namespaces': Flags.boolean({
    char: 'A',
    description: 'Pods in all namespaces.',
    helpGroup: 'KUBERNETES',
  }),
  selector: Flags.string({
    char: 'l',
    description: 'Label selector, e.g. app=web,tier!=db.',
    helpGroup: 'KUBERNETES',
  }),
  podname: Flags.string({ char: 'p', description: 'Only this pod.', helpGroup: 'KUBERNETES' }),
  node: Flags.string({ description: 'Only this node.', helpGroup: 'KUBERNETES' }),
};

export const containerFlags = {
  containername: Flags.string({
    char: 'c',
    description: 'Only containers with this name (repeatable).',
    multiple: true,
    helpGroup: 'FILTER',
  }),
  'container-id': Flags.string({
    description: 'Only the container with this id or id prefix (repeatable).',
    multiple: true,
    helpGroup: 'FILTER',
  }),
  host: Flags.boolean({
    description: 'Only processes outside containers.',
    exclusive: ['containername', 'container-id'],
    helpGroup: 'FILTER',
  }),
};

export const debugFlag = {
  debug: Flags.boolean({
    description: 'Print debug details (stack traces, run end reason).',
    helpGroup: 'OUTPUT',
  }),
};

/** `--timeout SECONDS`: a whole number of seconds, 0 = until interrupted. */
export function parseTimeout(input: string): number {
  const v = input.trim();
  if (!/^\d+$/.test(v)) {
    throw new UserError(
      `invalid --timeout "${clipLine(input, 40)}": expected a whole number of seconds, e.g. --timeout 10`,
    );
  }
  if (Number(v) > MAX_TIMEOUT_SECONDS) {
    throw new UserError(
      `invalid --timeout "${clipLine(input, 40)}": at most ${MAX_TIMEOUT_SECONDS} seconds (24 days)`,
    );
  }
  return Number(v);
}

/** -o/--output, validated against `columns` when given (names of `columns=a,b`). */
export function outputFlag(columns?: readonly ColumnSpec[]) {
  return Flags.custom<OutputSpec>({
    char: 'o',
    description: `Output format: ${OUTPUT_HELP}.`,
    helpValue: 'FORMAT',
    helpGroup: 'OUTPUT',
    parse: async (input: string) => parseOutputSpec(input, columns),
  })();
}

/** Parse one -F value against `columns` (a field name or a printed header, any case). */
export function parseFilterFlag(input: string, columns: readonly ColumnSpec[]): FieldFilter {
  try {
    return parseFieldFilter(
      input,
      (n) => findColumn(columns, n)?.name,
      columns.map((c) => c.name),
    );
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw new UserError(e.message);
    throw e;
  }
}

/** -F/--filter col:[!][>=|>|<=|<|~]value, repeatable (AND), as in Inspektor Gadget. */
export function filterFlag(columns: readonly ColumnSpec[]) {
  return Flags.custom<FieldFilter>({
    char: 'F',
    description:
      'Only events whose column matches: col:value, col:!value, col:>=N (also >, <=, <), col:~regex (repeatable; all must match).',
    helpValue: 'COL:VALUE',
    helpGroup: 'FILTER',
    multiple: true,
    parse: async (input: string) => parseFilterFlag(input, columns),
  })();
}

/** `--sort col[,col]`, `-col` descending, validated against `columns`. */
export function parseSort(input: string, columns: readonly ColumnSpec[]): SortKey[] {
  const valid = `valid columns are ${columns.map((c) => c.name).join(', ')}`;
  const names = input
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new UserError(`invalid --sort "${clipLine(input, 40)}": no column names; ${valid}`);
  return names.map((n) => {
    const descending = n.startsWith('-');
    const name = descending ? n.slice(1) : n;
    const col = findColumn(columns, name);
    if (!col) throw new UserError(`unknown column "${clipLine(name, 60)}" in --sort: ${valid}`);
    return { column: col.name, descending };
  });
}

/**
 * oclif reads a value that starts like a short flag (`--sort -name`: -n) as a missing value, even
 * after `=`: a leading space keeps `-col` a value (parseSort trims it).
 */
export function sortArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '--sort' && next?.startsWith('-')) {
      out.push(`--sort= ${next}`);
      i++;
    } else if (a.startsWith('--sort=-')) {
      out.push(`--sort= ${a.slice('--sort='.length)}`);
    } else out.push(a);
  }
  return out;
}

/** --sort for list commands (IG: `--sort col,-col`). */
export function sortFlag(columns: readonly ColumnSpec[]) {
  return Flags.custom<SortKey[]>({
    description:
      'Sort by these columns (comma-separated; -col for descending), e.g. --sort -pid,name.',
    helpValue: 'COL[,COL]',
    helpGroup: 'OUTPUT',
    parse: async (input: string) => parseSort(input, columns),
  })();
}

/** --timeout of a command that runs until stopped. */
export function stopTimeoutFlag() {
  return Flags.custom<number>({
    description: 'Stop after this many seconds.',
    helpValue: 'SECONDS',
    helpGroup: 'OUTPUT',
    parse: async (input: string) => parseTimeout(input),
  })();
}

export function outputFlags(columns?: readonly ColumnSpec[]) {
  return {
    output: outputFlag(columns),
    timeout: stopTimeoutFlag(),
    ...debugFlag,
  };
}

/** --wait (described by `what`) and how long it waits, for commands that change the cluster. */
export function waitFlags(what: string) {
  return {
    wait: Flags.boolean({ description: what }),
    timeout: Flags.custom<number>({
      description: 'Seconds --wait waits (0 = no limit).',
      helpValue: 'SECONDS',
      default: 120,
      parse: async (input: string) => parseTimeout(input),
    })(),
  };
}

const COMMON_NAMES = new Set<string>([
  ...Object.keys(modeFlags),
  ...Object.keys(kubernetesFlags),
  ...Object.keys(containerFlags),
  'output',
  'filter',
  'timeout',
  'debug',
  'help',
]);
const COMMON_CHARS = new Set(['n', 'A', 'l', 'p', 'c', 'o', 'h', 'F']);

/** Flags for a gadget's params: bool -> boolean, int -> integer, string -> option, string[] -> repeatable. */
// The generated flags are untyped (Interfaces.FlagInput): their values are read by paramValues().
export function paramFlags(params: readonly ParamSpec[]): Interfaces.FlagInput {
  const out: Interfaces.FlagInput = {};
  for (const p of params) {
    if (COMMON_NAMES.has(p.name))
      throw new Error(`gadget param --${p.name} collides with a common flag`);
    if (p.char && COMMON_CHARS.has(p.char)) {
      throw new Error(
        `gadget param --${p.name}: short flag -${p.char} collides with a common flag`,
      );
    }
    // no help group: the gadget's own flags come first in --help, as plain FLAGS
    const base = { description: p.description, char: p.char as FlagChar };
    switch (p.type) {
      case 'bool':
        out[p.name] = Flags.boolean({
          ...base,
          allowNo: p.default === 'true',
          default: p.default === 'true',
        });
        break;
      case 'int':
        out[p.name] = Flags.integer({
          ...base,
          ...(p.default !== undefined ? { default: Number(p.default) } : {}),
        });
        break;
      case 'string':
        out[p.name] = Flags.string({
          ...base,
          ...(p.default !== undefined ? { default: p.default } : {}),
        });
        break;
      case 'string[]':
        out[p.name] = Flags.string({ ...base, multiple: true });
        break;
    }
  }
  return out;
}

/** Everything a gadget command takes. */
export function gadgetFlags(descriptor: Pick<GadgetDescriptor, 'params' | 'columns'>) {
  return {
    ...modeFlags,
    ...kubernetesFlags,
    ...containerFlags,
    ...outputFlags(descriptor.columns),
    filter: filterFlag(descriptor.columns),
    ...paramFlags(descriptor.params),
  };
}

/** A descriptor's docs as a help description: hard-wrapped lines joined, paragraphs kept. */
export function helpDescription(d: Pick<GadgetDescriptor, 'description' | 'docs'>): string {
  if (!d.docs) return d.description;
  return d.docs
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .join('\n\n');
}

/** Parsed values of the common flags (what services read). */
export interface CommonFlagValues extends RemoteTlsFlagValues {
  local?: boolean;
  remote?: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  'all-namespaces'?: boolean;
  selector?: string;
  podname?: string;
  node?: string;
  containername?: string[];
  'container-id'?: string[];
  host?: boolean;
  output?: OutputSpec;
  filter?: FieldFilter[];
  sort?: SortKey[];
  timeout?: number;
  debug?: boolean;
}

/**
 * Gadget param values from parsed flags, as RunRequest.params strings: bool 'true'/'false',
 * int decimal, string[] as a JSON array (gadgets/framework/params.ts listParam). Only flags the
 * user gave, or whose flag carries a default, are included; the daemon fills the rest.
 */
export function paramValues(
  params: readonly ParamSpec[],
  flags: Record<string, unknown>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of params) {
    const v = flags[p.name];
    if (v === undefined || v === null) continue;
    if (p.type === 'string[]') {
      const list = (Array.isArray(v) ? v : [v]).map(String);
      if (list.length > 0) out[p.name] = JSON.stringify(list);
    } else {
      out[p.name] = String(v);
    }
  }
  return out;
}
