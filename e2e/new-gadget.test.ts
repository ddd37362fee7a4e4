// "Adding a stream gadget touches only its folder": a copy of the tree (the files git does not
// ignore, committed to a fresh repository) gets the fixture gadget e2e/fixtures/stream_gadget/
// trace_exit_fixture/ in gadgets/, then the normal build (scripts/build.sh). The copy's CLI must
// then have the gadget's command and list-gadgets entry, and run it with --local, reporting the
// exit of a process this test starts; `git status` there shows only the new folder (build
// outputs are ignored). No search path is overridden: the copy finds the gadget where any gadget is.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { GadgetDescriptor } from '../gadgets/framework/types.js';
import { ROOT, sleep } from './helpers/cli.js';
import type { Ev } from './helpers/cli.js';
import { assertFields, assertKeys, assertTimestamp, eventKeys } from './helpers/events.js';

const FIXTURE = join(ROOT, 'e2e', 'fixtures', 'stream_gadget', 'trace_exit_fixture');
const NAME = 'trace_exit_fixture';
const isRoot = process.getuid?.() === 0;

function run(cwd: string, cmd: string, args: string[], timeout = 60_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(' ')} in ${cwd}: ${r.error ?? ''}\n${r.stdout}\n${r.stderr}`,
  );
  return r.stdout;
}

/** The work tree's files that git does not ignore (tracked, and new ones), into `dest`. */
function copyTree(dest: string): void {
  const files = run(ROOT, 'git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    const from = join(ROOT, f);
    if (!existsSync(from)) continue; // deleted in the work tree, not yet committed
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    if (lstatSync(from).isSymbolicLink()) symlinkSync(readlinkSync(from), join(dest, f));
    else copyFileSync(from, join(dest, f));
  }
}

describe('a new stream gadget is just a folder', { skip: !isRoot && 'needs root' }, () => {
  let copy = '';
  let cli = '';

  before(() => {
    copy = mkdtempSync(join(tmpdir(), 'kg-new-gadget-'));
    copyTree(copy);
    // the dependencies, shared (not a build output: kept out of this copy's git status locally)
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    const git = (...args: string[]) =>
      run(copy, 'git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args]);
    git('init', '-q');
    git('config', 'core.excludesFile', '/dev/null');
    run(copy, 'sh', ['-c', 'echo /node_modules >> .git/info/exclude']);
    git('add', '-A');
    git('commit', '-q', '-m', 'the tree');
    assert.equal(git('status', '--porcelain'), '');

    cpSync(FIXTURE, join(copy, 'gadgets', NAME), { recursive: true });
    run(copy, 'bash', ['scripts/build.sh'], 300_000);
    cli = join(copy, 'bin', 'run.js');
  });

  after(() => {
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  const kg = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });

  test('git status of the copy shows only the new folder', () => {
    assert.equal(run(copy, 'git', ['status', '--porcelain']), `?? gadgets/${NAME}/\n`);
  });

  test('the CLI has its command, with the help of its descriptor', () => {
    const topic = kg('trace', '--help');
    assert.equal(topic.status, 0, topic.stderr);
    assert.match(
      topic.stdout,
      /\n {2}trace exit-fixture +Trace process exits \(a test fixture\)\n/,
    );
    const help = kg('trace', 'exit-fixture', '--help');
    assert.equal(help.status, 0, help.stderr);
    assert.ok(help.stdout.startsWith('Trace process exits (a test fixture)\n'), help.stdout);
    assert.match(
      help.stdout,
      /\n {2}\$ kubectl gadget trace exit-fixture --local --timeout 2 -o json\n/,
    );
  });

  test('list-gadgets lists it', () => {
    const cols = kg('list-gadgets');
    assert.equal(cols.status, 0, cols.stderr);
    assert.match(cols.stdout, /\ntrace exit-fixture +Trace process exits \(a test fixture\)\n/);
    const json = kg('list-gadgets', '-o', 'json');
    assert.equal(json.status, 0, json.stderr);
    const list = JSON.parse(json.stdout) as Array<{ name: string }>;
    assert.deepEqual(
      list.map((g) => g.name).filter((n) => n.startsWith('trace_')),
      ['trace_exec', NAME, 'trace_open'],
    );
  });

  test('it runs with --local and reports the exit of a process started here', async () => {
    const { descriptor } = (await import(
      pathToFileURL(join(copy, 'dist', 'gadgets', NAME, 'gadget.js')).href
    )) as { descriptor: GadgetDescriptor };
    const hostMntns = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/mnt'))![1]);
    const child: ChildProcess = spawn(
      process.execPath,
      [cli, 'trace', 'exit-fixture', '--local', '--host', '--timeout', '5', '-o', 'json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const events = (): Ev[] =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Ev);
    // `sh -c 'exit N'`: exits with N; returns its pid once it has exited
    const exitWith = (code: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const p = spawn('sh', ['-c', `exit ${code}`], { stdio: 'ignore' });
        p.on('error', reject);
        p.on('exit', () => resolve(p.pid!));
      });

    // attached once the exit of a marker process shows up
    const deadline = Date.now() + 4000;
    let attached = false;
    while (!attached && Date.now() < deadline) {
      const pid = await exitWith(3);
      await sleep(100);
      attached = events().some((e) => e.pid === pid);
    }
    assert.ok(attached, `no event for a marker exit before the deadline; stderr:\n${stderr}`);

    const from = Date.now();
    const pid = await exitWith(7);
    const to = Date.now();
    assert.equal(await exited, 0, stderr);
    const mine = events().filter((e) => e.pid === pid);
    assert.equal(mine.length, 1, stdout);
    const e = mine[0]!;
    assertKeys(e, eventKeys(descriptor));
    assertTimestamp(e, from, to);
    assertFields(e, {
      pid,
      tid: pid,
      comm: 'sh',
      status: 7,
      uid: 0,
      gid: 0,
      mntns_id: hostMntns,
      container: '',
      container_id: '',
    });
  });
});
