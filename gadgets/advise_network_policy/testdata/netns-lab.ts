// Test-only: network namespaces standing in for pods, on a bridge of their own. Everything it
// creates is named kgtest-<id>-... and removed by cleanup() (also on failure), and
// cleanupLeftovers() removes what a crashed run left behind. Traffic only ever goes between the
// namespaces created here and the bridge's own address (the "node").

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';

export const LAB_PREFIX = 'kgtest-';

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): void {
  try {
    run(cmd, args);
  } catch {
    // already gone
  }
}

export interface LabHost {
  name: string;
  /** `ip netns` name */
  netns: string;
  /** inode of the network namespace */
  inode: number;
  ip4: string;
  ip6: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class NetnsLab {
  readonly id: string;
  readonly bridge: string;
  readonly hosts = new Map<string, LabHost>();
  private readonly children = new Set<ChildProcess>();
  private readonly links: string[] = [];
  private seq = 0;

  /**
   * v4: a /24 prefix like "10.213.7" (the bridge is .1); v6: a /64 prefix like "fd7a:6b67:7"
   * (the bridge is ::1). Both must be unused on this machine.
   */
  constructor(
    readonly v4: string,
    readonly v6: string,
    id = `${process.pid % 100000}`,
  ) {
    this.id = id;
    this.bridge = `kgbr${id}`.slice(0, 15);
  }

  get nodeIp4(): string {
    return `${this.v4}.1`;
  }

  get nodeIp6(): string {
    return `${this.v6}::1`;
  }

  /** Fails when the subnet is already routed here (someone else's network). */
  checkFree(): void {
    const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
    if (routes.includes(`${this.v4}.`)) throw new Error(`${this.v4}.0/24 is already in use here`);
  }

  up(): void {
    this.checkFree();
    run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    this.links.push(this.bridge);
    run('ip', ['addr', 'add', `${this.nodeIp4}/24`, 'dev', this.bridge]);
    run('ip', ['-6', 'addr', 'add', `${this.nodeIp6}/64`, 'dev', this.bridge, 'nodad']);
    run('ip', ['link', 'set', this.bridge, 'up']);
  }

  /** A namespace on the bridge with <v4>.<octet> and <v6>::<octet hex>. */
  add(name: string, octet: number, extraRoutes: string[] = []): LabHost {
    const netns = `${LAB_PREFIX}${this.id}-${name}`;
    const n = ++this.seq;
    const hostEnd = `kgv${this.id}h${n}`.slice(0, 15);
    const nsEnd = `kgv${this.id}n${n}`.slice(0, 15);
    run('ip', ['netns', 'add', netns]);
    const host: LabHost = {
      name,
      netns,
      inode: statSync(`/run/netns/${netns}`).ino,
      ip4: `${this.v4}.${octet}`,
      ip6: `${this.v6}::${octet.toString(16)}`,
    };
    this.hosts.set(name, host);
    run('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd]);
    this.links.push(hostEnd);
    run('ip', ['link', 'set', hostEnd, 'master', this.bridge]);
    run('ip', ['link', 'set', hostEnd, 'up']);
    run('ip', ['link', 'set', nsEnd, 'netns', netns]);
    const nsRun = (...args: string[]): void => run('ip', ['netns', 'exec', netns, ...args]);
    nsRun('ip', 'link', 'set', nsEnd, 'name', 'eth0');
    nsRun('ip', 'addr', 'add', `${host.ip4}/24`, 'dev', 'eth0');
    nsRun('ip', '-6', 'addr', 'add', `${host.ip6}/64`, 'dev', 'eth0', 'nodad');
    nsRun('ip', 'link', 'set', 'lo', 'up');
    nsRun('ip', 'link', 'set', 'eth0', 'up');
    for (const r of extraRoutes) nsRun('ip', 'route', 'add', r, 'dev', 'eth0');
    return host;
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  /** Runs a command in a namespace (or on the node with ns = null) and waits for it. */
  exec(ns: string | null, cmd: string[], timeoutMs = 15_000, input?: string): Promise<ExecResult> {
    const [file, ...args] =
      ns === null ? cmd : ['ip', 'netns', 'exec', this.host(ns).netns, ...cmd];
    return new Promise((resolve) => {
      const child = execFile(
        file!,
        args,
        { timeout: timeoutMs, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
      else child.stdin?.end();
    });
  }

  /** Starts a long-running process in a namespace; stopped by cleanup(). */
  spawn(ns: string, cmd: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(ns).netns, ...cmd], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Resolves once `text` appeared on the process's stdout or stderr. */
  static waitOutput(child: ChildProcess, text: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      let seen = '';
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for "${text}" (got: ${seen})`)),
        timeoutMs,
      );
      const on = (d: Buffer): void => {
        seen += d.toString();
        if (seen.includes(text)) {
          clearTimeout(t);
          resolve();
        }
      };
      child.stdout?.on('data', on);
      child.stderr?.on('data', on);
      child.on('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`exited (${code}) before "${text}": ${seen}`));
      });
    });
  }

  /** Stops the processes (by their pid), deletes the namespaces and links. Idempotent. */
  async cleanup(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.pid) {
        // ip netns exec execs the command: the pid is the server itself
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    this.children.clear();
    for (const h of this.hosts.values()) tryRun('ip', ['netns', 'delete', h.netns]);
    this.hosts.clear();
    for (const l of this.links.reverse()) tryRun('ip', ['link', 'delete', l]);
    this.links.length = 0;
  }
}

/** Removes namespaces and links named kgtest-... / kgbr... / kgv... left by crashed runs of `id`. */
export function cleanupLeftovers(id?: string): void {
  const tag = id ?? '';
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    names = [];
  }
  for (const n of names)
    if (n.startsWith(`${LAB_PREFIX}${tag}`)) tryRun('ip', ['netns', 'delete', n]);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && (n.startsWith(`kgbr${tag}`) || n.startsWith(`kgv${tag}`)));
  for (const l of links) tryRun('ip', ['link', 'delete', l]);
}
