// A real HAProxy (Debian's haproxy package) in front of a node, for end-to-end tests: one TCP
// frontend on a free loopback port, optionally terminating TLS, sending a PROXY header to the backend.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.ts';

export interface HaproxyTls {
  /** PEM certificate and key the frontend presents. */
  certFile: string;
  keyFile: string;
  /** CA that client certificates are verified against. */
  caFile?: string;
  /** HAProxy's `verify`: 'required' refuses a client without a valid certificate at the handshake. */
  verify?: 'none' | 'optional' | 'required';
}

export interface HaproxyOptions {
  backend: { host?: string; port: number };
  /** What HAProxy sends ahead of the client's bytes: nothing, a v1 line, v2, or v2 with SSL and CN TLVs. */
  sendProxy?: 'none' | 'v1' | 'v2' | 'v2-ssl-cn';
  tls?: HaproxyTls;
}

export interface Haproxy {
  host: string;
  /** The frontend's port, where clients connect. */
  port: number;
  /** HAProxy's output so far: start-up notices and one tcplog line per closed connection. */
  output(): string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const SEND_PROXY = { none: '', v1: 'send-proxy', v2: 'send-proxy-v2', 'v2-ssl-cn': 'send-proxy-v2-ssl-cn' } as const;

export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'roost-haproxy-'));
  try {
    const configFile = join(dir, 'haproxy.cfg');
    const tls = options.tls ? await tlsBind(dir, options.tls) : '';
    // Another process can take the probed port before HAProxy binds it; a fresh one usually wins.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(configFile, config(port, tls, options));
      try {
        const started = await spawnHaproxy(configFile);
        return {
          host: '127.0.0.1',
          port,
          output: started.output,
          stop: async () => {
            await stopProcess(started.child);
            await rm(dir, { recursive: true, force: true });
          },
        };
      } catch (error) {
        if (attempt >= 3 || !(error instanceof PortTakenError)) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The `ssl` part of the bind line; HAProxy wants certificate and key in one PEM file. */
async function tlsBind(dir: string, tls: HaproxyTls): Promise<string> {
  const pem = join(dir, 'frontend.pem');
  await writeFile(pem, `${await readFile(tls.certFile, 'utf8')}\n${await readFile(tls.keyFile, 'utf8')}`);
  const verify = tls.caFile ? ` ca-file ${tls.caFile} verify ${tls.verify ?? 'optional'}` : '';
  return ` ssl crt ${pem}${verify}`;
}

function config(port: number, tls: string, options: HaproxyOptions): string {
  const backend = `${options.backend.host ?? '127.0.0.1'}:${options.backend.port}`;
  return [
    'global',
    '  nbthread 1',
    '  log stderr format raw local0 info',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    'frontend mqtt_in',
    `  bind 127.0.0.1:${port}${tls}`,
    '  default_backend roost',
    'backend roost',
    `  server node1 ${backend} ${SEND_PROXY[options.sendProxy ?? 'v2']}`,
    '',
  ].join('\n');
}

export class PortTakenError extends Error {
  override readonly name = 'PortTakenError';
}

/** Runs HAProxy in the foreground as master and worker; resolves when the master reports the worker up. */
export async function spawnHaproxy(configFile: string): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('haproxy', ['-W', '-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  const collect = (chunk: Buffer) => (output += chunk.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`haproxy did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
      const settle = (finish: () => void) => {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        finish();
      };
      // The master prints this once the worker has bound its listeners and runs.
      const onData = () => output.includes('Loading success.') && settle(resolve);
      child.stderr!.on('data', onData);
      child.once('error', (error) => settle(() => reject(error)));
      child.once('exit', (code) =>
        settle(() => reject(/cannot bind socket|Address already in use/.test(output) ? new PortTakenError(output) : new Error(`haproxy exited with ${code}:\n${output}`))),
      );
    });
  } catch (error) {
    await stopProcess(child);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('startHaproxy: no haproxy on PATH (apt-get install haproxy)', { cause: error });
    throw error;
  }
  return { child, output: () => output };
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  // SIGTERM is HAProxy's hard stop: open connections close now rather than drain.
  child.kill('SIGTERM');
  await exited;
}
