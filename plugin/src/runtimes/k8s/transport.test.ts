// The port-forward bridge without a cluster: @kubernetes/client-node's real PortForward, given a
// stand-in for the API server's WebSocket (STAND-IN below: it speaks the port-forward channel
// protocol, v4.channel.k8s.io, and connects each tunnel to a local TCP server as a kubelet would
// to the pod's port). Over it: a TCP echo server, and a real gRPC daemon server (ScriptedRuntime)
// reached with RemoteRuntime through the bridge's unix socket.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { statSync, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer, type GadgetServer } from '../../../../daemon/src/server/server.js';
import {
  SCRIPTED_INFO,
  ScriptedRuntime,
  scriptedMessages,
} from '../../../../daemon/src/server/test-support/scripted-runtime.js';
import type { RunMessage } from '#gadgets/framework/runtime.js';
import { RemoteRuntime } from '../remote-runtime.js';
import {
  BridgeTransport,
  FakeKubeletTransport,
  portForwarder,
  type GadgetPod,
  type WebSocketInterface,
} from './transport.js';
import { emptyFilter } from '#gadgets/framework/filter.js';

const POD: GadgetPod = {
  name: 'gadget-abcde',
  namespace: 'gadget',
  node: 'node-1',
  phase: 'Running',
  ready: true,
};

/**
 * STAND-IN for the API server + kubelet side of pods/portforward: each connect() dials
 * 127.0.0.1:<ports[requested port]> and frames bytes like the kubelet (channel 0 data, channel 1
 * errors, each starting with the 2-byte port number).
 */
class StandInPortForward implements WebSocketInterface {
  readonly paths: string[] = [];
  /** tunnels currently open */
  open = 0;
  failWith: string | undefined;
  errorText: string | undefined;

  constructor(private readonly ports: Record<number, number>) {}

  async connect(
    path: string,
    _text: ((text: string) => boolean) | null,
    binary: ((stream: number, buff: Buffer) => boolean) | null,
  ): ReturnType<WebSocketInterface['connect']> {
    this.paths.push(path);
    if (this.failWith) throw { message: this.failWith };
    const port = Number(/ports=(\d+)/.exec(path)?.[1]);
    const target = this.ports[port];
    const ws = new EventEmitter() as EventEmitter & {
      protocol: string;
      readyState: number;
      send(b: Buffer): void;
      close(): void;
    };
    ws.protocol = 'v4.channel.k8s.io';
    ws.readyState = 1;
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    binary?.(0, prefix);
    binary?.(1, prefix);
    if (this.errorText !== undefined || target === undefined) {
      binary?.(
        1,
        Buffer.from(this.errorText ?? `error forwarding port ${port}: connection refused`),
      );
      setImmediate(() => ws.emit('close'));
      ws.send = () => {};
      ws.close = () => {};
      return ws as never;
    }
    const sock: Socket = connect(target, '127.0.0.1');
    this.open++;
    let closed = false;
    const closeAll = (): void => {
      if (closed) return;
      closed = true;
      this.open--;
      ws.readyState = 3;
      sock.destroy();
      ws.emit('close');
    };
    sock.on('data', (d: Buffer) => binary?.(0, d));
    sock.on('close', closeAll);
    sock.on('error', closeAll);
    ws.send = (b: Buffer) => {
      assert.equal(b[0], 0, 'the client writes on the data channel');
      sock.write(b.subarray(1));
    };
    ws.close = closeAll;
    await new Promise<void>((r) => sock.once('connect', () => r()));
    return ws as never;
  }
}

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

async function kubeConfig() {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return { k8s, kc };
}

function roundTrip(path: string, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const got: Buffer[] = [];
    let n = 0;
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= data.length) {
        s.end();
        resolve(Buffer.concat(got));
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      if (n < data.length) reject(new Error(`closed after ${n} bytes`));
    });
    s.write(data);
  });
}

describe('port-forward bridge', () => {
  let echo: { server: Server; port: number };
  let grpcServer: GadgetServer;
  let grpcPort: number;

  before(async () => {
    echo = await echoServer();
    grpcServer = await startServer(new ScriptedRuntime(), 'tcp://127.0.0.1:0');
    grpcPort = Number(/:(\d+)$/.exec(grpcServer.address)![1]);
  });
  after(async () => {
    echo.server.close();
    await grpcServer.close();
  });

  test('a private 0700 directory, a 0600 socket, bytes both ways, all removed on close', async () => {
    const { k8s, kc } = await kubeConfig();
    const standIn = new StandInPortForward({ 8477: echo.port });
    const t = new BridgeTransport(portForwarder(kc, k8s, standIn));
    const conn = await t.connect(POD);
    const path = conn.address.replace(/^unix:\/\//, '');
    const dir = t.directory!;
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(statSync(path).isSocket());
    const big = Buffer.alloc(256 * 1024, 7);
    big.write('hello');
    const back = await roundTrip(path, big);
    assert.ok(back.equals(big), 'echoed unchanged');
    assert.deepEqual(standIn.paths, [
      `/api/v1/namespaces/gadget/pods/gadget-abcde/portforward?ports=8477`,
    ]);
    // two connections, two tunnels
    await Promise.all([roundTrip(path, Buffer.from('a')), roundTrip(path, Buffer.from('b'))]);
    assert.equal(standIn.paths.length, 3);
    assert.equal(conn.lastError(), undefined);
    await t.close();
    assert.equal(existsSync(dir), false, 'the directory is removed');
  });

  test('gRPC through the bridge: RemoteRuntime reaches a real daemon server', async () => {
    const { k8s, kc } = await kubeConfig();
    const standIn = new StandInPortForward({ 8477: grpcPort });
    const t = new BridgeTransport(portForwarder(kc, k8s, standIn));
    const conn = await t.connect(POD);
    const rt = new RemoteRuntime(conn.address, {
      label: 'node "node-1"',
      explainUnreachable: conn.lastError,
    });
    try {
      assert.deepEqual(await rt.info(), SCRIPTED_INFO);
      const got: RunMessage[] = [];
      const ac = new AbortController();
      for await (const m of rt.run(
        { gadget: 'scripted', params: { tag: 't1' }, filter: noFilter(), timeoutSeconds: 0 },
        ac.signal,
      ))
        got.push(m);
      assert.deepEqual(got, scriptedMessages('t1'));
    } finally {
      await rt.close();
      await t.close();
    }
    assert.equal(standIn.open, 0, 'the tunnel is closed with the bridge');
  });

  test('a tunnel the kubelet cannot open: the error channel explains the gRPC failure', async () => {
    const { k8s, kc } = await kubeConfig();
    const standIn = new StandInPortForward({});
    standIn.errorText =
      'error forwarding port 8477 to pod 1234, uid : dial tcp4 127.0.0.1:8477: connect: connection refused';
    const t = new BridgeTransport(portForwarder(kc, k8s, standIn));
    const conn = await t.connect(POD);
    const rt = new RemoteRuntime(conn.address, {
      label: 'node "node-1"',
      explainUnreachable: conn.lastError,
      connectTimeoutMs: 1500,
    });
    try {
      await assert.rejects(rt.info(), (e: Error) => {
        assert.match(
          e.message,
          /^cannot reach daemon at node "node-1": port-forward to pod gadget\/gadget-abcde: error forwarding port 8477 .*connection refused$/,
        );
        return true;
      });
    } finally {
      await rt.close();
      await t.close();
    }
  });

  test('an upgrade the API server refuses: its status, and the node, are named', async () => {
    const { k8s, kc } = await kubeConfig();
    const standIn = new StandInPortForward({});
    standIn.failWith = 'Unexpected server response: 500';
    const t = new BridgeTransport(portForwarder(kc, k8s, standIn));
    const conn = await t.connect(POD);
    const s = connect(conn.address.replace(/^unix:\/\//, ''));
    await new Promise<void>((r) => s.on('close', () => r()).on('error', () => undefined));
    assert.equal(
      conn.lastError(),
      'port-forward to pod gadget/gadget-abcde failed: the API server answered HTTP 500 (is the kubelet of node "node-1" reachable from the API server?)',
    );
    await t.close();
  });

  test('the fake-kubelet seam: node -> address from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kgtest-ep-'));
    try {
      const f = join(dir, 'ep.json');
      await writeFile(f, JSON.stringify({ nodes: { 'node-1': 'unix:///run/x.sock' } }));
      const t = await FakeKubeletTransport.fromFile(f);
      assert.equal((await t.connect(POD)).address, 'unix:///run/x.sock');
      const other = await t.connect({ ...POD, node: 'node-2' });
      assert.match(other.lastError() ?? '', /no daemon for node "node-2"/);
      await writeFile(f, '{}');
      await assert.rejects(FakeKubeletTransport.fromFile(f), /no "nodes" object/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function noFilter() {
  return emptyFilter();
}
