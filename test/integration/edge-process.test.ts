// The edge process as an operator runs it: env config, JSON logs, probes, graceful SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect, end, Inbox } from '../helpers/clients.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('the edge process serves MQTT, probes and metrics, and drains on SIGTERM with exit code 0', async (t) => {
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const main = fileURLToPath(new URL('../../services/edge/src/main.ts', import.meta.url));
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, ROOST_MQTT_PORT: String(mqttPort), ROOST_HTTP_PORT: String(httpPort), ROOST_HOST: '127.0.0.1', ROOST_NODE_ID: 'edge-test' },
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.after(() => child.kill('SIGKILL')); // a failed assertion must not leave the process behind
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('roost listening')) resolve();
    });
    child.on('close', () => reject(new Error(`exited early: ${stdout}`)));
  });
  const lines = stdout.split('\n').filter((text) => text.startsWith('{')).map((text) => JSON.parse(text) as { node: string; mqttPort: number; level: number; msg: string });
  // With no password file the node is open, and says so before it listens.
  assert.ok(lines.some((entry) => entry.level === 40 && entry.msg.startsWith('no authentication configured')), stdout);
  const line = lines.find((entry) => entry.msg === 'roost listening')!;
  assert.equal(line.node, 'edge-test');
  assert.equal(line.mqttPort, mqttPort);

  const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/nope`)).status, 404);

  const url = `mqtt://127.0.0.1:${mqttPort}`;
  const sub = await connect(url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('edge/t', { qos: 1 });
  const pub = await connect(url);
  await pub.publishAsync('edge/t', 'hi', { qos: 1 });
  assert.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'hi');
  await end(pub);

  // Prometheus exposition: counters read from the broker at scrape time.
  const scrape = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  assert.equal(scrape.status, 200);
  assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const metrics = await scrape.text();
  assert.match(metrics, /^roost_messages_received_total 1$/m);
  assert.match(metrics, /^roost_messages_sent_total 1$/m);
  assert.match(metrics, /^roost_clients_connected 1$/m);
  assert.match(metrics, /^roost_ready 1$/m);
  assert.match(metrics, /^roost_process_resident_memory_bytes \d+/m);

  const disconnected = new Promise<number | undefined>((resolve) => sub.once('disconnect', (packet) => resolve(packet.reasonCode)));
  child.kill('SIGTERM');
  assert.equal(await disconnected, 0x8b, 'clients are told the server is shutting down');
  assert.equal(await exited, 0);
  sub.end(true);
});
