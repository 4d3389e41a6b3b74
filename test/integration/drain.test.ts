// The graceful drain of one edge process (docs/deploy.md, Graceful drain): after SIGTERM,
// ROOST_DRAIN_DELAY seconds of /readyz 503 while MQTT is served as before, then no new
// connections and the clients let go at ROOST_DRAIN_RATE (v5: DISCONNECT 0x8B, or 0x9C with
// ROOST_DRAIN_SERVER_REFERENCE; v3: closed), then exit 0. A second SIGTERM hurries the drain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import type { IClientOptions, MqttClient } from 'mqtt';
import { ReasonCode } from '@roost/protocol';
import { NodeProcess } from '../helpers/cluster.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { freePort } from '../helpers/redis.ts';

const EXIT_BOUND_MS = 15_000;

/** An embedded edge process (no Redis) with the given drain settings. */
async function edge(t: { after(fn: () => unknown): void }, env: Record<string, string>): Promise<NodeProcess> {
  const httpPort = await freePort();
  const node = new NodeProcess(unique('drain'), { ROOST_HOST: '127.0.0.1', ROOST_MQTT_PORT: '0', ROOST_HTTP_PORT: String(httpPort), ROOST_SYS_INTERVAL: '0', ROOST_LOG_LEVEL: 'info', ...env }, httpPort);
  t.after(() => node.kill());
  await node.ready();
  return node;
}

/** What the server did to a client's connection: the DISCONNECT it sent (if any), and when it closed. */
interface Farewell {
  reasonCode: number | undefined;
  serverReference: string | undefined;
  closedAt: number;
}

function farewellOf(client: MqttClient): Promise<Farewell> {
  let reasonCode: number | undefined;
  let serverReference: string | undefined;
  client.on('disconnect', (packet) => {
    reasonCode = packet.reasonCode ?? 0;
    serverReference = packet.properties?.serverReference;
  });
  return new Promise((resolve) => client.once('close', () => resolve({ reasonCode, serverReference, closedAt: Date.now() })));
}

async function clients(node: NodeProcess, n: number, options: IClientOptions): Promise<Array<{ client: MqttClient; farewell: Promise<Farewell> }>> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const client = await connect(node.url, { clientId: unique('c'), ...options });
      return { client, farewell: farewellOf(client) };
    }),
  );
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('during ROOST_DRAIN_DELAY /readyz answers 503 while publish, subscribe and new connections work; then v5 gets DISCONNECT 0x8B [MQTT-3.14.2-1], v3 is closed, exit 0', async (t) => {
  const node = await edge(t, { ROOST_DRAIN_DELAY: '3' });
  const topic = unique('drain/t');
  const [v5] = await clients(node, 1, { protocolVersion: 5 });
  const [v3] = await clients(node, 1, { protocolVersion: 4 });
  const inbox = new Inbox(v5!.client);
  await v5!.client.subscribeAsync(`${topic}/#`, { qos: 1 });
  assert.equal(await node.readyz(), 200);

  node.child.kill('SIGTERM');
  await node.waitLog((line) => line.msg === 'draining: not ready, still serving');
  assert.equal(await node.readyz(), 503, '/readyz turns 503 at SIGTERM');
  // Still serving everything: an existing client publishes, a new one connects and subscribes.
  await v3!.client.publishAsync(`${topic}/a`, 'during the delay', { qos: 1 });
  const late = await connect(node.url, { protocolVersion: 5 });
  const lateInbox = new Inbox(late);
  await late.subscribeAsync(`${topic}/#`, { qos: 1 });
  await late.publishAsync(`${topic}/b`, 'from a client that came during the delay', { qos: 1 });
  await lateInbox.untilTopic(`${topic}/b`);
  await inbox.untilTopic(`${topic}/b`);
  assert.deepEqual(inbox.pairs().map(([, payload]) => payload), ['during the delay', 'from a client that came during the delay']);
  assert.ok(node.lines.every((line) => line.msg !== 'draining: no new connections, disconnecting clients'), 'the delay had not ended when the checks were done');

  const [v5Farewell, v3Farewell, lateFarewell] = await within(Promise.all([v5!.farewell, v3!.farewell, farewellOf(late)]), EXIT_BOUND_MS, 'the clients let go');
  assert.equal(v5Farewell.reasonCode, ReasonCode.ServerShuttingDown);
  assert.equal(lateFarewell.reasonCode, ReasonCode.ServerShuttingDown);
  assert.equal(v5Farewell.serverReference, undefined);
  assert.equal(v3Farewell.reasonCode, undefined, 'a v3 client gets no DISCONNECT, its connection is closed');
  assert.equal(await within(node.exited, EXIT_BOUND_MS, 'exit'), 0);
  await end(v5!.client, v3!.client, late);
});

test('ROOST_DRAIN_RATE=20 lets 40 clients go over about 2 s, not at once; v5 gets 0x9C Use another server with ROOST_DRAIN_SERVER_REFERENCE as its Server Reference (§4.11 Server redirection); no new connection is taken meanwhile', async (t) => {
  const RATE = 20;
  const reference = 'mqtt-b.example.com:8883';
  const node = await edge(t, { ROOST_DRAIN_RATE: String(RATE), ROOST_DRAIN_SERVER_REFERENCE: reference });
  const v5 = await clients(node, 30, { protocolVersion: 5 });
  const v3 = await clients(node, 10, { protocolVersion: 4 });
  const all = [...v5, ...v3];

  node.child.kill('SIGTERM');
  await node.waitLog((line) => line.msg === 'draining: no new connections, disconnecting clients');
  assert.equal(await node.readyz(), 503, 'the HTTP server still answers, not ready');
  assert.ok(await refused(node.mqttPort), 'a new connection is refused once clients are being let go');

  const farewells = await within(Promise.all(all.map((c) => c.farewell)), EXIT_BOUND_MS, 'the clients let go');
  for (const farewell of farewells.slice(0, v5.length)) {
    assert.equal(farewell.reasonCode, ReasonCode.UseAnotherServer);
    assert.equal(farewell.serverReference, reference);
  }
  for (const farewell of farewells.slice(v5.length)) assert.equal(farewell.reasonCode, undefined, 'v3: closed without DISCONNECT');
  // Counted, not timed to the millisecond: 40 at 20/s is 39/20 = 1.95 s from the first to the last.
  const times = farewells.map((f) => f.closedAt).sort((x, y) => x - y);
  const first = times[0]!;
  const inFirstHalfSecond = times.filter((at) => at - first < 500).length;
  assert.ok(inFirstHalfSecond <= 1 + RATE * 0.5 + 5, `${inFirstHalfSecond} of 40 let go in the first 0.5 s (the rate allows about 11)`);
  assert.ok(times.at(-1)! - first >= 1_400, `the drain took ${times.at(-1)! - first} ms (about 1950 expected)`);
  assert.equal(await within(node.exited, EXIT_BOUND_MS, 'exit'), 0);
  await end(...all.map((c) => c.client));
});

test('a second SIGTERM during the drain skips the rest of the delay and lets every client go at once; exit 0', async (t) => {
  // Left alone this drain would take 60 s of delay and 10 s at 1 client a second.
  const node = await edge(t, { ROOST_DRAIN_DELAY: '60', ROOST_DRAIN_RATE: '1' });
  const all = await clients(node, 10, { protocolVersion: 5 });
  node.child.kill('SIGTERM');
  await node.waitLog((line) => line.msg === 'draining: not ready, still serving');
  assert.equal(await node.readyz(), 503);
  node.child.kill('SIGTERM');
  await node.waitLog((line) => line.msg === 'drain hurried: the rest of the delay skipped, every client left disconnected at once');
  const farewells = await within(Promise.all(all.map((c) => c.farewell)), 5_000, 'every client let go after the second SIGTERM');
  assert.ok(farewells.every((f) => f.reasonCode === ReasonCode.ServerShuttingDown));
  assert.equal(await within(node.exited, 5_000, 'exit after the second SIGTERM'), 0);
  await end(...all.map((c) => c.client));
});
