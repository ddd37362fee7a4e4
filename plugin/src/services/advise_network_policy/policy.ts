// networking.k8s.io/v1 NetworkPolicy objects: types, and reading them (plus Namespace objects,
// for namespace labels) from multi-document YAML or from API list results.

import { CST, Composer, LineCounter, Parser } from 'yaml';
import { clip } from '#gadgets/framework/clip.js';
import { cidrWithin, parseCidr } from './ip.js';
import { selectorProblem, type LabelSelector, type Labels } from './labels.js';

export type PolicyType = 'Ingress' | 'Egress';

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  /** number or named port; absent: every port */
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: PolicyType[];
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  };
}

export interface NamespaceInfo {
  name: string;
  labels: Labels;
}

export interface PolicySet {
  policies: NetworkPolicy[];
  /** namespaces whose labels are known (Namespace documents, or listed from the cluster) */
  namespaces: NamespaceInfo[];
}

/** Longest PolicyError message: the values it quotes are clipped, and so is the whole. */
const MAX_MESSAGE = 1000;

export class PolicyError extends Error {
  constructor(message: string) {
    // a file's values are quoted in the message: a 100 KB one made a 100 KB error (found by
    // fuzzing, e2e/fuzz/text.ts)
    super(clip(message, MAX_MESSAGE));
    this.name = 'PolicyError';
  }
}

/** A value of the file as a message quotes it: JSON, clipped. */
function quote(v: unknown): string {
  return clip(JSON.stringify(v) ?? String(v), 80);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The policy types that apply (defaulting like the API server: Ingress, plus Egress if it has egress rules). */
export function effectivePolicyTypes(p: NetworkPolicy): PolicyType[] {
  const t = p.spec.policyTypes;
  if (t && t.length > 0) return t;
  return p.spec.egress && p.spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

function peerProblem(v: unknown, where: string): string | undefined {
  if (!isObj(v)) return `${where}: must be an object`;
  for (const k of Object.keys(v)) {
    if (k !== 'podSelector' && k !== 'namespaceSelector' && k !== 'ipBlock')
      return `${where}: unknown field ${quote(k)}`;
  }
  const hasSel = v.podSelector != null || v.namespaceSelector != null;
  if (v.ipBlock != null) {
    if (hasSel) return `${where}: ipBlock cannot be combined with podSelector or namespaceSelector`;
    const b = v.ipBlock;
    if (!isObj(b) || typeof b.cidr !== 'string') return `${where}.ipBlock.cidr: required`;
    let outer;
    try {
      outer = parseCidr(b.cidr);
    } catch (e) {
      return `${where}.ipBlock.cidr: ${(e as Error).message}`;
    }
    if (b.except != null) {
      if (!Array.isArray(b.except)) return `${where}.ipBlock.except: must be a list`;
      for (const [i, x] of b.except.entries()) {
        if (typeof x !== 'string') return `${where}.ipBlock.except[${i}]: must be a string`;
        let inner;
        try {
          inner = parseCidr(x);
        } catch (e) {
          return `${where}.ipBlock.except[${i}]: ${(e as Error).message}`;
        }
        if (!cidrWithin(inner, outer) || inner.prefix <= outer.prefix)
          return `${where}.ipBlock.except[${i}]: must be a strict subset of ${b.cidr}`;
      }
    }
    return undefined;
  }
  if (!hasSel) return `${where}: needs podSelector, namespaceSelector or ipBlock`;
  return (
    selectorProblem(v.podSelector, `${where}.podSelector`) ??
    selectorProblem(v.namespaceSelector, `${where}.namespaceSelector`)
  );
}

const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function portProblem(v: unknown, where: string): string | undefined {
  if (!isObj(v)) return `${where}: must be an object`;
  if (v.protocol != null && v.protocol !== 'TCP' && v.protocol !== 'UDP' && v.protocol !== 'SCTP')
    return `${where}.protocol: must be TCP, UDP or SCTP`;
  const port = v.port;
  if (port != null) {
    if (typeof port === 'number') {
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        return `${where}.port: must be 1-65535`;
    } else if (typeof port === 'string') {
      if (/^\d+$/.test(port)) {
        // IntOrString given as a quoted number: the API server keeps it a string, a named port
        // can never be all digits
        return `${where}.port: ${quote(port)} is a string of digits; write it as a number`;
      }
      if (port.length > 15 || !PORT_NAME.test(port) || !/[a-z]/.test(port))
        return `${where}.port: ${quote(port)} is not a valid port name`;
    } else return `${where}.port: must be a number or a port name`;
  }
  if (v.endPort != null) {
    if (typeof v.endPort !== 'number' || !Number.isInteger(v.endPort))
      return `${where}.endPort: must be an integer`;
    if (typeof port !== 'number') return `${where}.endPort: needs a numeric port`;
    if (v.endPort < port) return `${where}.endPort: must not be below port`;
    if (v.endPort > 65535) return `${where}.endPort: must be at most 65535`;
  }
  return undefined;
}

function rulesProblem(
  rules: unknown,
  dir: 'ingress' | 'egress',
  where: string,
): string | undefined {
  if (rules == null) return undefined;
  if (!Array.isArray(rules)) return `${where}: must be a list`;
  const peersKey = dir === 'ingress' ? 'from' : 'to';
  for (const [i, r] of rules.entries()) {
    const w = `${where}[${i}]`;
    if (r === null) continue; // `- {}` written as `-`: allow everything
    if (!isObj(r)) return `${w}: must be an object`;
    for (const k of Object.keys(r))
      if (k !== peersKey && k !== 'ports') return `${w}: unknown field ${quote(k)}`;
    const peers = r[peersKey];
    if (peers != null) {
      if (!Array.isArray(peers)) return `${w}.${peersKey}: must be a list`;
      for (const [j, p] of peers.entries()) {
        const e = peerProblem(p, `${w}.${peersKey}[${j}]`);
        if (e) return e;
      }
    }
    if (r.ports != null) {
      if (!Array.isArray(r.ports)) return `${w}.ports: must be a list`;
      for (const [j, p] of r.ports.entries()) {
        const e = portProblem(p, `${w}.ports[${j}]`);
        if (e) return e;
      }
    }
  }
  return undefined;
}

/** Validates a NetworkPolicy object; returns the problem or undefined. */
export function policyProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not an object';
  if (v.apiVersion !== 'networking.k8s.io/v1')
    return `apiVersion: expected networking.k8s.io/v1, got ${quote(v.apiVersion)}`;
  const md = v.metadata;
  if (!isObj(md) || typeof md.name !== 'string' || !md.name) return 'metadata.name: required';
  if (md.namespace != null && typeof md.namespace !== 'string')
    return 'metadata.namespace: must be a string';
  const spec = v.spec;
  if (!isObj(spec)) return 'spec: required';
  if (spec.podSelector === undefined)
    return 'spec.podSelector: required (use {} to select every pod)';
  const sel = selectorProblem(spec.podSelector, 'spec.podSelector');
  if (sel) return sel;
  if (spec.policyTypes != null) {
    if (!Array.isArray(spec.policyTypes)) return 'spec.policyTypes: must be a list';
    for (const t of spec.policyTypes)
      if (t !== 'Ingress' && t !== 'Egress') return `spec.policyTypes: unknown type ${quote(t)}`;
  }
  return (
    rulesProblem(spec.ingress, 'ingress', 'spec.ingress') ??
    rulesProblem(spec.egress, 'egress', 'spec.egress')
  );
}

/** Normalises a validated policy: null rule lists/rules become their empty forms. */
function normalizePolicy(v: Record<string, unknown>, defaultNamespace: string): NetworkPolicy {
  const p = structuredClone(v) as unknown as NetworkPolicy;
  p.metadata.namespace = p.metadata.namespace || defaultNamespace;
  p.spec.podSelector ??= {};
  if (p.spec.ingress === null) delete p.spec.ingress;
  if (p.spec.egress === null) delete p.spec.egress;
  p.spec.ingress = p.spec.ingress?.map((r) => r ?? {});
  p.spec.egress = p.spec.egress?.map((r) => r ?? {});
  if (p.spec.ingress === undefined) delete p.spec.ingress;
  if (p.spec.egress === undefined) delete p.spec.egress;
  return p;
}

/**
 * Adds the objects of one parsed document (NetworkPolicy, Namespace, or a List of them) to `set`.
 * Other kinds are ignored (a manifest may hold Deployments too); returns how many were ignored.
 */
export function addObject(
  set: PolicySet,
  obj: unknown,
  where: string,
  defaultNamespace = 'default',
): number {
  if (obj === null || obj === undefined) return 0;
  if (!isObj(obj)) throw new PolicyError(`${where}: not a Kubernetes object`);
  const kind = obj.kind;
  if (
    kind === 'List' ||
    (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(obj.items))
  ) {
    let ignored = 0;
    const items = obj.items;
    if (!Array.isArray(items))
      throw new PolicyError(`${where}: ${clip(String(kind), 80)} without items`);
    const itemKind = typeof kind === 'string' && kind !== 'List' ? kind.slice(0, -4) : undefined;
    for (const [i, item] of items.entries()) {
      const it =
        isObj(item) && itemKind && item.kind === undefined
          ? { ...item, kind: itemKind, apiVersion: obj.apiVersion }
          : item;
      ignored += addObject(set, it, `${where}.items[${i}]`, defaultNamespace);
    }
    return ignored;
  }
  if (kind === 'NetworkPolicy') {
    const problem = policyProblem(obj);
    const name = isObj(obj.metadata) ? clip(String(obj.metadata.name ?? '?'), 80) : '?';
    if (problem) throw new PolicyError(`${where} (NetworkPolicy ${name}): ${problem}`);
    set.policies.push(normalizePolicy(obj, defaultNamespace));
    return 0;
  }
  if (kind === 'Namespace') {
    const md = obj.metadata;
    if (!isObj(md) || typeof md.name !== 'string')
      throw new PolicyError(`${where} (Namespace): metadata.name required`);
    const labels: Labels = {};
    if (isObj(md.labels)) for (const [k, x] of Object.entries(md.labels)) labels[k] = String(x);
    set.namespaces.push({ name: md.name, labels });
    return 0;
  }
  return 1;
}

/** Deepest nesting of collections a policy document may have (a NetworkPolicy needs about ten). */
const MAX_DEPTH = 64;

/** Whether a document's collections nest deeper than MAX_DEPTH (walked without recursion). */
function tooDeep(doc: CST.Document): boolean {
  const stack: Array<[CST.Token | null | undefined, number]> = [[doc.value, 1]];
  while (stack.length > 0) {
    const [t, depth] = stack.pop()!;
    if (!CST.isCollection(t)) continue;
    if (depth > MAX_DEPTH) return true;
    for (const it of t.items) stack.push([it.key, depth + 1], [it.value, depth + 1]);
  }
  return false;
}

/**
 * The parser's documents, refused when nested too deep: the composer recurses per level, and
 * once the stack ran out in one file (yaml reports it as an error), a second deep file in the
 * same process aborted node ("RegExpCompiler Allocation failed"; found by fuzzing,
 * e2e/fuzz/text.ts).
 */
function* shallow(tokens: Generator<CST.Token>, source: string): Generator<CST.Token> {
  let i = 0;
  for (const t of tokens) {
    if (t.type === 'document' && (++i, tooDeep(t)))
      throw new PolicyError(`${source}: document ${i}: nested deeper than ${MAX_DEPTH} levels`);
    yield t;
  }
}

/**
 * Reads NetworkPolicies (and Namespaces) from multi-document YAML (or JSON). Every problem of
 * the text (syntax, an alias bomb, no policy in it, a wrong field) is a PolicyError of one line.
 */
export function parsePolicies(
  text: string,
  source = 'policies',
  defaultNamespace = 'default',
): PolicySet {
  const set: PolicySet = { policies: [], namespaces: [] };
  const lineCounter = new LineCounter();
  // a document at a time (the parser's stream API): a large file's syntax trees are not all held
  const docs = new Composer({ prettyErrors: false }).compose(
    shallow(new Parser(lineCounter.addNewLine).parse(text), source),
  );
  const ignored = new Set<string>();
  let i = 0;
  for (const d of docs) {
    const where = `${source}: document ${++i}`;
    const err = d.errors[0];
    if (err) {
      const { line, col } = lineCounter.linePos(err.pos[0]);
      throw new PolicyError(`${where}: line ${line}, column ${col}: ${err.message}`);
    }
    let obj: unknown;
    try {
      obj = d.toJS();
    } catch (e) {
      // aliases past maxAliasCount (a "billion laughs" bomb), an unresolved alias
      throw new PolicyError(`${where}: ${(e as Error).message}`);
    }
    if (addObject(set, obj, where, defaultNamespace) > 0)
      ignored.add(isObj(obj) ? String(obj.kind ?? 'an object without kind') : typeof obj);
  }
  if (set.policies.length === 0 && set.namespaces.length === 0 && ignored.size > 0)
    throw new PolicyError(
      `${source}: no NetworkPolicy or Namespace in it (found ${[...ignored]
        .sort()
        .map((k) => clip(k, 40))
        .join(', ')})`,
    );
  return set;
}

export function policyId(p: NetworkPolicy): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;
}
