// A hostile containerd for hostile-containerd.test.ts, run as its own process (fork): it serves
// Events.Subscribe on a unix socket and sends, per subscription, what a broken or malicious peer
// could: bytes that are no Envelope, an Any of an unknown type, an id with a slash, a valid
// TaskCreate, a message over the client's size limit, a stream that ends. Namespaces.List and
// Containers.List answer with garbage.
//
//   node hostile-containerd.js <socket> <bundle dir>     (sends "listening" over IPC)

import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

import { DESCRIPTOR } from '../descriptor.js';

const [socket, bundle] = process.argv.slice(2) as [string, string];
const root = protobuf.Root.fromJSON(DESCRIPTOR);
const Envelope = root.lookupType('containerd.services.events.v1.Envelope');
const enc = (type: string, o: Record<string, unknown>): Buffer => {
  const t = root.lookupType(type);
  return Buffer.from(t.encode(t.fromObject(o)).finish());
};
const envelope = (topic: string, typeUrl: string, value: Buffer): Buffer =>
  Buffer.from(
    Envelope.encode(
      Envelope.fromObject({
        namespace: 'k8s.io',
        topic,
        timestamp: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
        event: { type_url: typeUrl, value },
      }),
    ).finish(),
  );

let subscriptions = 0;
const raw = (b: Buffer): Buffer => b;
const server = new grpc.Server();
server.addService(
  {
    Subscribe: {
      path: '/containerd.services.events.v1.Events/Subscribe',
      requestStream: false,
      responseStream: true,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    },
    ListNamespaces: {
      path: '/containerd.services.namespaces.v1.Namespaces/List',
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    },
  },
  {
    Subscribe: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = ++subscriptions;
      process.send?.({ subscribed: n });
      if (n === 1) {
        call.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])); // not an Envelope
        call.write(envelope('/tasks/create', 'containerd.events.Unknown', Buffer.from([1, 2])));
        call.write(
          envelope(
            '/tasks/create',
            'containerd.events.TaskCreate',
            enc('containerd.events.TaskCreate', { container_id: 'a/../b', bundle, pid: 7 }),
          ),
        );
        // an Any whose value is not a TaskStart
        call.write(
          envelope('/tasks/start', 'containerd.events.TaskStart', Buffer.from([0x0a, 9, 1])),
        );
        call.write(
          envelope(
            '/tasks/create',
            'containerd.events.TaskCreate',
            enc('containerd.events.TaskCreate', { container_id: 'good1', bundle, pid: 4321 }),
          ),
        );
        // over the client's 16 MiB receive limit: the client fails the stream
        setTimeout(() => call.write(Buffer.alloc(17 << 20, 0x20)), 50);
      } else if (n === 2) {
        call.write(
          envelope(
            '/tasks/exit',
            'type.googleapis.com/containerd.events.TaskExit',
            enc('containerd.events.TaskExit', {
              container_id: 'good1',
              id: 'good1',
              pid: 4321,
              exit_status: 1,
            }),
          ),
        );
        setTimeout(() => call.end(), 50); // a stream that just ends
      }
      // later subscriptions stay open
    },
    ListNamespaces: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => {
      cb(null, Buffer.from([0x0a, 0xff, 0x01])); // a truncated response
    },
  },
);
server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.send?.({ error: err.message });
    process.exit(1);
  }
  process.send?.({ listening: true });
});
process.on('disconnect', () => process.exit(0));
