// YAML output: a stream of documents, each starting with `---`, via the yaml package (loaded
// only when -o yaml is used).

import type { Writable } from 'node:stream';
import type { GadgetEvent } from '../../../gadgets/framework/types.js';
import type { ObjectSink } from './types.js';
import { writeChunk } from './write.js';

type Stringify = (value: unknown, options: { lineWidth: number }) => string;

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array)
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return v;
}

function withoutBytes(ev: Record<string, unknown>): Record<string, unknown> {
  for (const k in ev) {
    if (ev[k] instanceof Uint8Array) {
      const copy: Record<string, unknown> = {};
      for (const key in ev) copy[key] = plain(ev[key]);
      return copy;
    }
  }
  return ev;
}

/** One YAML document, with its leading `---` line. */
export function yamlDocument(stringify: Stringify, value: unknown): string {
  const v =
    value && typeof value === 'object' && !Array.isArray(value)
      ? withoutBytes(value as Record<string, unknown>)
      : value;
  return '---\n' + stringify(v, { lineWidth: 0 });
}

export async function loadYamlStringify(): Promise<Stringify> {
  const yaml = await import('yaml');
  return (value, options) => yaml.stringify(value, options);
}

export class YamlSink implements ObjectSink {
  readonly kind = 'objects';

  constructor(
    private readonly out: Writable,
    private readonly stringify: Stringify,
  ) {}

  write(events: GadgetEvent[]): void | Promise<void> {
    let s = '';
    for (const ev of events) s += yamlDocument(this.stringify, ev);
    return writeChunk(this.out, s);
  }

  async end(): Promise<void> {}
}

export async function createYamlSink(out: Writable): Promise<YamlSink> {
  return new YamlSink(out, await loadYamlStringify());
}
