// SharedState's unshare hooks, held and released in quick succession (fuzzing found it: runs
// cancelled and started within the ~50 ms that the last holder's asynchronous detach takes
// made the next attach fail with EEXIST, as the kernel refuses a program attached twice to one
// tracepoint). Loads the container tracker: needs root and BPF.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { SharedState } from './shared.js';

const skip = typeof process.getuid === 'function' && process.getuid() !== 0 ? 'needs root' : false;

/** This process's perf-event tracepoints (bpftool perf), sorted. */
function tracepoints(): string[] {
  const all = JSON.parse(execFileSync('bpftool', ['perf', '-j'], { encoding: 'utf8' })) as {
    pid?: number;
    tracepoint?: string;
  }[];
  return all
    .filter((e) => e.pid === process.pid && e.tracepoint)
    .map((e) => e.tracepoint!)
    .sort();
}

const UNSHARE = ['sys_enter_unshare', 'sys_exit_unshare'];
const hooks = (): string[] => tracepoints().filter((t) => UNSHARE.includes(t));

async function until(what: string, ok: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${hooks().join(',')}`);
    await sleep(20);
  }
}

describe('namespace hooks held and released', { skip }, () => {
  test('retained again while the last release still detaches: no error, attached once', async () => {
    const warnings: string[] = [];
    const st = new SharedState(
      { pollMs: 0, sources: [] },
      { runtimeExec: false, warn: (m) => warnings.push(m) },
    );
    try {
      assert.deepEqual(hooks(), []);
      for (let i = 0; i < 20; i++) {
        const release = st.retainNamespaceHooks();
        release();
        release(); // idempotent
      }
      const held = st.retainNamespaceHooks();
      await until('the hooks attached', () => hooks().length === 2);
      await sleep(200);
      assert.deepEqual(hooks(), UNSHARE, 'each hook attached once');
      held();
      await until('the hooks detached', () => hooks().length === 0);
      assert.deepEqual(warnings, []);
    } finally {
      st.close();
    }
  });
});
