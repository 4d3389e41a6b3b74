// A throwaway PKI from the openssl CLI: a CA, a server certificate for 127.0.0.1/localhost and
// client certificates with a chosen CN, all signed by that CA, in a temporary directory.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
// EC P-256 keys: made in milliseconds, where RSA would make the set-up the slow part of a test.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  ca: CertFiles;
  server: CertFiles;
  /** A client certificate signed by the CA, with subject CN `cn`. */
  client(cn: string): Promise<CertFiles>;
  remove(): Promise<void>;
}

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'roost-pki-'));
  const file = (name: string) => join(dir, name);
  const ca = { certFile: file('ca.crt'), keyFile: file('ca.key') };
  await run('openssl', ['req', '-x509', ...NEW_KEY, '-keyout', ca.keyFile, '-out', ca.certFile, '-days', '2', '-subj', '/CN=Roost Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let serial = 1;
  const issue = async (name: string, cn: string, extensions: string): Promise<CertFiles> => {
    const files = { certFile: file(`${name}.crt`), keyFile: file(`${name}.key`) };
    const csr = file(`${name}.csr`);
    const ext = file(`${name}.ext`);
    await writeFile(ext, extensions);
    await run('openssl', ['req', '-new', ...NEW_KEY, '-keyout', files.keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(serial++), '-days', '2', '-out', files.certFile, '-extfile', ext]);
    return files;
  };
  const server = await issue('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  return {
    dir,
    ca,
    server,
    client: (cn) => issue(`client-${serial}`, cn, 'extendedKeyUsage=clientAuth\n'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
