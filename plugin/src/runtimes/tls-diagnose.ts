// Why a TLS connection to a daemon failed. grpc-js reports a refused client certificate as
// "Failed to connect" (or a raw OpenSSL string), so after a connection failure RemoteRuntime
// repeats the handshake here with node:tls and names the cause: no client certificate, one the
// daemon does not trust or an expired one, a daemon certificate this CLI does not trust, a
// daemon that does not speak TLS, or one that does when the CLI did not.

import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, connect, type ConnectionOptions } from 'node:tls';

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  serverName?: string;
}

export interface TlsDiagnosis {
  message: string;
  hint: string;
}

/** How long a finished handshake waits for the daemon's verdict on the client certificate. */
const LATE_ALERT_MS = 500;

/**
 * Repeats the handshake with `tls` (or, undefined, with no TLS material, to learn whether the
 * daemon wants TLS). Undefined when it succeeds or says nothing useful.
 */
export function diagnoseTls(
  host: string,
  port: number,
  tls: TlsMaterial | undefined,
  timeoutMs = 3000,
): Promise<TlsDiagnosis | undefined> {
  return new Promise((resolve) => {
    const opts: ConnectionOptions = { host, port, ALPNProtocols: ['h2'] };
    if (tls) {
      if (tls.ca) opts.ca = tls.ca;
      if (tls.cert) opts.cert = tls.cert;
      if (tls.key) opts.key = tls.key;
      const name = tls.serverName;
      if (name) {
        opts.servername = name;
        opts.checkServerIdentity = (_h, cert) => checkServerIdentity(name, cert);
      } else if (!isIP(host)) {
        opts.servername = host;
      }
    } else {
      // only: does the daemon speak TLS at all?
      opts.rejectUnauthorized = false;
    }
    let settled = false;
    let secure = false;
    let gotData = false;
    const s = connect(opts);
    const finish = (d: TlsDiagnosis | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(d);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    s.on('secureConnect', () => {
      secure = true;
      if (!tls) {
        finish({ message: 'the daemon requires TLS', hint: NEED_TLS });
        return;
      }
      // TLS 1.3: the daemon judges the client certificate after the client's handshake is done
      setTimeout(() => finish(undefined), LATE_ALERT_MS);
    });
    // a gRPC daemon sends its HTTP/2 settings as soon as the handshake is done
    s.on('data', () => (gotData = true));
    // Node's TLS server drops a client whose certificate fails verification (another CA, an
    // expired one) right after the handshake, without an alert
    const dropped = (): void => {
      if (tls && secure && !gotData) finish(refused(tls));
    };
    s.on('close', dropped);
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (secure && e.code === 'ECONNRESET') dropped();
      finish(explain(e, tls));
    });
  });
}

function explain(e: NodeJS.ErrnoException, tls: TlsMaterial | undefined): TlsDiagnosis | undefined {
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(e.message)?.[1]?.toLowerCase();
  if (!tls) {
    // a TLS daemon that did not like our certificate-less probe still speaks TLS
    return alert ? { message: 'the daemon requires TLS', hint: NEED_TLS } : undefined;
  }
  if (alert) {
    switch (alert) {
      case 'certificate required':
        return {
          message: 'the daemon requires a client certificate',
          hint: `give --tls-cert and --tls-key: ${SIGNED}`,
        };
      case 'certificate expired':
        return {
          message: 'the daemon refused the client certificate: it has expired',
          hint: 'renew the client certificate (--tls-cert)',
        };
      case 'unknown ca':
      case 'bad certificate':
      case 'certificate unknown':
      case 'unsupported certificate':
        return {
          message: `the daemon refused the client certificate (TLS alert "${alert}")`,
          hint: `--tls-cert must be ${SIGNED}, for client authentication`,
        };
      default:
        return {
          message: `the TLS handshake failed (TLS alert "${alert}")`,
          hint: "check the --tls-* files against the daemon's --tls-cert and --tls-client-ca",
        };
    }
  }
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      message: `the daemon's certificate does not name ${tls.serverName ?? 'this address'} (${e.message.replace(/^Hostname\/IP does not match certificate's altnames: /, '')})`,
      hint: "give --tls-server-name NAME with a name the daemon's certificate carries",
    };
  }
  if (
    e.code !== undefined &&
    /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|LEAF_SIGNATURE/.test(e.code)
  ) {
    return {
      message: `the daemon's certificate is not trusted: ${e.message}`,
      hint: "give --tls-ca with the CA that signed the daemon's certificate",
    };
  }
  if (/wrong version number|packet length too long|unknown protocol/i.test(e.message)) {
    return {
      message: 'the daemon does not speak TLS',
      hint: 'drop the --tls-* flags, or start the daemon with --tls-cert, --tls-key and --tls-client-ca',
    };
  }
  return undefined;
}

/** The daemon hung up after the handshake: it did not accept the client certificate. */
function refused(tls: TlsMaterial): TlsDiagnosis {
  if (!tls.cert) {
    return {
      message: 'the daemon requires a client certificate',
      hint: `give --tls-cert and --tls-key: ${SIGNED}`,
    };
  }
  let validTo: Date | undefined;
  let validFrom: Date | undefined;
  try {
    const c = new X509Certificate(tls.cert);
    validTo = new Date(c.validTo);
    validFrom = new Date(c.validFrom);
  } catch {
    /* not parsable here: the generic answer below */
  }
  const now = Date.now();
  if (validTo && validTo.getTime() < now) {
    return {
      message: `the daemon refused the client certificate: it expired on ${validTo.toISOString()}`,
      hint: 'renew the client certificate (--tls-cert)',
    };
  }
  if (validFrom && validFrom.getTime() > now) {
    return {
      message: `the daemon refused the client certificate: it is valid only from ${validFrom.toISOString()}`,
      hint: 'check the clocks, or issue the certificate again',
    };
  }
  return {
    message:
      'the daemon refused the client certificate (it closed the connection after the TLS handshake)',
    hint: `--tls-cert must be ${SIGNED}, for client authentication`,
  };
}

const SIGNED = 'a certificate signed by the CA the daemon trusts (its --tls-client-ca)';
const NEED_TLS =
  'give --tls-ca (the CA of its certificate), and --tls-cert and --tls-key (a client certificate it accepts)';
