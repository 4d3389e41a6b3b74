// Roost behind a real HAProxy, as deployed: HAProxy terminates TLS on a free port, checks the
// client certificate and passes the connection on with send-proxy-v2-ssl-cn to an edge process
// started with ROOST_PROXY_PROTOCOL=mqtt. The node logs the client's real address and its
// certificate CN; a connection straight to that listener, without a header, is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { generate } from 'mqtt-packet';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { TestCa } from '../../scripts/lib/certs.ts';
import { startHaproxy, type Haproxy } from '../helpers/haproxy.ts';
import { openSocket } from '../helpers/raw-socket.ts';
import { freePort } from '../helpers/redis.ts';

type LogLine = Record<string, unknown> & { msg?: string };

/** An edge process whose JSON log lines a test can await. */
class EdgeProcess {
  readonly lines: LogLine[] = [];
  private readonly waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  private child: ChildProcess | undefined;
  private output = '';

  async start(env: Record<string, string>): Promise<void> {
    const main = fileURLToPath(new URL('../../services/edge/src/main.ts', import.meta.url));
    const child = spawn(process.execPath, [main], { env: { ...process.env, ROOST_HOST: '127.0.0.1', ROOST_SYS_INTERVAL: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
      const text = partial + chunk.toString();
      const complete = text.split('\n');
      partial = complete.pop()!;
      for (const raw of complete) if (raw.trim() !== '') this.record(JSON.parse(raw) as LogLine);
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const exited = once(child, 'exit').then(() => {
      throw new Error(`the edge process exited before listening:\n${this.output}`);
    });
    await Promise.race([this.next((line) => line.msg === 'roost listening'), exited]);
  }

  /** The first log line, past or future, that matches. */
  next(match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const found = this.lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs);
      this.waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  private record(line: LogLine): void {
    this.lines.push(line);
    for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i]!.match(line)) this.waiters.splice(i, 1)[0]!.resolve(line);
  }
}

let ca: TestCa;
let haproxy: Haproxy;
const node = new EdgeProcess();
let mqttPort: number;
let httpPort: number;

before(async () => {
  ca = new TestCa();
  const server = ca.server();
  [mqttPort, httpPort] = [await freePort(), await freePort()];
  await node.start({ ROOST_MQTT_PORT: String(mqttPort), ROOST_HTTP_PORT: String(httpPort), ROOST_NODE_ID: 'behind-haproxy', ROOST_PROXY_PROTOCOL: 'mqtt' });
  haproxy = await startHaproxy({ backend: { port: mqttPort }, sendProxy: 'v2-ssl-cn', tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.caFile, verify: 'required' } });
});

after(async () => {
  await haproxy?.stop();
  await node.stop();
  ca?.remove();
});

test('through HAProxy with a client certificate: served, and logged with the real address and the CN', async () => {
  const device = ca.issue({ cn: 'device-7', usage: 'client' });
  const clientId = unique('behind');
  const client = await connect(`mqtts://127.0.0.1:${haproxy.port}`, {
    clientId,
    protocolVersion: 5,
    ca: await readFile(ca.caFile),
    cert: await readFile(device.certFile),
    key: await readFile(device.keyFile),
    servername: 'localhost',
  });
  const clientPort = (client.stream as TLSSocket).localPort;
  const inbox = new Inbox(client);
  await client.subscribeAsync('behind/t', { qos: 1 });
  await client.publishAsync('behind/t', 'through haproxy', { qos: 1 });
  assert.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'through haproxy');

  const connected = await node.next((line) => line.msg === 'client connected' && line.clientId === clientId);
  assert.equal(connected.listener, 'mqtt');
  assert.equal(connected.remote, `127.0.0.1:${clientPort}`, 'the client\'s own port, not HAProxy\'s to the node');
  assert.equal(connected.certCN, 'device-7');
  await end(client);
  const closed = await node.next((line) => line.msg === 'connection closed' && line.clientId === clientId);
  assert.equal(closed.remote, `127.0.0.1:${clientPort}`);
});

test('straight to the PROXY listener without a header: no CONNACK, closed, logged and counted', async () => {
  const socket = await openSocket(mqttPort);
  const localPort = socket.localPort;
  const reply = new Promise<Buffer | undefined>((resolve) => {
    socket.once('data', resolve);
    socket.once('close', () => resolve(undefined));
  });
  socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('bare'), clean: true, keepalive: 30 }));
  assert.equal(await reply, undefined, 'closed without a byte in answer');
  const refused = await node.next((line) => line.msg === 'PROXY header refused' && line.remote === `127.0.0.1:${localPort}`);
  assert.equal(refused.reason, 'not-proxy');
  assert.equal(refused.level, 30, 'info');
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  assert.match(metrics, /^roost_proxy_header_failures_total\{reason="not-proxy"\} 1$/m);
});
