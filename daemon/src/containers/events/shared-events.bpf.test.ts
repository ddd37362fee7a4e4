// SharedState starts the runtime event sources whose socket or log exists on this host, after
// the on-disk sources, and stops them on close; KGADGET_RUNTIME_EVENTS=off and caller-chosen
// sources leave them out. Loads the container tracker: needs root and BPF.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';

import { SharedState } from '../../runtime/shared.js';

const skip = typeof process.getuid === 'function' && process.getuid() !== 0 ? 'needs root' : false;
const PODMAN_LOG = '/run/libpod/events/events.log';
const CONTAINERD_SOCK = '/run/containerd/containerd.sock';

describe('SharedState and the runtime event sources', { skip }, () => {
  test('started when present, closed with the state', () => {
    const warnings: string[] = [];
    const st = new SharedState(
      { pollMs: 0 },
      { runtimeExec: false, warn: (m) => warnings.push(m) },
    );
    try {
      const ev = st.runtimeEvents;
      assert.ok(ev);
      // podman installed: the source also waits for a log not written yet
      assert.equal(
        ev.podman !== undefined,
        existsSync(PODMAN_LOG) ||
          existsSync('/usr/bin/podman') ||
          existsSync('/usr/local/bin/podman'),
      );
      assert.equal(ev.containerd !== undefined, existsSync(CONTAINERD_SOCK));
      assert.deepEqual(warnings, [], 'a missing socket or log is silent');
      if (ev.podman) assert.equal(ev.stats().podman?.errors, 0);
    } finally {
      st.close();
    }
  });

  test('off with KGADGET_RUNTIME_EVENTS=off, and with caller-chosen sources', () => {
    process.env.KGADGET_RUNTIME_EVENTS = 'off';
    try {
      const st = new SharedState({ pollMs: 0 }, { runtimeExec: false });
      assert.equal(st.runtimeEvents, undefined);
      st.close();
    } finally {
      delete process.env.KGADGET_RUNTIME_EVENTS;
    }
    const st = new SharedState({ pollMs: 0, sources: [] }, { runtimeExec: false });
    assert.equal(st.runtimeEvents, undefined);
    st.close();
  });
});
