// Where built artefacts live, found from the package root so dist/ and the image layout agree.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package root not found from ' + import.meta.url);
    dir = up;
  }
  root = dir;
  return dir;
}

export const gadgetObjectPath = (name: string): string =>
  join(packageRoot(), 'build', 'gadgets', `${name}.bpf.o`);
export const gadgetLayoutPath = (name: string): string =>
  join(packageRoot(), 'build', 'gadgets', `${name}.layout.json`);
export const bpfObjectPath = (name: string): string =>
  join(packageRoot(), 'build', 'bpf', `${name}.bpf.o`);
