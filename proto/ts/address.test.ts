import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatAddress, grpcTarget, parseAddress } from './address.js';

describe('parseAddress', () => {
  const ok: Array<[string, string, string]> = [
    [
      'unix:///run/kubectl-gadget/gadget.sock',
      'unix:///run/kubectl-gadget/gadget.sock',
      'unix:///run/kubectl-gadget/gadget.sock',
    ],
    ['unix:/tmp/g.sock', 'unix:///tmp/g.sock', 'unix:///tmp/g.sock'],
    ['unix:////tmp//g.sock', 'unix:///tmp/g.sock', 'unix:///tmp/g.sock'],
    ['tcp://127.0.0.1:7000', 'tcp://127.0.0.1:7000', 'ipv4:127.0.0.1:7000'],
    ['127.0.0.1:7000', 'tcp://127.0.0.1:7000', 'ipv4:127.0.0.1:7000'],
    ['  node-1.example.com:443 ', 'tcp://node-1.example.com:443', 'dns:node-1.example.com:443'],
    ['localhost:7000', 'tcp://localhost:7000', 'dns:localhost:7000'],
    ['tcp://[::1]:7000', 'tcp://[::1]:7000', 'ipv6:[::1]:7000'],
    ['[fe80::1]:1', 'tcp://[fe80::1]:1', 'ipv6:[fe80::1]:1'],
    ['tcp://10.0.0.1:65535/', 'tcp://10.0.0.1:65535', 'ipv4:10.0.0.1:65535'],
  ];
  for (const [input, canonical, target] of ok) {
    test(`accepts ${input.trim()}`, () => {
      const a = parseAddress(input);
      assert.equal(formatAddress(a), canonical);
      assert.equal(grpcTarget(a), target);
    });
  }

  const FORMS = 'expected unix:///path/to/socket, tcp://HOST:PORT or HOST:PORT';
  const bad: Array<[string, string]> = [
    ['', FORMS],
    [
      'unix://relative.sock',
      'the socket path must be absolute, e.g. unix:///run/kubectl-gadget/gadget.sock',
    ],
    [
      'unix:relative.sock',
      'the socket path must be absolute, e.g. unix:///run/kubectl-gadget/gadget.sock',
    ],
    ['unix:///run/', 'the socket path names a directory, not a socket file'],
    [`unix:///${'x'.repeat(120)}`, 'the socket path is longer than 107 bytes'],
    [
      '/run/kubectl-gadget/gadget.sock',
      'to use a unix socket write unix:///run/kubectl-gadget/gadget.sock',
    ],
    ['http://host:80', `unsupported scheme "http": ${FORMS}`],
    ['host', `missing port: ${FORMS}`],
    ['tcp://:7000', `missing host: ${FORMS}`],
    ['host:http', `port "http" is not a number: ${FORMS}`],
    ['host:0', 'port 0 is out of range (1-65535)'],
    ['host:70000', 'port 70000 is out of range (1-65535)'],
    ['::1:7000', 'write IPv6 addresses in brackets, e.g. tcp://[::1]:7000'],
    ['[::1:7000', 'missing "]" after the IPv6 address'],
    ['[nope]:7000', '"nope" is not an IPv6 address'],
    ['bad_host!:1', '"bad_host!" is not a valid host name or IP address'],
  ];
  for (const [input, why] of bad) {
    test(`rejects ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(() => parseAddress(input), {
        name: 'AddressError',
        message: `invalid daemon address "${input}": ${why}`,
      });
    });
  }

  test('port 0 only when allowed (servers)', () => {
    assert.equal(
      formatAddress(parseAddress('tcp://127.0.0.1:0', { allowPortZero: true })),
      'tcp://127.0.0.1:0',
    );
  });
});
