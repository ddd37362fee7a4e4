// kubectl's plugin completion for `kubectl gadget` (kubectl >= 1.26): for `kubectl gadget trace
// exec -n sh<TAB>` kubectl runs `kubectl_complete-gadget trace exec -n sh` (the words after
// `gadget`, the word being completed last, possibly '') and reads cobra's format back: one
// candidate a line (`value<TAB>description`), then `:<directive>`.
//
// Verbs and flags come from oclif.manifest.json (no command module is loaded, so a TAB costs a
// node start); namespaces, pods, containers, nodes and contexts come from the cluster of the
// kubeconfig (--kubeconfig/--context typed on the line are honoured).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '#gadgets/framework/paths.js';

/** cobra's ShellCompDirective bits. */
export const Directive = { Default: 0, Error: 1, NoSpace: 2, NoFileComp: 4 } as const;

export interface ManifestFlag {
  name: string;
  char?: string;
  type: 'boolean' | 'option';
  description?: string;
  summary?: string;
  options?: string[];
  hidden?: boolean;
  allowNo?: boolean;
  multiple?: boolean;
}

export interface ManifestCommand {
  id: string;
  summary?: string;
  description?: string;
  hidden?: boolean;
  flags: Record<string, ManifestFlag>;
  args?: Record<string, unknown>;
}

export interface Candidate {
  value: string;
  description?: string;
}

export interface Completion {
  candidates: Candidate[];
  directive: number;
}

/** What the cluster answers; tests and the CLI pass the real one (clusterSource). */
export interface ClusterSource {
  namespaces(): Promise<string[]>;
  /** pods of a namespace, or of all with undefined: [namespace, name, containers] */
  pods(
    namespace: string | undefined,
  ): Promise<{ namespace: string; name: string; containers: string[] }[]>;
  nodes(): Promise<string[]>;
  contexts(): Promise<string[]>;
  /** the namespace -n defaults to (the context's) */
  defaultNamespace(): Promise<string>;
}

export interface Catalogue {
  commands: ManifestCommand[];
  topics: Record<string, string>;
}

/** The commands of this build: ours and those of the oclif plugins package.json names. */
export function loadCatalogue(root = packageRoot()): Catalogue {
  const read = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));
  const pjson = read(join(root, 'package.json')) as {
    oclif?: {
      plugins?: string[];
      topics?: Record<string, { description?: string; hidden?: boolean }>;
    };
  };
  const commands: ManifestCommand[] = [];
  const manifests = [join(root, 'oclif.manifest.json')];
  for (const p of pjson.oclif?.plugins ?? [])
    manifests.push(join(root, 'node_modules', p, 'oclif.manifest.json'));
  for (const file of manifests) {
    try {
      const m = read(file) as { commands: Record<string, ManifestCommand> };
      commands.push(...Object.values(m.commands));
    } catch {
      // a plugin without a manifest: its commands are not completed
    }
  }
  const topics: Record<string, string> = {};
  for (const [name, t] of Object.entries(pjson.oclif?.topics ?? {})) {
    if (!t.hidden) topics[name] = t.description ?? '';
  }
  return { commands: commands.filter((c) => !c.hidden), topics };
}

const firstLine = (s: string | undefined): string => (s ?? '').split('\n')[0]!.trim();

/** The flag a word names in `cmd` (or, before a command is known, in any command). */
function findFlag(
  word: string,
  flags: ManifestFlag[],
): { flag?: ManifestFlag; inlineValue?: string } {
  if (word.startsWith('--')) {
    const eq = word.indexOf('=');
    const name = word.slice(2, eq < 0 ? undefined : eq);
    const flag = flags.find((f) => f.name === name || (f.allowNo && `no-${f.name}` === name));
    return { flag, inlineValue: eq < 0 ? undefined : word.slice(eq + 1) };
  }
  if (word.startsWith('-') && word.length >= 2) {
    const flag = flags.find((f) => f.char === word[1]);
    return { flag, inlineValue: word.length > 2 ? word.slice(2) : undefined };
  }
  return {};
}

/** Where the line stands: the command named so far and the flag values typed. */
function parseLine(
  cat: Catalogue,
  words: string[],
): {
  command?: ManifestCommand;
  positionals: string[];
  values: Map<string, string[]>;
  pending?: ManifestFlag;
} {
  const allFlags = cat.commands.flatMap((c) => Object.values(c.flags));
  const positionals: string[] = [];
  const values = new Map<string, string[]>();
  let command: ManifestCommand | undefined;
  const resolve = () => {
    // the longest run of leading words that is a command id
    for (let n = positionals.length; n > 0; n--) {
      const id = positionals.slice(0, n).join(':');
      const c = cat.commands.find((x) => x.id === id);
      if (c) return c;
    }
    return undefined;
  };
  let pending: ManifestFlag | undefined;
  for (const w of words) {
    if (pending) {
      values.set(pending.name, [...(values.get(pending.name) ?? []), w]);
      pending = undefined;
      continue;
    }
    if (w.startsWith('-') && w !== '-') {
      const { flag, inlineValue } = findFlag(w, command ? Object.values(command.flags) : allFlags);
      if (!flag) continue;
      if (flag.type === 'boolean') values.set(flag.name, ['true']);
      else if (inlineValue !== undefined)
        values.set(flag.name, [...(values.get(flag.name) ?? []), inlineValue]);
      else pending = flag;
      continue;
    }
    positionals.push(w);
    command = resolve();
  }
  return { command, positionals, values, pending };
}

/** Values of an option flag: from the cluster for the Kubernetes ones. */
async function flagValues(
  flag: ManifestFlag,
  values: Map<string, string[]>,
  cluster: ClusterSource,
): Promise<Completion | undefined> {
  const none = { candidates: [], directive: Directive.NoFileComp };
  const list = (xs: string[], description?: string): Completion => ({
    candidates: [...new Set(xs)].sort().map((value) => ({ value, description })),
    directive: Directive.NoFileComp,
  });
  const namespaceOf = async (): Promise<string | undefined> => {
    if (values.has('all-namespaces')) return undefined;
    const ns = values.get('namespace')?.at(-1)?.split(',')[0];
    return ns || (await cluster.defaultNamespace());
  };
  try {
    switch (flag.name) {
      case 'namespace':
        return list(await cluster.namespaces());
      case 'podname': {
        return list((await cluster.pods(await namespaceOf())).map((p) => p.name));
      }
      case 'containername': {
        const pod = values.get('podname')?.at(-1);
        const pods = (await cluster.pods(await namespaceOf())).filter(
          (p) => !pod || p.name === pod,
        );
        return list(pods.flatMap((p) => p.containers));
      }
      case 'node':
        return list(await cluster.nodes());
      case 'context':
        return list(await cluster.contexts());
      case 'kubeconfig':
        return { candidates: [], directive: Directive.Default };
      case 'output':
        return list(flag.options ?? ['columns', 'json', 'yaml']);
      default:
        return flag.options ? list(flag.options) : undefined;
    }
  } catch {
    // no kubeconfig, cluster unreachable, forbidden: nothing to offer, and no file names either
    return none;
  }
}

/** The completion of `kubectl gadget <args>` (args: the words, the one being completed last). */
export async function complete(
  cat: Catalogue,
  args: string[],
  cluster: ClusterSource,
): Promise<Completion> {
  const words = args.slice(0, -1);
  const cur = args.at(-1) ?? '';
  const { command, positionals, values, pending } = parseLine(cat, words);
  const filter = (c: Completion): Completion => ({
    ...c,
    candidates: c.candidates.filter((x) => x.value.startsWith(cur)),
  });

  // the value of an option flag: `-n <cur>` or `--namespace=<cur>`
  if (pending)
    return filter(
      (await flagValues(pending, values, cluster)) ?? {
        candidates: [],
        directive: Directive.Default,
      },
    );
  if (command && cur.startsWith('--') && cur.includes('=')) {
    const eq = cur.indexOf('=');
    const { flag } = findFlag(cur.slice(0, eq), Object.values(command.flags));
    if (!flag || flag.type !== 'option') return { candidates: [], directive: Directive.NoFileComp };
    const inner = await complete(cat, [...words, `--${flag.name}`, cur.slice(eq + 1)], cluster);
    return {
      ...inner,
      candidates: inner.candidates.map((c) => ({
        ...c,
        value: `${cur.slice(0, eq + 1)}${c.value}`,
      })),
    };
  }

  // flags of the command
  if (cur.startsWith('-')) {
    if (!command) return { candidates: [], directive: Directive.NoFileComp };
    const candidates: Candidate[] = [];
    for (const f of Object.values(command.flags)) {
      if (f.hidden || (values.has(f.name) && !f.multiple)) continue;
      const description = firstLine(f.summary ?? f.description);
      candidates.push({ value: `--${f.name}`, description });
      if (f.allowNo) candidates.push({ value: `--no-${f.name}`, description });
    }
    candidates.sort((a, b) => a.value.localeCompare(b.value));
    return filter({ candidates, directive: Directive.NoFileComp });
  }

  // the next word of a command id
  if (command && positionals.length >= command.id.split(':').length) {
    // a command's own arguments (e.g. traceloop show CONTAINER) are not completed
    return { candidates: [], directive: Directive.NoFileComp };
  }
  const typed = positionals;
  const next = new Map<string, string>();
  for (const c of cat.commands) {
    const parts = c.id.split(':');
    if (parts.length <= typed.length || typed.some((w, i) => parts[i] !== w)) continue;
    const word = parts[typed.length]!;
    const prefix = parts.slice(0, typed.length + 1).join(':');
    const description =
      parts.length === typed.length + 1
        ? firstLine(c.summary ?? c.description)
        : (cat.topics[prefix] ?? '');
    if (!next.has(word) || parts.length === typed.length + 1) next.set(word, description);
  }
  const candidates = [...next]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([value, description]) => ({ value, description }));
  return filter({ candidates, directive: Directive.NoFileComp });
}

/** cobra's wire format, which kubectl reads back. */
export function format(c: Completion): string {
  const lines = c.candidates.map((x) =>
    x.description ? `${x.value}\t${x.description.replace(/[\t\n]/g, ' ')}` : x.value,
  );
  return [...lines, `:${c.directive}`].join('\n') + '\n';
}

const TIMEOUT_MS = 5000;

/** The real cluster, through the kubeconfig (loaded once, only when a value needs it). */
export function clusterSource(flags: { kubeconfig?: string; context?: string }): ClusterSource {
  let target: Promise<import('../../runtimes/k8s/kubeconfig.js').KubeTarget> | undefined;
  const load = () =>
    (target ??= import('../../runtimes/k8s/kubeconfig.js').then((m) => m.loadKubeConfig(flags)));
  const core = async () => {
    const { CoreV1Api } = await import('@kubernetes/client-node');
    return (await load()).kc.makeApiClient(CoreV1Api);
  };
  const timed = <T>(p: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out')), TIMEOUT_MS);
      p.then(
        (v) => (clearTimeout(t), resolve(v)),
        (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
      );
    });
  return {
    namespaces: () =>
      timed(
        core().then(async (api) =>
          (await api.listNamespace()).items.map((n) => n.metadata?.name ?? ''),
        ),
      ),
    pods: (namespace) =>
      timed(
        core().then(async (api) => {
          const list =
            namespace === undefined
              ? await api.listPodForAllNamespaces()
              : await api.listNamespacedPod({ namespace });
          return list.items.map((p) => ({
            namespace: p.metadata?.namespace ?? '',
            name: p.metadata?.name ?? '',
            containers: [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map(
              (c) => c.name,
            ),
          }));
        }),
      ),
    nodes: () =>
      timed(
        core().then(async (api) => (await api.listNode()).items.map((n) => n.metadata?.name ?? '')),
      ),
    contexts: async () => (await load()).kc.getContexts().map((c) => c.name),
    defaultNamespace: async () => (await load()).namespace,
  };
}

/** bin/kubectl_complete-gadget: prints the completion of its arguments. */
export async function main(args: string[]): Promise<void> {
  const cat = loadCatalogue();
  // --kubeconfig/--context as typed on the line (kubectl strips its own global flags)
  const { values } = parseLine(cat, args.slice(0, -1));
  const cluster = clusterSource({
    kubeconfig: values.get('kubeconfig')?.at(-1),
    context: values.get('context')?.at(-1),
  });
  let out: Completion;
  try {
    out = await complete(cat, args, cluster);
  } catch {
    out = { candidates: [], directive: Directive.Error };
  }
  process.stdout.write(format(out));
}
