// How the CLI reaches the gadget daemon of each node: through the API server's pods/portforward.
//
//   CLI (grpc-js) --unix socket--> bridge --WebSocket pods/portforward--> API server --> kubelet
//     --> the gadget pod's netns --> 127.0.0.1:DAEMON_PORT (the daemon)
//
// grpc-js cannot speak over a WebSocket, so for each gadget pod the bridge listens on a unix
// socket in a private directory (mkdtemp, mode 0700: only this user can connect; no loopback
// port that every local user could reach) and grpc-js dials unix://that-socket. Each accepted
// connection opens its own port-forward WebSocket (@kubernetes/client-node PortForward) and bytes
// are piped both ways; when either side closes, so does the other. grpc-js keeps one connection
// per node, with keepalive pings that travel through the tunnel, so a dead tunnel is noticed.
//
// The tunnel's own failures (port-forward refused, kubelet unreachable, nothing listening in the
// pod) are kept per pod and explain the gRPC error the CLI prints (lastError()).
//
// Test seam, for clusters without a kubelet (no port-forward possible): with
// KGADGET_FAKE_KUBELET_ENDPOINTS=<file> (JSON {"nodes": {"<node>": "unix:///... | tcp://..."}})
// the CLI still finds the gadget pods through the API server, but dials the address that the
// e2e harness standing in for the kubelet (e2e/k8s/harness-fake-kubelet.ts) names for each node.

import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable, type Duplex } from 'node:stream';
import type { KubeConfig, PortForward } from '@kubernetes/client-node';

/** The WebSocket side of PortForward (its third constructor argument). */
export type WebSocketInterface = NonNullable<ConstructorParameters<typeof PortForward>[2]>;
import { UserError } from '../../errors.js';
import { DAEMON_PORT } from './constants.js';

export const FAKE_KUBELET_ENV = 'KGADGET_FAKE_KUBELET_ENDPOINTS';

/** A gadget pod the CLI connects to. */
export interface GadgetPod {
  name: string;
  namespace: string;
  node: string;
  phase: string;
  ready: boolean;
}

export interface PodConnection {
  /** the daemon address to dial, e.g. unix:///tmp/kgadget-AbC123/0.sock */
  address: string;
  /** what the tunnel last failed with (one line), if it failed */
  lastError(): string | undefined;
}

export interface GadgetTransport {
  readonly kind: 'port-forward' | 'fake-kubelet';
  connect(pod: GadgetPod): Promise<PodConnection>;
  close(): Promise<void>;
}

/**
 * Opens one tunnel to `port` of `pod` carrying the bytes of `socket` (both directions). Resolves
 * once the tunnel is up; `onError` gets later failures (one line each). Injectable for tests.
 */
export type Forwarder = (
  pod: GadgetPod,
  port: number,
  socket: Duplex,
  onError: (message: string) => void,
) => Promise<{ close(): void }>;

interface Bridge {
  server: Server;
  sockets: Set<Socket>;
  tunnels: Set<{ close(): void }>;
  error?: string;
}

/** Unix-socket listeners bridged to the pods through a Forwarder. */
export class BridgeTransport implements GadgetTransport {
  readonly kind = 'port-forward' as const;
  private dir: string | undefined;
  private dirPromise: Promise<string> | undefined;
  private readonly bridges: Bridge[] = [];
  private closed = false;

  constructor(
    private readonly forward: Forwarder,
    private readonly port: number = DAEMON_PORT,
  ) {}

  /** the private directory holding the sockets (created on first connect) */
  get directory(): string | undefined {
    return this.dir;
  }

  private async privateDir(): Promise<string> {
    this.dirPromise ??= (async () => {
      const d = await mkdtemp(join(tmpdir(), 'kgadget-'));
      await chmod(d, 0o700);
      this.dir = d;
      return d;
    })();
    return this.dirPromise;
  }

  async connect(pod: GadgetPod): Promise<PodConnection> {
    if (this.closed) throw new Error('transport closed');
    const dir = await this.privateDir();
    const path = join(dir, `${this.bridges.length}.sock`);
    const bridge: Bridge = { server: createServer(), sockets: new Set(), tunnels: new Set() };
    this.bridges.push(bridge);
    bridge.server.on('connection', (socket: Socket) => {
      bridge.sockets.add(socket);
      socket.on('close', () => bridge.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      if (this.closed) {
        socket.destroy();
        return;
      }
      // bytes that arrive before the tunnel is up wait in the socket (not flowing yet)
      socket.pause();
      let failed = false;
      const fail = (m: string): void => {
        failed = true;
        bridge.error = m;
      };
      this.forward(pod, this.port, socket, fail).then(
        (tunnel) => {
          if (this.closed || socket.destroyed) {
            tunnel.close();
            return;
          }
          // a tunnel that works clears what an earlier one failed with
          if (!failed) bridge.error = undefined;
          bridge.tunnels.add(tunnel);
          socket.on('close', () => {
            bridge.tunnels.delete(tunnel);
            tunnel.close();
          });
          socket.resume();
        },
        (e: unknown) => {
          fail(e instanceof Error ? e.message : String(e));
          socket.destroy();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      bridge.server.once('error', reject);
      bridge.server.listen(path, () => {
        bridge.server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600).catch(() => undefined);
    return { address: `unix://${path}`, lastError: () => bridge.error };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const b of this.bridges) {
      for (const t of b.tunnels) t.close();
      for (const s of b.sockets) s.destroy();
      await new Promise<void>((r) => b.server.close(() => r()));
    }
    if (this.dirPromise) {
      const d = await this.dirPromise.catch(() => undefined);
      if (d) await rm(d, { recursive: true, force: true });
    }
  }
}

/** One line of what a port-forward WebSocket failure says. */
function wsErrorText(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { message?: unknown; error?: unknown };
    if (typeof o.message === 'string' && o.message) return o.message;
    if (o.error instanceof Error) return o.error.message;
  }
  return String(e);
}

/**
 * The real Forwarder: @kubernetes/client-node PortForward (WebSocket to pods/portforward).
 * A refused upgrade is explained: 403 names the permission (checked with a
 * SelfSubjectAccessReview), other statuses say what the API server answered.
 */
export function portForwarder(
  kc: KubeConfig,
  k8s: typeof import('@kubernetes/client-node'),
  /** the WebSocket side (tests: a stand-in for API server and kubelet) */
  handler?: WebSocketInterface,
): Forwarder {
  const pf = new k8s.PortForward(kc, true, handler);
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  /** Whether the user may `verb pods/portforward` (undefined: could not ask). */
  const may = async (namespace: string, verb: 'get' | 'create'): Promise<boolean | undefined> => {
    try {
      const r = await authz.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: { namespace, verb, resource: 'pods', subresource: 'portforward' },
          },
        },
      });
      return r.status?.allowed ?? false;
    } catch {
      return undefined;
    }
  };
  // A WebSocket port-forward is a GET: Kubernetes 1.34 authorizes it as `get pods/portforward`;
  // servers that also check the upgrade (AuthorizePodWebsocketUpgradeCreatePermission) want
  // `create` too. Name the verb the user lacks.
  const missingVerbs = async (namespace: string): Promise<string[]> => {
    const [get, create] = await Promise.all([may(namespace, 'get'), may(namespace, 'create')]);
    const out: string[] = [];
    if (get === false) out.push('get');
    if (create === false) out.push('create');
    return out;
  };
  return async (pod, port, socket, onError) => {
    let errText = '';
    const errStream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        // the kubelet's error channel: e.g. "... dial tcp4 127.0.0.1:8477: connect: connection refused"
        errText += chunk.toString('utf8');
        const line = errText.trim().split('\n').pop() ?? '';
        if (line) onError(`port-forward to pod ${pod.namespace}/${pod.name}: ${line}`);
        cb();
      },
    });
    let ws: { on(event: string, cb: (e?: unknown) => void): unknown; close(): void };
    try {
      const r = await pf.portForward(pod.namespace, pod.name, [port], socket, errStream, socket);
      if (typeof r === 'function') throw new Error('unexpected restartable port-forward');
      ws = r;
    } catch (e) {
      const text = wsErrorText(e);
      const status = /Unexpected server response: (\d+)/.exec(text)?.[1];
      if (status === '403') {
        const verbs = await missingVerbs(pod.namespace);
        if (verbs.length > 0) {
          throw new Error(
            `permission denied: you cannot ${verbs.join(' and ')} pods/portforward in namespace "${pod.namespace}" (needed to reach the gadget pods; check with: kubectl auth can-i ${verbs[0]} pods --subresource=portforward -n ${pod.namespace})`,
          );
        }
        throw new Error(`port-forward to pod ${pod.namespace}/${pod.name} refused (HTTP 403)`);
      }
      if (status === '404') {
        throw new Error(
          `port-forward to pod ${pod.namespace}/${pod.name}: not found (HTTP 404: the pod, or node "${pod.node}", is gone)`,
        );
      }
      if (status) {
        throw new Error(
          `port-forward to pod ${pod.namespace}/${pod.name} failed: the API server answered HTTP ${status} (is the kubelet of node "${pod.node}" reachable from the API server?)`,
        );
      }
      throw new Error(`port-forward to pod ${pod.namespace}/${pod.name} failed: ${text}`);
    }
    ws.on('close', () => {
      if (!socket.destroyed) socket.destroy();
    });
    ws.on('error', (e: unknown) => {
      onError(`port-forward to pod ${pod.namespace}/${pod.name}: ${wsErrorText(e)}`);
      if (!socket.destroyed) socket.destroy();
    });
    return {
      close: () => {
        try {
          ws.close();
        } catch {
          // already closed
        }
      },
    };
  };
}

/** Dials the daemon addresses the fake-kubelet harness names (see FAKE_KUBELET_ENV). */
export class FakeKubeletTransport implements GadgetTransport {
  readonly kind = 'fake-kubelet' as const;
  constructor(private readonly endpoints: Record<string, string>) {}

  static async fromFile(path: string): Promise<FakeKubeletTransport> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      throw new UserError(`${FAKE_KUBELET_ENV}=${path}: ${(e as Error).message}`);
    }
    const nodes = (parsed as { nodes?: unknown }).nodes;
    if (!nodes || typeof nodes !== 'object')
      throw new UserError(`${FAKE_KUBELET_ENV}=${path}: no "nodes" object`);
    return new FakeKubeletTransport(nodes as Record<string, string>);
  }

  async connect(pod: GadgetPod): Promise<PodConnection> {
    const address = this.endpoints[pod.node];
    if (!address) {
      const err = `the fake kubelet has no daemon for node "${pod.node}"`;
      return { address: 'unix:///nonexistent/kgadget-fake-kubelet.sock', lastError: () => err };
    }
    return { address, lastError: () => undefined };
  }

  async close(): Promise<void> {}
}

/** The transport of this process: port-forward, unless the fake-kubelet seam is set. */
export async function defaultTransport(kc: KubeConfig): Promise<GadgetTransport> {
  const fake = process.env[FAKE_KUBELET_ENV];
  if (fake) return FakeKubeletTransport.fromFile(fake);
  const k8s = await import('@kubernetes/client-node');
  return new BridgeTransport(portForwarder(kc, k8s));
}
