import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GadgetDescriptor } from '#gadgets/framework/types.js';
import { isUserError } from '../errors.js';
import { buildRunRequest } from './request.js';

const descriptor = {
  name: 'trace_open',
  command: ['trace', 'open'],
  params: [
    { name: 'failed', type: 'bool', default: 'false', description: '' },
    {
      name: 'prefix',
      type: 'string[]',
      description: '',
      validate(v: string) {
        if ((JSON.parse(v) as string[]).some((p) => !p.startsWith('/')))
          throw new Error('prefixes are absolute paths');
      },
    },
  ],
} as Pick<GadgetDescriptor, 'name' | 'command' | 'params'>;

test('flags map to a RunRequest', () => {
  const { request, params } = buildRunRequest(descriptor, {
    remote: 'unix:///x.sock',
    containername: ['web', 'db'],
    'container-id': ['abc'],
    namespace: 'shop, dev',
    podname: 'web-1',
    selector: 'app=web',
    timeout: 5,
    failed: true,
    prefix: ['/etc'],
  });
  assert.deepEqual(request, {
    gadget: 'trace_open',
    params: { failed: 'true', prefix: '["/etc"]' },
    filter: {
      containerNames: ['web', 'db'],
      containerIds: ['abc'],
      host: false,
      namespaces: ['shop', 'dev'],
      pods: ['web-1'],
      labelSelector: 'app=web',
      podsOnly: false,
    },
    timeoutSeconds: 5,
  });
  assert.deepEqual(params, { failed: 'true', prefix: '["/etc"]' });
});

test('defaults: everything, no timeout; -A clears namespaces; --host', () => {
  const { request, params } = buildRunRequest(descriptor, {
    local: true,
    'all-namespaces': true,
    namespace: 'x',
    host: true,
  });
  assert.deepEqual(request.filter.namespaces, []);
  assert.equal(request.filter.host, true);
  assert.equal(request.timeoutSeconds, 0);
  assert.deepEqual(params, { failed: 'false' });
});

test("a gadget's own validation becomes a one-line user error", () => {
  assert.throws(
    () => buildRunRequest(descriptor, { prefix: ['etc'] }),
    (e: unknown) =>
      isUserError(e) && /invalid value .* for --prefix: prefixes are absolute paths/.test(e.reason),
  );
});
