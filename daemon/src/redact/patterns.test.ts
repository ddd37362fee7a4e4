// The redaction patterns: exact before/after strings, what must stay, and the checks on user
// patterns (pure: no kernel).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RunError } from '../../../gadgets/framework/errors.js';
import {
  BUILTIN_PATTERNS,
  compileUserPatterns,
  nestedQuantifier,
  parseUserPattern,
  Redactor,
} from './patterns.js';

const r = new Redactor();
/** argv as the kernel writes it: NUL-separated, NUL-terminated */
const argv = (...a: string[]): string => a.map((x) => `${x}\0`).join('');
const red = (s: string): string => r.redact(s) ?? s;

describe('built-in patterns: redacted', () => {
  const cases: Array<[string, string, string]> = [
    // [what, before, after]
    ['--flag=value', argv('app', '--password=hunter2'), argv('app', '--password=***')],
    [
      '--flag value',
      argv('app', '--password', 'hunter2', '-v'),
      argv('app', '--password', '***', '-v'),
    ],
    ['--passwd', argv('x', '--passwd=s3cr3t'), argv('x', '--passwd=***')],
    ['--token', argv('kubectl', '--token', 'abc.def'), argv('kubectl', '--token', '***')],
    ['--secret', argv('x', '--secret=shh'), argv('x', '--secret=***')],
    ['--api-key', argv('x', '--api-key=k123'), argv('x', '--api-key=***')],
    ['--apikey', argv('x', '--apikey', 'k123'), argv('x', '--apikey', '***')],
    ['--client-secret', argv('x', '--client-secret=cs'), argv('x', '--client-secret=***')],
    ['--db-password', argv('x', '--db-password', 'pw'), argv('x', '--db-password', '***')],
    ['--access-key', argv('x', '--access-key=ak'), argv('x', '--access-key=***')],
    [
      'keytool -storepass',
      argv('keytool', '-storepass', 'changeit'),
      argv('keytool', '-storepass', '***'),
    ],
    [
      'openssl -pass',
      argv('openssl', 'enc', '-pass', 'pass:pw'),
      argv('openssl', 'enc', '-pass', '***'),
    ],
    ['upper case', argv('x', '--PASSWORD=pw'), argv('x', '--PASSWORD=***')],
    [
      'sh -c string',
      argv('sh', '-c', 'true --password=hunter2 && echo ok'),
      argv('sh', '-c', 'true --password=*** && echo ok'),
    ],
    [
      'quoted in a shell string',
      argv('sh', '-c', "app --password='a b c' --x"),
      argv('sh', '-c', 'app --password=*** --x'),
    ],
    [
      'mysql -pSECRET',
      argv('mysql', '-uroot', '-pS3cret', 'db'),
      argv('mysql', '-uroot', '-p***', 'db'),
    ],
    [
      'mysqldump by path',
      argv('/usr/bin/mysqldump', '-phunter2', 'db'),
      argv('/usr/bin/mysqldump', '-p***', 'db'),
    ],
    [
      'mariadb',
      argv('sh', '-c', 'mariadb -h db -pxyz < dump.sql'),
      argv('sh', '-c', 'mariadb -h db -p*** < dump.sql'),
    ],
    [
      'sshpass -p',
      argv('sshpass', '-p', 'pw', 'ssh', 'host'),
      argv('sshpass', '-p', '***', 'ssh', 'host'),
    ],
    [
      'redis-cli -a',
      argv('redis-cli', '-h', 'r', '-a', 'pw', 'ping'),
      argv('redis-cli', '-h', 'r', '-a', '***', 'ping'),
    ],
    [
      'curl -u',
      argv('curl', '-u', 'admin:pw', 'http://h/'),
      argv('curl', '-u', 'admin:***', 'http://h/'),
    ],
    [
      'wget --user=',
      argv('wget', '--user=bob:pw', 'http://h/'),
      argv('wget', '--user=bob:***', 'http://h/'),
    ],
    [
      'Authorization: Bearer',
      argv('curl', '-H', 'Authorization: Bearer abc.def.ghi', 'https://api/'),
      argv('curl', '-H', 'Authorization: Bearer ***', 'https://api/'),
    ],
    [
      'Authorization: Basic in a shell string',
      argv('sh', '-c', 'curl -H "authorization: Basic dXNlcjpwYXNz" https://api/'),
      argv('sh', '-c', 'curl -H "authorization: Basic ***" https://api/'),
    ],
    [
      'HTTP request buffer',
      'GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok123\r\nCookie: sid=42\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ***\r\nCookie: ***\r\n\r\n',
    ],
    ['X-Api-Key header', 'X-Api-Key: k-123\n', 'X-Api-Key: ***\n'],
    ['bare Bearer', argv('x', '--header=Bearer abcdefgh1234'), argv('x', '--header=Bearer ***')],
    [
      'URL credentials (user kept)',
      argv('git', 'clone', 'https://bob:pw@github.com/o/r.git'),
      argv('git', 'clone', 'https://bob:***@github.com/o/r.git'),
    ],
    [
      'URL credentials with an @ in the password',
      argv('psql', 'postgres://app:p@ss@db:5432/app'),
      argv('psql', 'postgres://app:***@db:5432/app'),
    ],
    [
      'URL without user',
      argv('redis-cli', '-u', 'redis://:pw@r:6379'),
      argv('redis-cli', '-u', 'redis://:***@r:6379'),
    ],
    [
      'query parameter',
      argv('curl', 'https://h/x?user=a&access_token=t0k&y=1'),
      argv('curl', 'https://h/x?user=a&access_token=***&y=1'),
    ],
    [
      'S3 presigned signature',
      'https://b.s3/k?X-Amz-Signature=abc123&x=1',
      'https://b.s3/k?X-Amz-Signature=***&x=1',
    ],
    ['PASSWORD=', argv('env', 'PASSWORD=pw', 'app'), argv('env', 'PASSWORD=***', 'app')],
    ['*_TOKEN=', argv('env', 'GITHUB_TOKEN=t', 'gh'), argv('env', 'GITHUB_TOKEN=***', 'gh')],
    ['AWS_SECRET_ACCESS_KEY=', 'AWS_SECRET_ACCESS_KEY=wJalr/K7MDENG', 'AWS_SECRET_ACCESS_KEY=***'],
    ['DB_PASS=', argv('sh', '-c', 'DB_PASS=x ./run'), argv('sh', '-c', 'DB_PASS=*** ./run')],
    [
      'SSHPASS=',
      argv('env', 'SSHPASS=pw', 'sshpass', '-e'),
      argv('env', 'SSHPASS=***', 'sshpass', '-e'),
    ],
    [
      'libpq password=',
      argv('psql', 'host=db password=pw dbname=a'),
      argv('psql', 'host=db password=*** dbname=a'),
    ],
    [
      'java system property',
      argv('java', '-Djavax.net.ssl.keyStorePassword=changeit', '-jar', 'a.jar'),
      argv('java', '-Djavax.net.ssl.keyStorePassword=***', '-jar', 'a.jar'),
    ],
    ['AWS access key id', argv('x', 'AKIAIOSFODNN7EXAMPLE'), argv('x', '***')],
    ['GitHub token', argv('x', 'ghp_0123456789abcdefghijABCDEFGHIJ012345'), argv('x', '***')],
    ['GitHub fine-grained token', 'github_pat_11ABCDEFG0123456789_abcdefghij', '***'],
    ['GitLab token', 'glpat-0123456789abcdefghij', '***'],
    ['Slack token', 'xoxb-1234567890-abcdef', '***'],
    ['Stripe key', 'sk_live_0123456789abcdefXYZ', '***'],
    ['Google API key', 'key AIzaSyA0123456789abcdefghijklmnopqrstuv', 'key ***'],
    ['JWT', argv('x', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-x'), argv('x', '***')],
    [
      'PEM private key body',
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAA\n-----END RSA PRIVATE KEY-----\n',
      '-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----\n',
    ],
    [
      'several in one command line',
      argv('app', '--token=a', '--password', 'b', 'https://u:c@h/'),
      argv('app', '--token=***', '--password', '***', 'https://u:***@h/'),
    ],
    [
      'UTF-8 bytes of a password kept whole',
      argv('x', '--password=p\xc3\xa0ss'),
      argv('x', '--password=***'),
    ],
  ];
  for (const [what, before, after] of cases) {
    it(what, () => assert.equal(red(before), after));
  }
});

describe('built-in patterns: left alone', () => {
  const cases: Array<[string, string]> = [
    ['--password-file', argv('app', '--password-file=/run/secrets/pw')],
    ['--password-file value', argv('app', '--password-file', '/run/secrets/pw')],
    ['--token-ttl', argv('app', '--token-ttl', '5m')],
    ['--secret-name', argv('app', '--secret-name=db')],
    ['--no-password', argv('psql', '--no-password', 'mydb')],
    ['--password then a flag', argv('app', '--password', '-v')],
    ['empty --password=', argv('app', '--password=')],
    ['--passes', argv('app', '--passes', '3')],
    ['PASSWORD_FILE=', argv('env', 'PASSWORD_FILE=/x', 'app')],
    ['PWD=', argv('env', 'PWD=/home/u', 'OLDPWD=/', 'sh')],
    ['mkdir -p', argv('mkdir', '-p', '/a/b')],
    ['port mapping -p8080', argv('podman', 'run', '-p8080:80', 'img')],
    ['ssh -p22', argv('ssh', '-p22', 'host')],
    ['mysql -p (prompt), -P port', argv('mysql', '-u', 'root', '-p', '-P3306', 'db')],
    ['URL without credentials', argv('curl', 'https://example.com:8443/a@b')],
    ['ssh URL with a user only', argv('git', 'clone', 'ssh://git@host:22/r.git')],
    ['curl -u without password', argv('curl', '-u', 'bob', 'http://h/')],
    ['curl --user-agent', argv('curl', '--user-agent', 'a:b', 'http://h/')],
    ['a plain command', argv('/bin/echo', 'kg-late-1a2b3c4d')],
    ['the test workloads', argv('/bin/sh', '-c', '/bin/echo kg-x-0f; exec /bin/sleep 1000')],
    ['a path with secret words', argv('cat', '/run/secrets/token', '/etc/mysql/password.cnf')],
    ['prose about basic', 'basic research is fun'],
    ['a short AKIA-like word', 'AKIA123'],
    ['already redacted', argv('app', '--password=***')],
    ['---password (three dashes)', argv('app', '---no-password', 'x')],
  ];
  for (const [what, s] of cases) {
    it(what, () => assert.equal(r.redact(s), null));
  }
});

describe('the rewrite keeps the argument count', () => {
  it('a user pattern spanning arguments redacts each part', () => {
    const u = new Redactor([parseUserPattern('--pair (\\S+ \\S+)')]);
    assert.equal(
      u.redact(argv('x', '--pair', 'a', 'b', 'c')),
      argv('x', '--pair', '***', '***', 'c'),
    );
  });
  it('user patterns see arguments separated by spaces; groups only are replaced', () => {
    const u = new Redactor([parseUserPattern('(?i)x-internal-key: (\\S+)')]);
    assert.equal(
      u.redact(argv('curl', '-H', 'X-Internal-Key: abc', 'http://h/')),
      argv('curl', '-H', 'X-Internal-Key: ***', 'http://h/'),
    );
    assert.equal(u.redact(argv('echo', 'x-internal-keys')), null);
  });
  it('a user pattern without groups replaces the whole match', () => {
    const u = new Redactor([parseUserPattern('corp-[0-9a-f]{8}')]);
    assert.equal(u.redact('id corp-deadbeef end'), 'id *** end');
  });
  it('user patterns apply without the built-ins when these are off', () => {
    const u = new Redactor([parseUserPattern('zz+')], []);
    assert.equal(u.redact(argv('--password=x', 'azzz')), argv('--password=x', 'a***'));
  });
});

describe('user patterns: refused with a one-line error', () => {
  const refused = async (src: string, message: string): Promise<void> => {
    await assert.rejects(compileUserPatterns([src]), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.equal(e.message, message);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  };
  it('bad syntax', () => refused('(abc', 'invalid --redact-pattern "(abc": Unterminated group'));
  it('matches the empty string', () =>
    refused('a*', 'invalid --redact-pattern "a*": it matches the empty string'));
  it('empty', () => refused('', 'invalid --redact-pattern "": empty pattern'));
  it('nested quantifier', () =>
    refused(
      '(a+)+b',
      'invalid --redact-pattern "(a+)+b": nested quantifier "(a+)+" can take exponential time',
    ));
  it('nested quantifier with a bounded repeat', () =>
    refused(
      'x(?:\\w+\\s?){2,}y',
      'invalid --redact-pattern "x(?:\\\\w+\\\\s?){2,}y": nested quantifier "(?:\\\\w+\\\\s?){2,}" can take exponential time',
    ));
  it('catastrophic backtracking without a nested group: caught by the timed probe', async () => {
    await assert.rejects(compileUserPatterns(['\\s*\\s*\\s*\\s*x']), (e: unknown) => {
      assert.ok(e instanceof RunError);
      assert.match(
        e.message,
        /^invalid --redact-pattern "\\\\s\*\\\\s\*\\\\s\*\\\\s\*x": (too slow: \d+ ms on 16 KiB inputs \(at most 250\)|still running after 3 s on a 16 KiB input \(catastrophic backtracking\))$/,
      );
      return true;
    });
  });
  it('accepted patterns compile', async () => {
    const pats = await compileUserPatterns(['(?i)x-internal-key: (\\S+)', 'corp-[0-9a-f]{8}']);
    assert.equal(pats.length, 2);
    assert.ok(pats[0]!.re.flags.includes('i'));
  });
});

describe('nestedQuantifier', () => {
  it('finds the repeated group that repeats inside', () => {
    assert.equal(nestedQuantifier('(a*)*'), '(a*)*');
    assert.equal(nestedQuantifier('((ab)+c)+'), '((ab)+c)+');
    assert.equal(nestedQuantifier('(a|b)+'), undefined);
    assert.equal(nestedQuantifier('(a+)?'), undefined);
    assert.equal(nestedQuantifier('(a+){1}'), undefined);
    assert.equal(nestedQuantifier('[(a+)]+'), undefined);
    assert.equal(nestedQuantifier('\\(a+\\)+'), undefined);
  });
});

describe('built-ins are linear enough', () => {
  it('each built-in takes under 100 ms over adversarial 16 KiB inputs', () => {
    const n = 16 << 10;
    const fill = (s: string): string => s.repeat(Math.ceil(n / s.length)).slice(0, n);
    const inputs = [
      'a',
      ' ',
      '\0',
      '-',
      '--password',
      'mysql ',
      'mysql -',
      'https://',
      'a:',
      ':@',
      'eyJa.',
      'x=',
      'Authorization: ',
      '?password=',
      'AKIA',
      '-----BEGIN PRIVATE KEY-----',
      'curl -u ',
      'redis-cli ',
      'sshpass ',
      'PASSWORD',
      'x_token',
      'https://a:',
      'ghp_',
      'Bearer ',
    ].map(fill);
    for (const pat of BUILTIN_PATTERNS) {
      const t0 = performance.now();
      for (const s of inputs) s.replace(pat.re, '');
      const ms = performance.now() - t0;
      assert.ok(ms < 100, `${pat.name}: ${ms.toFixed(1)} ms`);
    }
  });
});
