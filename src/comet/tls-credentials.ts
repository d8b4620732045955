// Certificates of the TLS client listeners (wss, TCP over TLS): PEM files read at start and
// again on reload (SIGHUP). goim's certFile/privateFile are comma-separated lists paired by
// position; the first pair is the default, and a client's SNI name picks the pair whose
// certificate covers it. A reload that fails keeps the certificates already in use.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext, type Server as TlsServer, type TlsOptions } from 'node:tls';

interface CertPair {
  key: Buffer;
  cert: Buffer;
  context: SecureContext;
  x509: X509Certificate;
}

function fileList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export class TlsCredentials {
  private pairs: CertPair[] = [];
  private readonly servers = new Set<TlsServer>();

  /** `what` names the listener in errors, e.g. "websocket.certFile". */
  constructor(
    readonly certFile: string,
    readonly privateFile: string,
    private readonly what: string,
  ) {}

  /** Reads the files; throws (keeping the previous pairs) when any is missing or invalid. */
  async load(): Promise<void> {
    const certs = fileList(this.certFile);
    const keys = fileList(this.privateFile);
    if (certs.length === 0) throw new Error(`${this.what}: no certificate file configured`);
    if (certs.length !== keys.length) {
      throw new Error(`${this.what}: ${certs.length} certificate file(s) but ${keys.length} private key file(s)`);
    }
    const pairs: CertPair[] = [];
    for (let i = 0; i < certs.length; i++) {
      // Both read at once; when both fail, the certificate's error is the one named, whichever came first.
      const [c, k] = await Promise.allSettled([readFile(certs[i]), readFile(keys[i])]);
      if (c.status === 'rejected' || k.status === 'rejected') {
        const err = (c.status === 'rejected' ? c.reason : (k as PromiseRejectedResult).reason) as Error;
        throw new Error(`${this.what}: ${err.message}`);
      }
      const cert = c.value;
      const key = k.value;
      try {
        // createSecureContext checks that the key matches the certificate.
        pairs.push({ cert, key, context: createSecureContext({ cert, key }), x509: new X509Certificate(cert) });
      } catch (err) {
        throw new Error(`${this.what}: ${certs[i]} / ${keys[i]}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.pairs = pairs;
    for (const s of this.servers) s.setSecureContext(this.defaultOptions());
  }

  /** Options for tls.createServer / https.createServer (after load()). */
  serverOptions(): TlsOptions {
    return {
      ...this.defaultOptions(),
      SNICallback: (servername, cb) => {
        const p = this.pairs.find((x) => x.x509.checkHost(servername) !== undefined) ?? this.pairs[0];
        cb(null, p.context);
      },
    };
  }

  /** Servers whose default context load() replaces. */
  attach(server: TlsServer): void {
    this.servers.add(server);
  }

  /** SHA-256 fingerprints of the certificates in use (logs, tests). */
  fingerprints(): string[] {
    return this.pairs.map((p) => p.x509.fingerprint256);
  }

  private defaultOptions(): TlsOptions {
    const first = this.pairs[0];
    if (first === undefined) throw new Error(`${this.what}: certificates not loaded`);
    return { cert: first.cert, key: first.key };
  }
}
