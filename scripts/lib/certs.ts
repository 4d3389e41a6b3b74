// Certificates made with Debian's openssl CLI for a test or a bench:compare run: a CA, server
// and client certificates signed by it, each as PEM files in a fresh temporary directory.
// Shared by test/ and scripts/, it imports nothing of either (scripts never import test/).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCert {
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint as node:tls reports it (colon-separated upper-case hex). */
  fingerprint256: string;
}

export interface IssueOptions {
  /** Subject CN; also the file names' stem. */
  cn: string;
  /** subjectAltName entries, e.g. `DNS:localhost`, `IP:127.0.0.1`, `URI:spiffe://roost/d1`. */
  sans?: string[];
  /** `server` (serverAuth) or `client` (clientAuth). */
  usage: 'server' | 'client';
  /** Signed by a CA other than this one (another TestCa). */
  signer?: TestCa;
}

export class TestCa {
  readonly dir: string;
  readonly caFile: string;
  private readonly caKey: string;
  private serial = 1;

  /** A CA in a new temporary directory (removed by `remove`). */
  constructor(name = 'Roost Test CA', dir = mkdtempSync(join(tmpdir(), 'roost-pki-'))) {
    this.dir = dir;
    const stem = name.replace(/\W+/g, '-').toLowerCase();
    this.caFile = join(dir, `${stem}.pem`);
    this.caKey = join(dir, `${stem}.key`);
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', this.caKey, '-out', this.caFile, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }

  /** A certificate signed by this CA, written as `<dir>/<cn>-<n>.pem` and `.key`. */
  issue(options: IssueOptions): IssuedCert {
    const stem = join(this.dir, `${options.cn.replace(/\W+/g, '-')}-${this.serial++}`);
    const [certFile, keyFile, csr, ext] = [`${stem}.pem`, `${stem}.key`, `${stem}.csr`, `${stem}.ext`];
    const extensions = [
      'basicConstraints=CA:FALSE',
      `extendedKeyUsage=${options.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(options.sans && options.sans.length > 0 ? [`subjectAltName=${options.sans.join(',')}`] : []),
    ];
    writeFileSync(ext, `${extensions.join('\n')}\n`);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${options.cn}`]);
    const signer = options.signer ?? this;
    openssl(['x509', '-req', '-in', csr, '-CA', signer.caFile, '-CAkey', signer.caKey, '-set_serial', String(Date.now() * 1000 + this.serial), '-out', certFile, '-days', '2', '-extfile', ext]);
    return { certFile, keyFile, fingerprint256: new X509Certificate(readFileSync(certFile)).fingerprint256 };
  }

  /** A server certificate for the loopback address the tests connect to. */
  server(cn = 'roost-test-server'): IssuedCert {
    return this.issue({ cn, usage: 'server', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
