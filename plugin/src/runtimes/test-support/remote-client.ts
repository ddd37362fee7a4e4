// TEST ENTRY: a CLI-like process that runs one gadget through RemoteRuntime and prints one
// JSON line per received message ({"event":"msg","kind":...}), then {"event":"end"} or
// {"event":"error","message":...}. Used to kill or stop a real client mid-run.
//
//   node remote-client.js <address> <gadget> <tag>

import { RemoteRuntime } from '../remote-runtime.js';
import { emptyFilter } from '#gadgets/framework/filter.js';

const [address, gadget, tag] = process.argv.slice(2);
const emit = (o: object): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

const rt = new RemoteRuntime(address ?? '');
const ac = new AbortController();
try {
  for await (const m of rt.run(
    {
      gadget: gadget ?? 'endless',
      params: { tag: tag ?? '' },
      filter: emptyFilter(),
      timeoutSeconds: 0,
    },
    ac.signal,
  )) {
    emit({ event: 'msg', kind: m.kind });
  }
  emit({ event: 'end' });
} catch (e) {
  emit({ event: 'error', message: (e as Error).message });
}
await rt.close();
