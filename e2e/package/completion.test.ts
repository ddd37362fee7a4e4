// Shell completion through real shells (issue 16 #3), with this checkout's CLI linked onto PATH as
// kubectl-gadget (as scripts/install-plugin.sh does):
// - bash: @oclif/plugin-autocomplete's script, registered (`complete -p`) and run the way bash
//   runs it (COMP_WORDS/COMP_CWORD, the registered function), and kubectl's own bash completion
//   (`kubectl completion bash`) completing `kubectl gadget ...` through kubectl_complete-gadget;
// - zsh: the plugin's script registers _kubectl-gadget with compinit; fish: `completion fish`;
// - kubectl's plugin completion (`kubectl __complete gadget ...`) against a REAL kube-apiserver
//   (scripts/k8s/up.sh, reused when one runs): namespaces, pods, containers and nodes the test
//   created, and nothing (exit 0) when the cluster is unreachable.
//
//   flock /tmp/kg-cluster.lock node scripts/run-tests.mjs integration package/completion

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI } from '../helpers/cli.js';
import { ensureCluster, type ClusterHandle } from '../k8s/harness-fake-kubelet.js';

const KUBECTL = existsSync('/usr/lib/google-cloud-sdk/bin/kubectl.1.33')
  ? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'
  : spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim() || undefined;
const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion';
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

type R = { status: number | null; stdout: string; stderr: string };
const ok = (r: R, what: string): string => {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
};

describe(
  'completion through real shells and kubectl',
  { skip: KUBECTL ? false : 'no kubectl' },
  () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kgtest-complete-'));
    const bin = join(tmp, 'bin');
    const home = join(tmp, 'home');
    const env: NodeJS.ProcessEnv = {
      HOME: home,
      XDG_CACHE_HOME: join(tmp, 'cache'),
      XDG_CONFIG_HOME: join(tmp, 'config'),
      XDG_DATA_HOME: join(tmp, 'data'),
      PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
    };
    const run = (cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): R =>
      spawnSync(cmd, args, { encoding: 'utf8', env: { ...env, ...extra }, timeout: 120_000 });

    /**
     * Completes LINE in bash as bash does on TAB: the function `complete -p WORD0` names, with
     * COMP_LINE/COMP_POINT/COMP_WORDS/COMP_CWORD set; prints COMPREPLY one per line (readline
     * shows duplicates once; the oclif script repeats a topic once per command under it).
     */
    const bashComplete = (setup: string, line: string, extra: NodeJS.ProcessEnv = {}): string[] => {
      const script = `${setup}
line=$1
read -r -a COMP_WORDS <<<"$line"
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
COMP_LINE=$line; COMP_POINT=\${#line}
spec=$(complete -p "\${COMP_WORDS[0]}") || exit 3
fn=$(sed -E 's/.* -F ([^ ]+) .*/\\1/' <<<"$spec")
"$fn" "\${COMP_WORDS[0]}" "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`;
      const r = run('bash', ['--norc', '--noprofile', '-c', script, 'bash', line], extra);
      return ok(r, `bash completion of "${line}"`)
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.trimEnd());
    };

    before(() => {
      mkdirSync(bin);
      mkdirSync(home);
      symlinkSync(CLI, join(bin, 'kubectl-gadget'));
      symlinkSync(KUBECTL!, join(bin, 'kubectl'));
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    test('bash: the autocomplete script registers kubectl-gadget; TAB completes verbs and flags', () => {
      const setup = ok(
        run('kubectl-gadget', ['autocomplete', 'script', 'bash']),
        'autocomplete script bash',
      );
      // builds the cache the script sources (what `kubectl-gadget autocomplete bash` tells users to do)
      ok(run('kubectl-gadget', ['autocomplete', 'bash']), 'autocomplete bash');
      const spec = ok(
        run('bash', ['--norc', '-c', `${setup}\ncomplete -p kubectl-gadget`]),
        'complete -p',
      );
      assert.equal(spec.trim(), 'complete -F _kubectl-gadget_autocomplete kubectl-gadget');
      assert.deepEqual(bashComplete(setup, 'kubectl-gadget trace ex'), ['exec']);
      assert.deepEqual([...new Set(bashComplete(setup, 'kubectl-gadget trac'))].sort(), [
        'trace',
        'traceloop',
      ]);
      assert.deepEqual(bashComplete(setup, 'kubectl-gadget trace exec --ignore'), [
        '--ignore-failed',
      ]);
      assert.deepEqual(bashComplete(setup, 'kubectl-gadget completion '), ['fish', 'install']);
    });

    test(
      'bash: kubectl completion bash completes kubectl gadget ... through kubectl_complete-gadget',
      { skip: existsSync(BASH_COMPLETION) ? false : 'no bash-completion' },
      () => {
        const install = run('kubectl-gadget', ['completion', 'install']);
        assert.equal(
          ok(install, 'completion install'),
          `${join(bin, 'kubectl_complete-gadget')}\n`,
        );
        // kubectl's bash completion needs the bash-completion package, as kubectl's docs say
        const setup = `source ${BASH_COMPLETION}\nsource <(kubectl completion bash)`;
        assert.deepEqual(bashComplete(setup, 'kubectl gadget trace ex'), ['exec']);
        assert.deepEqual(bashComplete(setup, 'kubectl gadget list-g'), ['list-gadgets']);
        assert.deepEqual(bashComplete(setup, 'kubectl gadget traceloop show --la'), ['--last']);
        // a second install replaces its own file; a user's own file is refused with one line
        ok(run('kubectl-gadget', ['completion', 'install']), 'completion install again');
        const own = join(tmp, 'own');
        mkdirSync(own);
        writeFileSync(join(own, 'kubectl_complete-gadget'), '#!/bin/sh\n', { mode: 0o755 });
        const refused = run('kubectl-gadget', ['completion', 'install', '--dir', own]);
        assert.equal(refused.status, 1);
        assert.match(
          refused.stderr,
          /kubectl_complete-gadget exists and was not written by completion install/,
        );
      },
    );

    test(
      'zsh: the autocomplete script registers _kubectl-gadget with compinit',
      { skip: has('zsh') ? false : 'no zsh' },
      () => {
        const setup = ok(
          run('kubectl-gadget', ['autocomplete', 'script', 'zsh']),
          'autocomplete script zsh',
        );
        ok(run('kubectl-gadget', ['autocomplete', 'zsh']), 'autocomplete zsh');
        const r = run('zsh', [
          '-f',
          '-c',
          `autoload -Uz compinit && compinit -u -D\n${setup}\nprint -r -- $_comps[kubectl-gadget]; whence -w _kubectl-gadget`,
        ]);
        assert.equal(ok(r, 'zsh'), '_kubectl-gadget\n_kubectl-gadget: function\n');
      },
    );

    test(
      'fish: completion fish completes verbs and flags',
      { skip: has('fish') ? false : 'no fish' },
      () => {
        const r = run('fish', [
          '--no-config',
          '-c',
          'kubectl-gadget completion fish | source; complete -C "kubectl-gadget trace ex"; complete -C "kubectl-gadget trace exec --ignore"',
        ]);
        assert.equal(
          ok(r, 'fish'),
          'exec\tTrace new processes: every execve/execveat, successful or failed\n--ignore-failed\tDrop failed execs (in the kernel)\n',
        );
      },
    );

    test('kubectl __complete with an unreachable cluster: no candidates, no file names, exit 0', () => {
      const kc = join(tmp, 'closed.kubeconfig');
      writeFileSync(
        kc,
        'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\n' +
          'users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
      );
      const r = run('kubectl', ['__complete', 'gadget', 'trace', 'exec', '-n', ''], {
        KUBECONFIG: kc,
      });
      assert.equal(ok(r, '__complete'), ':4\n');
      // contexts come from the kubeconfig alone
      const c = run('kubectl', ['__complete', 'gadget', 'trace', 'exec', '--context', ''], {
        KUBECONFIG: kc,
      });
      assert.equal(ok(c, '__complete --context'), 'x\n:4\n');
    });

    describe(
      'kubectl __complete against a real API server',
      { skip: process.getuid?.() === 0 ? false : 'starting a cluster needs root' },
      () => {
        let cluster: ClusterHandle | undefined;
        const id = randomBytes(3).toString('hex');
        const ns = `kgcomp-${id}`;
        const pod = `web-${id}`;
        const node = `kgcomp-node-${id}`;
        let kc: NodeJS.ProcessEnv = {};
        const kubectl = (args: string[], input?: string) =>
          spawnSync(KUBECTL!, args, {
            encoding: 'utf8',
            input,
            env: { ...env, ...kc },
            timeout: 60_000,
          });
        const complete = (...args: string[]) =>
          ok(run('kubectl', ['__complete', 'gadget', ...args], kc), `__complete ${args.join(' ')}`);

        before(
          async () => {
            cluster = ensureCluster((m) => process.stderr.write(`e2e/package/completion: ${m}\n`));
            kc = { KUBECONFIG: cluster.kubeconfig };
            ok(kubectl(['create', 'namespace', ns]), 'create namespace');
            ok(
              kubectl(
                ['create', '-f', '-'],
                JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: node } }),
              ),
              'create node',
            );
            const podSpec = JSON.stringify({
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: pod, namespace: ns },
              spec: {
                nodeName: node, // never scheduled: only its spec is listed
                initContainers: [{ name: 'init', image: 'localhost/none:0' }],
                containers: [
                  { name: 'app', image: 'localhost/none:0' },
                  { name: 'sidecar', image: 'localhost/none:0' },
                ],
              },
            });
            // the namespace's default ServiceAccount appears a moment after the namespace
            for (let i = 0; ; i++) {
              const r = kubectl(['create', '-f', '-'], podSpec);
              if (r.status === 0) break;
              if (i > 60 || !/serviceaccount/i.test(r.stderr)) ok(r, 'create pod');
              await new Promise((res) => setTimeout(res, 500));
            }
          },
          { timeout: 20 * 60_000 },
        );
        after(() => {
          kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
          kubectl(['delete', 'node', node, '--ignore-not-found']);
          cluster?.close();
        });

        test('namespaces, pods of -n, containers of -p, nodes', () => {
          assert.equal(complete('trace', 'exec', '-n', 'kgcomp-' + id), `${ns}\n:4\n`);
          assert.ok(complete('trace', 'exec', '-n', '').split('\n').includes('default'));
          assert.equal(complete('trace', 'exec', '-n', ns, '-p', ''), `${pod}\n:4\n`);
          assert.equal(
            complete('trace', 'open', '--namespace', ns, '-p', pod, '-c', ''),
            'app\ninit\nsidecar\n:4\n',
          );
          assert.equal(
            complete('trace', 'exec', `--namespace=${ns}`, '--containername', 's'),
            'sidecar\n:4\n',
          );
          assert.equal(complete('trace', 'exec', '--node', `kgcomp-node-${id}`), `${node}\n:4\n`);
          assert.equal(
            complete('traceloop', 'start', `--namespace=${ns}`, `--podname=w`),
            `--podname=${pod}\n:4\n`,
          );
          // the pod is in no other namespace: -A lists it from all
          assert.ok(complete('trace', 'exec', '-A', '-p', 'web-').split('\n').includes(pod));
        });
      },
    );
  },
);
