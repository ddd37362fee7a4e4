// Tests read the exposition text with a parser this project does not write
// (parse-prometheus-text-format, a prom2json-compatible parser; a dev dependency).

import { createRequire } from 'node:module';

export interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value: string; labels?: Record<string, string> }>;
}

const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => ParsedFamily[];

/** The families of an exposition, by name. Throws on text a Prometheus parser refuses. */
export function parseMetrics(text: string): Map<string, ParsedFamily> {
  return new Map(parse(text).map((f) => [f.name, f]));
}

/** The value of `name` with exactly these labels (a subset match), or undefined. */
export function sample(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const m = families
    .get(name)
    ?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return m === undefined ? undefined : Number(m.value);
}
