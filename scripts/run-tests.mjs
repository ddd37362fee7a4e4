// Runs compiled node:test files. `unit`: *.test.js outside e2e/ (gadgets/ included; those that
// need root carry it in the name: *.bpf.test.ts, *.podman.test.ts) and e2e/**/*.unit.test.js
// (in-process tests of an e2e/ harness: no root, kernel or daemon, such as the parser fuzzing);
// `integration`: the other e2e/**/*.test.js and a gadget's own end-to-end tests,
// gadgets/<name>/*.e2e.test.js.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const which = process.argv[2] ?? 'unit';
const extra = process.argv.slice(3);
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.js')) files.push(p);
  }
};
walk('dist');
const picked = files
  .filter(
    (f) =>
      ((f.startsWith('dist/e2e/') && !f.endsWith('.unit.test.js')) ||
        f.endsWith('.e2e.test.js')) ===
      (which === 'integration'),
  )
  .filter((f) => extra.length === 0 || extra.some((x) => f.includes(x)))
  .sort();
if (picked.length === 0) {
  console.error(`no ${which} tests found`);
  process.exit(1);
}
// Tests that load BPF programs or start containers must not run concurrently with each other.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...picked], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
