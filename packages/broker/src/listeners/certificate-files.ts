import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../options.ts';
import { ListenerError, type TlsSettings } from './spec.ts';

/** A rotation writes several files; their events within this window make one reload. */
const RELOAD_COALESCE_MS = 100;

/**
 * A TLS listener's certificate, key and CA files: read at start (a bad one stops the start,
 * named), then watched. Their directories are watched, not the files: a Kubernetes secret is
 * rotated by swapping a symlink, which a watch on the old file never sees.
 */
export class CertificateFiles {
  private readonly listener: string;
  private readonly settings: TlsSettings;
  private readonly log: Logger;
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private loaded: SecureContextOptions;
  private readonly apply: (options: SecureContextOptions) => void;

  /** `apply` installs new options (tls.Server.setSecureContext); it is not called for the first load. */
  constructor(listener: string, settings: TlsSettings, log: Logger, apply: (options: SecureContextOptions) => void) {
    this.listener = listener;
    this.settings = settings;
    this.log = log;
    this.apply = apply;
    try {
      this.loaded = this.load();
    } catch (error) {
      throw new ListenerError(listener, (error as Error).message);
    }
  }

  /** The context options as last loaded, for the server's first context. */
  get options(): SecureContextOptions {
    return this.loaded;
  }

  /** Starts watching; call once the listener is up. */
  watch(): void {
    const { certFile, keyFile, caFile } = this.settings;
    const dirs = new Set([certFile, keyFile, ...(caFile ? [caFile] : [])].map((file) => dirname(file)));
    for (const dir of dirs) {
      const watcher = watch(dir, { persistent: false }, () => this.scheduleReload());
      watcher.on('error', (error) => this.log.warn({ err: error, listener: this.listener, dir }, 'certificate directory watch failed; certificates no longer reloaded'));
      this.watchers.push(watcher);
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const watcher of this.watchers.splice(0)) watcher.close();
  }

  private scheduleReload(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), RELOAD_COALESCE_MS);
    this.timer.unref();
  }

  /** New handshakes get the new files; open connections keep theirs. A bad file keeps the old context. */
  private reload(): void {
    let next: SecureContextOptions;
    try {
      next = this.load();
    } catch (error) {
      this.log.error({ listener: this.listener, err: (error as Error).message }, 'certificate reload failed; keeping the previous certificate');
      return;
    }
    if (sameFiles(next, this.loaded)) return; // an event on another file of the directory
    try {
      this.apply(next);
    } catch (error) {
      this.log.error({ listener: this.listener, err: (error as Error).message }, 'certificate reload failed; keeping the previous certificate');
      return;
    }
    this.loaded = next;
    const fingerprint = new X509Certificate(next.cert as Buffer).fingerprint256;
    this.log.info({ listener: this.listener, certFile: this.settings.certFile, fingerprint }, 'certificate reloaded');
  }

  /** Reads and checks each file, so that an error names the one at fault. */
  private load(): SecureContextOptions {
    const { certFile, keyFile, caFile, minVersion, ciphers } = this.settings;
    const cert = readChecked(certFile, 'certificate', (data) => new X509Certificate(data));
    const key = readChecked(keyFile, 'private key', (data) => createPrivateKey(data));
    const ca = caFile === undefined ? undefined : readChecked(caFile, 'CA certificate', (data) => new X509Certificate(data));
    const options: SecureContextOptions = { cert, key, minVersion };
    if (ca) options.ca = ca;
    if (ciphers) options.ciphers = ciphers;
    try {
      createSecureContext(options);
    } catch (error) {
      throw new Error(`${certFile} and ${keyFile} do not make a TLS context (${(error as Error).message})`);
    }
    return options;
  }
}

function readChecked(file: string, what: string, parse: (data: Buffer) => unknown): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    parse(data);
  } catch {
    throw new Error(`${what} file ${file} does not hold a PEM ${what}`);
  }
  return data;
}

function sameFiles(a: SecureContextOptions, b: SecureContextOptions): boolean {
  const same = (x: unknown, y: unknown) => (x === undefined ? y === undefined : y !== undefined && (x as Buffer).equals(y as Buffer));
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca);
}
