// The layer rule of eslint.config.js (imports go downward: e2e -> plugin -> daemon -> proto/ts,
// gadgets): ESLint's own API lints fixture sources placed in the folders the rule covers, with
// the repository's configuration, and must report each upward import and pass the allowed ones.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';
import { packageRoot } from '#gadgets/framework/paths.js';

const eslint = new ESLint({ cwd: packageRoot() });

/** The layer rule's messages (no-restricted-imports, and no-restricted-syntax for import()) for `source` linted as if it were the file `filePath`. */
async function layerErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport const used = x;\n`, { filePath });
  assert.ok(result, `no lint result for ${filePath}`);
  return result.messages
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax')
    .map((m) => `${m.severity === 2 ? 'error' : 'warning'}: ${m.message}`);
}

describe('import layers (eslint.config.js)', () => {
  const upward: [file: string, source: string, why: RegExp][] = [
    [
      'gadgets/framework/fixture.ts',
      "import { x } from '../../daemon/src/runtime/local.js';",
      /^error: '..\/..\/daemon\/src\/runtime\/local\.js' import is restricted .*gadgets\/ and proto\/ are below daemon\//,
    ],
    [
      'proto/ts/fixture.ts',
      "import { x } from '../../plugin/src/flags.js';",
      /^error: .*plugin\/ is the CLI: nothing below imports it$/,
    ],
    [
      'daemon/src/fixture.ts',
      "import { x } from '../../plugin/src/pipeline/run.js';",
      /^error: .*plugin\/ is the CLI/,
    ],
    [
      'daemon/src/runtime/fixture.ts',
      "import { x } from '../../../e2e/helpers/daemon.js';",
      /^error: .*e2e\/ holds the tests of the whole/,
    ],
    [
      'plugin/src/services/fixture.ts',
      "import type { x } from '../../../daemon/src/traceloop/recorder.js';",
      /^error: .*the CLI imports daemon\/ only through src\/main\.ts and src\/runtime\/local\.ts/,
    ],
    [
      'plugin/src/services/fixture.ts',
      "export { x } from '../../../daemon/src/bpf/index.js';",
      /^error: .*the CLI imports daemon\/ only through/,
    ],
    // a dynamic import() is held to the same layers
    [
      'gadgets/trace_exec/fixture.ts',
      "const x = await import('../../plugin/src/commands/index.js');",
      /^error: import\(\) of a higher layer: plugin\/ is the CLI: nothing below imports it$/,
    ],
    [
      'plugin/src/services/fixture.ts',
      "const { x } = await import('../../../daemon/src/traceloop/recorder.js');",
      /^error: import\(\) of a higher layer: the CLI imports daemon\/ only through/,
    ],
  ];
  for (const [file, source, why] of upward) {
    test(`${file}: ${source} is an error`, async () => {
      const errors = await layerErrors(file, source);
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0]!, why);
    });
  }

  const allowed: [file: string, source: string][] = [
    ['plugin/src/services/fixture.ts', "import { x } from '../../../daemon/src/runtime/local.js';"],
    ['plugin/src/commands/fixture.ts', "import { x } from '../../../daemon/src/main.js';"],
    [
      'plugin/src/runtimes/fixture.ts',
      "const { x } = await import('../../../daemon/src/runtime/local.js');",
    ],
    [
      'plugin/src/services/fixture.ts',
      "import { x } from '../../../gadgets/framework/runtime.js';",
    ],
    ['plugin/src/services/fixture.ts', "import { x } from '../../../proto/ts/convert.js';"],
    ['daemon/src/fixture.ts', "import { x } from '../../gadgets/framework/errors.js';"],
    ['e2e/fixture.ts', "import { x } from '../daemon/src/traceloop/recorder.js';"],
    ['gadgets/trace_exec/fixture.e2e.test.ts', "import { x } from '../../e2e/helpers/cli.js';"],
  ];
  for (const [file, source] of allowed) {
    test(`${file}: ${source} is allowed`, async () => {
      assert.deepEqual(await layerErrors(file, source), []);
    });
  }
});
