// TEST SUPPORT. Throwaway X.509 material made with openssl: a cluster CA and client certificates
// signed by it, for the authorization tests. Never used outside tests.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  caPem: string;
  /** a client certificate (PEM) and its key (PEM) */
  client(
    subject: string,
    opts?: { eku?: string; key?: 'ec' | 'rsa'; days?: number },
  ): { cert: string; key: string };
  close(): void;
}

const ssl = (dir: string, args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

export function makeTestCa(name = 'kgtest-ca'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'kgtest-pki-'));
  ssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  writeFileSync(
    join(dir, 'ca.cnf'),
    '[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n',
  );
  ssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    `/CN=${name}`,
    '-days',
    '2',
    '-out',
    'ca.crt',
    '-config',
    'ca.cnf',
    '-extensions',
    'v3_ca',
  ]);
  let n = 0;
  return {
    dir,
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    client(subject, opts = {}) {
      const id = `c${n++}`;
      if (opts.key === 'rsa') ssl(dir, ['genrsa', '-out', `${id}.key`, '2048']);
      else ssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${id}.key`]);
      ssl(dir, ['req', '-new', '-key', `${id}.key`, '-subj', subject, '-out', `${id}.csr`]);
      writeFileSync(
        join(dir, `${id}.ext`),
        `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${opts.eku ?? 'clientAuth'}\n`,
      );
      ssl(dir, [
        'x509',
        '-req',
        '-in',
        `${id}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        String(opts.days ?? 1),
        '-out',
        `${id}.crt`,
        '-extfile',
        `${id}.ext`,
      ]);
      return {
        cert: readFileSync(join(dir, `${id}.crt`), 'utf8'),
        key: readFileSync(join(dir, `${id}.key`), 'utf8'),
      };
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
