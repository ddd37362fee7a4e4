// YAML output: a stream of documents, each starting with `---`, via the yaml package (loaded
// only when -o yaml is used).

import type { Writable } from 'node:stream';
import type { GadgetEvent } from '#gadgets/framework/types.js';
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

const RAW_C1 = /[\u007f-\u009f]/g;

/**
 * yaml.stringify with no raw control character: the yaml package escapes C0 controls, and puts
 * any string holding DEL or a C1 control (CSI is 0x9b) in double quotes, but writes those raw;
 * inside double quotes `\xNN` is the same value.
 */
export async function loadYamlStringify(): Promise<Stringify> {
  const yaml = await import('yaml');
  return (value, options) =>
    yaml
      .stringify(value, options)
      .replace(RAW_C1, (ch) => '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
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
