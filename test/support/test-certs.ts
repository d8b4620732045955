// Self-signed certificates made at test time with openssl. The TLS tests skip without it,
// or fail under TSIM_REQUIRE_SERVICES=1 (test/support/services.ts).
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolGate } from './services.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** For TLS suites: `describe(name, { skip: opensslGate() }, …)` (see toolGate). */
export function opensslGate(): false | string {
  return toolGate('openssl', hasOpenssl() ? null : 'is not installed (apt-get install openssl)');
}

export interface TestCert {
  certFile: string;
  keyFile: string;
  pem: Buffer;
  fingerprint: string;
}

/** A self-signed P-256 certificate `<dir>/<name>.pem` (+ `.key`) for subject `cn` and subjectAltName `san`. */
export function makeCert(dir: string, name: string, cn: string, san: string): TestCert {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${san}`,
      '-days',
      '1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  const pem = readFileSync(certFile);
  return { certFile, keyFile, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}
