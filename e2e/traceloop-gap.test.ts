// traceloop while no daemon runs: a real daemon (its own bpffs pin directory), the real CLI with
// --remote, real podman containers, bpftool.
// The daemons run with the gadget pod's capabilities (CAP_BPF, CAP_PERFMON, ...; no
// CAP_SYS_ADMIN, so BPF objects cannot be opened by id), as after a DaemonSet upgrade.
//   - `traceloop start` pins one link per program next to the maps (tl_link_<program>);
//   - kill -9 of the daemon leaves those programs attached, and a container that runs and exits
//     while no daemon runs is recorded: its marker syscall and its exit status, with exact
//     values and timestamps inside the gap;
//   - the next daemon adopts the running programs (the same link and program ids, no second
//     copy: every syscall recorded once), and recording goes on;
//   - `traceloop delete` leaves no tl_* program, link or map, and no pin directory.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CAPABILITIES, EXEC_WATCH_ENV } from '../plugin/src/services/deploy/manifests.js';
import type { Cli } from './helpers/cli.js';
import { TestDaemon } from './helpers/daemon.js';
import {
  bpftoolAvailable,
  emptyIds,
  fmt,
  heldBy,
  KINDS,
  liveObjects,
  pinnedIds,
  waitReleased,
  type BpfIds,
} from './helpers/bpf.js';
import {
  ensureRootfs,
  podmanSkip,
  removeContainer,
  runContainer,
  uniqueName,
  waitFor,
} from './fixtures/podman.js';

const skip = podmanSkip() || (!bpftoolAvailable() && 'needs bpftool');

type Ev = Record<string, unknown>;

const PROGRAMS = ['tl_exit', 'tl_signal', 'tl_switch', 'tl_sys_enter', 'tl_sys_exit'];
const CAP_SYS_ADMIN = 21;

/**
 * A command prefix that runs the daemon with the gadget pod's capabilities only (capsh drops the
 * others from the bounding set: a root exec then has just those); undefined without capsh.
 */
function podCapabilities(): string[] | undefined {
  let print: string;
  try {
    print = execFileSync('capsh', ['--print'], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
  const keep = new Set(CAPABILITIES.map((c) => `cap_${c.toLowerCase()}`));
  const all = /^Bounding set =(.*)$/m.exec(print)?.[1]?.split(',') ?? [];
  const drop = all.filter((c) => c && !keep.has(c));
  return ['capsh', `--drop=${drop.join(',')}`, '--', '-c', 'exec "$@"', 'capsh'];
}

function effectiveCaps(pid: number): bigint {
  const m = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return BigInt(`0x${m?.[1] ?? '0'}`);
}

function bpftoolPinned<T>(kind: 'link' | 'map', path: string): T {
  return JSON.parse(
    execFileSync('bpftool', ['-j', kind, 'show', 'pinned', path], { encoding: 'utf8' }),
  ) as T;
}

/** What the pins of a session hold: the links, their programs, and every map those use. */
interface Pinned {
  links: Map<string, { id: number; progId: number }>;
  slotsMapId: number;
  ids: BpfIds;
  /** slotWriters() while the first daemon ran */
  writers: string[];
}

function readPins(pinDir: string): Pinned {
  const links = new Map<string, { id: number; progId: number }>();
  const ids = emptyIds();
  for (const f of readdirSync(pinDir).filter((f) => f.startsWith('tl_link_'))) {
    const l = bpftoolPinned<{ id: number; prog_id: number }>('link', join(pinDir, f));
    links.set(f.slice('tl_link_'.length), { id: l.id, progId: l.prog_id });
    ids.link.add(l.id);
    ids.prog.add(l.prog_id);
  }
  for (const f of readdirSync(pinDir).filter((f) => !f.startsWith('tl_link_'))) {
    const m = bpftoolPinned<{ id: number; name: string }>('map', join(pinDir, f));
    // tl_alias: the container tracker's map, which the next daemon's tracker takes over
    if (m.name.startsWith('tl_')) ids.map.add(m.id);
  }
  // and the programs' own maps (tl_cpus, tl_pend, .rodata, ...); not the container tracker's
  // alias map, which the next daemon's tracker takes over
  const names = new Map(liveObjects().maps.map((m) => [m.id, m.name ?? '']));
  for (const p of liveObjects().progs) {
    if (!ids.prog.has(p.id)) continue;
    for (const m of p.map_ids ?? []) if (!names.get(m)?.startsWith('gadget_')) ids.map.add(m);
  }
  const slotsMapId = bpftoolPinned<{ id: number }>('map', join(pinDir, 'tl_slots')).id;
  return { links, slotsMapId, ids, writers: [] };
}

/**
 * traceloop's objects (tl_* programs and maps, links to tl_* programs) that nothing but `pid`
 * or nobody accounts for: not pinned anywhere, not held by another process (the gadget pod of
 * a cluster on this machine may record with its own pins and fds).
 */
function traceloopObjectsOf(pid: number): BpfIds {
  const o = liveObjects();
  const others = pinnedIds();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === pid) continue;
    const h = heldBy(Number(p));
    for (const k of KINDS) for (const v of h[k]) others[k].add(v);
  }
  for (const l of o.links) if (others.link.has(l.id) && l.prog_id) others.prog.add(l.prog_id);
  for (const p of o.progs) {
    if (others.prog.has(p.id)) for (const m of p.map_ids ?? []) others.map.add(m);
  }
  const tlProgs = new Set(o.progs.filter((p) => p.name?.startsWith('tl_')).map((p) => p.id));
  const out = emptyIds();
  for (const id of tlProgs) if (!others.prog.has(id)) out.prog.add(id);
  for (const l of o.links) {
    if (l.prog_id && tlProgs.has(l.prog_id) && !others.link.has(l.id)) out.link.add(l.id);
  }
  for (const m of o.maps) {
    if (m.name?.startsWith('tl_') && !others.map.has(m.id)) out.map.add(m.id);
  }
  return out;
}

describe('traceloop while no daemon runs', { skip, concurrency: 1 }, () => {
  const names: string[] = [];
  let td: TestDaemon | undefined;
  let pinDir: string;
  let daemon: Cli | undefined;
  let pinned: Pinned;
  const wrapper = podCapabilities();

  const startDaemon = async (): Promise<Cli> => {
    const d = await td!.start();
    if (wrapper) {
      assert.equal((effectiveCaps(d.pid) >> BigInt(CAP_SYS_ADMIN)) & 1n, 0n, 'no CAP_SYS_ADMIN');
    }
    return d;
  };
  const ok = (args: string[]) => td!.ok(args);
  /** "<id> <name>" of every program that records into the pinned tl_slots, by name. */
  const slotWriters = (): string[] =>
    liveObjects()
      .progs.filter((p) => p.map_ids?.includes(pinned.slotsMapId))
      .map((p) => `${p.id} ${p.name}`)
      .sort((a, b) => a.split(' ')[1]!.localeCompare(b.split(' ')[1]!));
  const show = (name: string): Promise<Ev[]> => td!.ndjson(['traceloop', 'show', name]);
  /** A container that opens `marker` (cat: ENOENT) and exits with `code`. */
  const runMarked = async (marker: string, code: number): Promise<string> => {
    const name = uniqueName('tl-gap');
    names.push(name);
    const r = await runContainer(name, ['/bin/sh', '-c', `cat ${marker}; exit ${code}`]);
    assert.equal(r.code, code, r.stderr);
    return name;
  };
  /** The recording once it ends with the container's exit; the marker's openat, exactly once. */
  const recorded = async (name: string, marker: string): Promise<{ open: Ev; exit: Ev }> => {
    const events = await waitFor(async () => {
      const ev = await show(name).catch(() => undefined);
      return ev?.at(-1)?.kind === 'exit' && ev.at(-1)!.comm === 'sh' ? ev : undefined;
    }, 15_000);
    const opens = events.filter((e) => e.syscall === 'openat' && String(e.params).includes(marker));
    assert.equal(opens.length, 1, `the marker recorded once: ${JSON.stringify(opens)}`);
    const seen = new Set<string>();
    for (const e of events) {
      const k = `${String(e.timestamp)} ${String(e.tid)} ${String(e.kind)} ${String(e.syscall)}`;
      assert.ok(!seen.has(k), `recorded twice: ${JSON.stringify(e)}`);
      seen.add(k);
    }
    return { open: opens[0]!, exit: events.at(-1)! };
  };
  const assertMarker = (open: Ev, marker: string): void => {
    const { timestamp: _t, cpu: _c, pid: _p, tid: _tid, ...rest } = open;
    assert.deepEqual(rest, {
      kind: 'syscall',
      comm: 'cat',
      syscall: 'openat',
      params: `AT_FDCWD, "${marker}", O_RDONLY`,
      ret: -2,
      error: 'ENOENT',
    });
  };
  const assertExit = (exit: Ev, code: number): void => {
    const { timestamp: _t, cpu: _c, pid: _p, tid: _tid, ...rest } = exit;
    assert.deepEqual(rest, {
      kind: 'exit',
      comm: 'sh',
      syscall: 'exit',
      params: `exited with ${code}`,
      ret: code,
      error: '',
    });
  };

  before(async () => {
    ensureRootfs();
    // the pod's capabilities without SYS_ADMIN: `deploy --no-sys-admin`, which turns the exec
    // watch off (its env) rather than have the daemon warn that fanotify is not permitted
    td = new TestDaemon('tlgap', { wrapper, env: wrapper ? { [EXEC_WATCH_ENV]: 'off' } : {} });
    pinDir = td.pinDir;
    daemon = await startDaemon();
  });

  after(async () => {
    // a daemon to delete the recordings with (a test may end with it killed)
    if (td && !td.running) await startDaemon().catch(() => undefined);
    await td?.cleanup();
    for (const n of names) await removeContainer(n);
  });

  test('start pins one link per program next to the maps', async (t) => {
    if (!wrapper) t.diagnostic('no capsh: the daemons run with every capability');
    await ok(['traceloop', 'start']);
    assert.equal(
      bpftoolPinned<{ name: string }>('map', join(pinDir, 'tl_alias')).name,
      'gadget_mntns_al',
      "the tracker's alias map the programs use",
    );
    pinned = readPins(pinDir);
    assert.deepEqual([...pinned.links.keys()].sort(), PROGRAMS);
    const progs = new Map(liveObjects().progs.map((p) => [p.id, p]));
    for (const [name, l] of pinned.links) {
      assert.equal(progs.get(l.progId)?.name, name, `link ${l.id} holds ${name}`);
    }
    assert.ok(pinned.ids.map.has(pinned.slotsMapId));
    pinned.writers = slotWriters();
    assert.deepEqual(
      pinned.writers.map((w) => w.split(' ')[1]),
      ['tl_exit', 'tl_signal', 'tl_sys_enter', 'tl_sys_exit'],
    );
  });

  test('kill -9 of the daemon: a container that runs meanwhile is recorded, and the next daemon adopts the programs', async () => {
    const x = await daemon!.kill9();
    assert.equal(x.signal, 'SIGKILL');
    const gapFrom = Date.now();
    // nothing holds the programs but the pins: still attached
    const live = liveObjects();
    for (const l of pinned.links.values()) {
      assert.ok(
        live.links.some((k) => k.id === l.id && k.prog_id === l.progId),
        `link ${l.id} still attached`,
      );
    }
    const marker = `/tmp/kgtest-tlgap-${process.pid}-while-no-daemon`;
    const name = await runMarked(marker, 42);
    const gapTo = Date.now();

    daemon = await startDaemon();
    // adopted: the very same links and programs, held by the new daemon, and no second copy
    const now = readPins(pinDir);
    assert.deepEqual([...now.links.entries()].sort(), [...pinned.links.entries()].sort());
    const held = heldBy(daemon.pid);
    for (const l of pinned.links.values()) assert.ok(held.link.has(l.id), `holds link ${l.id}`);
    assert.doesNotMatch(daemon.stderr, /not adopted|cannot resume|warn/);
    // its container tracker fills the alias map the adopted programs use
    const alias = bpftoolPinned<{ id: number }>('map', join(pinDir, 'tl_alias')).id;
    assert.ok(held.map.has(alias), `the tracker of the new daemon uses map ${alias}`);
    const writers = slotWriters();
    assert.deepEqual(writers, pinned.writers, 'the programs recording into the pinned tl_slots');

    const { open, exit } = await recorded(name, marker);
    assertMarker(open, marker);
    assertExit(exit, 42);
    for (const e of [open, exit]) {
      const t = Date.parse(String(e.timestamp));
      assert.ok(
        t >= gapFrom - 5 && t <= gapTo + 5,
        `${String(e.syscall)} at ${String(e.timestamp)}: inside the gap ${new Date(gapFrom).toISOString()}..${new Date(gapTo).toISOString()}`,
      );
    }
    const entry = (await td!.json(['traceloop', 'list'])).find(
      (e) => (e.container as Ev).name === name,
    );
    assert.equal(entry?.status, 'container-exited', JSON.stringify(entry));
    assert.equal((entry!.container as Ev).state, 'exited');
  });

  test('after the adoption, recording goes on: every syscall once', async () => {
    const marker = `/tmp/kgtest-tlgap-${process.pid}-after-adoption`;
    const name = await runMarked(marker, 3);
    const { open, exit } = await recorded(name, marker);
    assertMarker(open, marker);
    assertExit(exit, 3);
  });

  test('links that do not match (an older daemon, a partial set): the next daemon loads the program again, never two copies', async () => {
    const x = await daemon!.kill9();
    assert.equal(x.signal, 'SIGKILL');
    // one link pin gone: only the pin held that link, so tl_switch is detached now
    unlinkSync(join(pinDir, 'tl_link_tl_switch'));
    daemon = await startDaemon();
    assert.match(
      daemon.stderr,
      /warn: traceloop: the programs pinned in \S+ are not adopted \(links for tl_exit, tl_signal, tl_sys_enter, tl_sys_exit; the program has tl_exit, tl_signal, tl_switch, tl_sys_enter, tl_sys_exit\): loading the program again/,
    );
    const again = readPins(pinDir);
    assert.deepEqual([...again.links.keys()].sort(), PROGRAMS, 'every link pinned again');
    for (const l of again.links.values()) {
      assert.ok(![...pinned.ids.link].includes(l.id), `link ${l.id} is a new one`);
      assert.ok(!pinned.ids.prog.has(l.progId), `program ${l.progId} is a new one`);
    }
    // the stale links were removed before the new copy attached: their programs are gone
    const stale = emptyIds();
    for (const id of pinned.ids.prog) stale.prog.add(id);
    for (const id of pinned.ids.link) stale.link.add(id);
    await waitReleased(stale, 10_000, 'the programs of the links not adopted');
    const writers = slotWriters();
    assert.deepEqual(
      writers.map((w) => w.split(' ')[1]),
      pinned.writers.map((w) => w.split(' ')[1]),
    );
    assert.notDeepEqual(writers, pinned.writers);
    // the recordings are still there, and recording goes on, once per syscall
    const gap = names[0]!;
    const { exit } = await recorded(gap, `/tmp/kgtest-tlgap-${process.pid}-while-no-daemon`);
    assertExit(exit, 42);
    const marker = `/tmp/kgtest-tlgap-${process.pid}-after-reload`;
    const name = await runMarked(marker, 5);
    const { open, exit: exit5 } = await recorded(name, marker);
    assertMarker(open, marker);
    assertExit(exit5, 5);
    for (const k of KINDS) for (const id of again.ids[k]) pinned.ids[k].add(id);
  });

  test('delete: no tl_* program, link or map is left, and the pin directory is gone', async () => {
    await ok(['traceloop', 'delete']);
    assert.equal(existsSync(pinDir), false, `${pinDir} removed`);
    await waitReleased(pinned.ids, 10_000, 'the programs, links and maps of the session');
    let left = traceloopObjectsOf(daemon!.pid);
    for (let i = 0; i < 50 && KINDS.some((k) => left[k].size); i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = traceloopObjectsOf(daemon!.pid);
    }
    assert.equal(fmt(left), '', 'traceloop objects left');
  });
});
