// The bounded fuzz run of `npm test` for every in-process target (records.ts, text.ts), in the
// unit tier (*.unit.test.ts: no root, kernel or daemon): about 1.5 s each (FUZZ_SECONDS overrides);
// `npm run fuzz` runs the same targets longer (main.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordTargets } from './records.js';
import { budgetMs, formatReport, runTarget } from './runner.js';
import { textTargets } from './text.js';

for (const target of [...recordTargets, ...textTargets]) {
  test(`fuzz ${target.name}`, async (t) => {
    const r = await runTarget(target, budgetMs(1500));
    t.diagnostic(formatReport(r));
    assert.equal(r.failure, undefined, `${target.name}: ${r.failure}`);
    assert.ok(r.inputs > 0, 'no input was tried');
  });
}
