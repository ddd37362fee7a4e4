// The version `kubectl gadget version` shows for the client and each daemon: the package version
// plus, when the build stamped one (scripts/build-info.sh, run by `npm run build` and
// image/build-local.sh), a build id as semver build metadata, so two builds of the same package
// version tell apart: 0.1.0+<commit>[.dirty].<UTC build time>.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

export const packageVersion: string = (
  JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
).version;

/** The id scripts/build-info.sh wrote, or undefined (never stamped, or unreadable). */
export function readBuildId(
  file = join(packageRoot(), 'build', 'build-info.json'),
): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // not stamped: `npx tsc` without `npm run build`
  }
  try {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    // only what semver allows in build metadata: a hand-edited file cannot inject text
    return typeof id === 'string' && /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

export const buildId: string | undefined = readBuildId();

/** package version + build id: what the client and the daemons report. */
export const version: string = buildId ? `${packageVersion}+${buildId}` : packageVersion;
