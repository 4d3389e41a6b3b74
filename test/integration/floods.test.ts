// Floods from one client or one address against a real broker, while another client or address
// goes on as usual: publish rate and bytes rate (held back, then disconnected), new connections
// per address, and failed logins (slowed, then banned). Counts are asserted, never a flooder's
// exact speed; the well-behaved client's messages must all arrive, within a generous bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPublishPacket } from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { PasswordFileProvider } from '@roost/auth';
import { ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, connectWithInbox, end, unique, type Inbox } from '../helpers/clients.ts';
import { RecordingLogger } from '../helpers/listeners.ts';
import { RawClient, assertServerClosed, isAccepted } from '../helpers/raw-client.ts';

const RATE = 200; // PUBLISHes per second, burst one second's worth
const FLOOD = 600;
const BYTES_RATE = 20_000;
const PASSWORD = 'flood-Pa55word';
const WRONG = 'not-the-Pa55word';

let slowed: TestBroker;
let bounded: TestBroker;
let connects: TestBroker;
let banning: TestBroker;
let dir: string;
let passwords: PasswordFileProvider;
const log = new RecordingLogger();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roost-floods-'));
  const passwordFile = join(dir, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwordFile, 'dana', PASSWORD]);
  passwords = new PasswordFileProvider(passwordFile, log);
  [slowed, bounded, connects, banning] = await Promise.all([
    startBroker({ maxPublishRate: RATE, maxPublishBytesRate: BYTES_RATE, publishThrottleSeconds: 0 }),
    startBroker({ maxPublishRate: 20, publishThrottleSeconds: 1 }),
    startBroker({}, 0, undefined, { maxConnectRate: 3 }),
    startBroker({}, 0, log, { auth: { providers: [passwords], allowAnonymous: false }, authBan: { after: 3, seconds: 2 } }),
  ]);
});

after(async () => {
  await Promise.all([slowed, bounded, connects, banning].map((broker) => broker?.stop()));
  passwords?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `count` QoS 0 PUBLISHes in one write, as a flooding client sends them. */
function flood(client: RawClient, topic: string, count: number, payload = Buffer.from('f')): void {
  const packets = Array.from({ length: count }, () => client.encode({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false } as IPublishPacket));
  client.sendBytes(Buffer.concat(packets));
}

/** A well-behaved publisher: `count` QoS 1 messages, one each `everyMs`; resolves with each one's latency to `inbox`. */
async function steady(publisher: MqttClient, inbox: Inbox, topic: string, count: number, everyMs: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const sent = Date.now();
    await publisher.publishAsync(topic, String(i), { qos: 1 });
    await inbox.until((m) => m.topic === topic && m.payload.toString() === String(i));
    latencies.push(Date.now() - sent);
    await new Promise((resolve) => setTimeout(resolve, everyMs)); // the pace is the behaviour under test
  }
  return latencies;
}

test('ROOST_MAX_PUBLISH_RATE: flooding v5 and v3.1.1 clients are held to their rate, lose nothing, and another client keeps its pace', async () => {
  const { client: subscriber, inbox } = await connectWithInbox(slowed.url, { protocolVersion: 5, clientId: unique('sub') });
  await subscriber.subscribeAsync(['flood/#', 'steady/#'], { qos: 1 });
  const publisher = await connect(slowed.url, { protocolVersion: 5, clientId: unique('steady') });
  // A 1 s keep alive, shorter than the flood takes: a client waiting on its rate is not idle.
  const flooders = await Promise.all([RawClient.connect(slowed.port, 5, { keepalive: 1 }), RawClient.connect(slowed.port, 4, { keepalive: 1 })]);
  const started = Date.now();
  flood(flooders[0].client, 'flood/v5', FLOOD);
  flood(flooders[1].client, 'flood/v3', FLOOD);
  const latencies = await steady(publisher, inbox, 'steady/1', 10, 100);
  const elapsed = Date.now() - started;
  const through = (topic: string) => inbox.messages.filter((m) => m.topic === topic).length;
  // The burst at once, then the rate: never more, however fast the machine (a slow one lets fewer through).
  const bound = RATE + (RATE * elapsed) / 1000 + 5;
  for (const topic of ['flood/v5', 'flood/v3']) {
    assert.ok(through(topic) >= RATE, `${topic}: the burst goes through at once (${through(topic)})`);
    assert.ok(through(topic) <= bound, `${topic}: ${through(topic)} messages in ${elapsed} ms, more than ${bound}`);
  }
  assert.ok(through('flood/v5') < FLOOD, 'the flood was slowed down');
  assert.equal(latencies.length, 10);
  assert.ok(Math.max(...latencies) < 1000, `the steady client's latencies: ${latencies.join(', ')} ms`);
  // Held back, not dropped: every flooded message arrives in the end.
  await inbox.waitFor(2 * FLOOD + 10, 15_000);
  assert.deepEqual([through('flood/v5'), through('flood/v3')], [FLOOD, FLOOD]);
  assert.ok(slowed.broker.stats.limitHits.publish_rate >= 2 * (FLOOD - RATE) - 10, JSON.stringify(slowed.broker.stats.limitHits));
  for (const { client } of flooders) assert.equal(client.closed, false, 'a slowed client is not disconnected, for keep alive either');
  await Promise.all([...flooders.map(({ client }) => client.end()), end(subscriber, publisher)]);
});

test('ROOST_MAX_PUBLISH_BYTES_RATE: large PUBLISHes are held to the byte rate', async () => {
  const { client: subscriber, inbox } = await connectWithInbox(slowed.url, { protocolVersion: 5, clientId: unique('sub') });
  await subscriber.subscribeAsync('bytes/#', { qos: 0 });
  const { client } = await RawClient.connect(slowed.port, 5);
  const started = Date.now();
  flood(client, 'bytes/1', 100, Buffer.alloc(1000)); // 100 kB: 5 s of 20 kB/s
  await inbox.until((m) => m.topic === 'bytes/1');
  await new Promise((resolve) => setTimeout(resolve, 500)); // a window to count in
  const bytes = inbox.messages.length * 1000;
  const bound = BYTES_RATE + (BYTES_RATE * (Date.now() - started)) / 1000 + 2000;
  assert.ok(bytes <= bound, `${bytes} bytes through, more than ${bound}`);
  assert.ok(slowed.broker.stats.limitHits.publish_bytes_rate > 0);
  await Promise.all([client.end(), end(subscriber)]);
});

for (const version of [5, 4] as const) {
  test(`ROOST_PUBLISH_THROTTLE_SECONDS v${version}: a client over its rate for longer is disconnected${version === 5 ? ' with DISCONNECT 0x96 Message rate too high' : ''}; another client is not`, async () => {
    const bystander = await connect(bounded.url, { protocolVersion: version, clientId: unique('bystander') });
    const { client } = await RawClient.connect(bounded.port, version);
    flood(client, 'over/1', 200); // 10 s at 20 a second
    await assertServerClosed(client, ReasonCode.MessageRateTooHigh, 5000);
    await bystander.publishAsync('calm/1', 'ok', { qos: 1 });
    assert.equal(bystander.connected, true);
    assert.ok(bounded.broker.stats.limitHits.publish_rate_disconnect >= 1);
    await end(bystander);
  });
}

test('ROOST_MAX_CONNECT_RATE: the 4th connection in a second from one address gets CONNACK 0x9F (v5) / 3 (v3); another address is not affected; the rate refills', async () => {
  const opened: RawClient[] = [];
  for (let i = 0; i < 3; i++) {
    const { client, connack } = await RawClient.connect(connects.port, 5);
    assert.ok(isAccepted(connack), `connection ${i + 1}`);
    opened.push(client);
  }
  const refused = await RawClient.connect(connects.port, 5);
  assert.equal(refused.connack.reasonCode, ReasonCode.ConnectionRateExceeded);
  await refused.client.waitClosed();
  const refusedV3 = await RawClient.connect(connects.port, 4);
  assert.equal(refusedV3.connack.returnCode, 3);
  await refusedV3.client.waitClosed();
  const elsewhere = await RawClient.open(connects.port, 5, '127.0.0.2');
  assert.ok(isAccepted(await elsewhere.connect()), 'another address has its own allowance');
  opened.push(elsewhere);
  await new Promise((resolve) => setTimeout(resolve, 400)); // a token comes back every third of a second
  const later = await RawClient.connect(connects.port, 5);
  assert.ok(isAccepted(later.connack));
  opened.push(later.client);
  assert.equal(connects.broker.stats.limitHits.connect_rate, 2);
  await Promise.all(opened.map((client) => client.end()));
});

/** The CONNACK code a raw client gets for `password` from `address`, and how long it took. */
async function login(version: 5 | 4, password: string, address = '127.0.0.1'): Promise<{ code: number; ms: number }> {
  const client = await RawClient.open(banning.port, version, address);
  const sent = Date.now();
  const connack = await client.connect({ clientId: unique('dana'), username: 'dana', password: Buffer.from(password) });
  const ms = Date.now() - sent;
  await client.end();
  return { code: (connack.reasonCode ?? connack.returnCode)!, ms };
}

test('ROOST_AUTH_BAN_AFTER: failed logins from one address are slowed, then banned (0x8A / 5) for ROOST_AUTH_BAN_SECONDS; another address logs in meanwhile', async () => {
  const since = log.lines.length;
  const first = await login(5, WRONG);
  const second = await login(5, WRONG);
  const third = await login(4, WRONG);
  assert.deepEqual([first.code, second.code, third.code], [ReasonCode.BadUserNameOrPassword, ReasonCode.BadUserNameOrPassword, 4]);
  assert.ok(third.ms >= 450, `the third refusal waited ${third.ms} ms`);
  // Banned: even the right password is refused, without being checked.
  assert.equal((await login(5, PASSWORD)).code, ReasonCode.Banned);
  assert.equal((await login(4, PASSWORD)).code, 5);
  const other = await login(5, PASSWORD, '127.0.0.2');
  assert.equal(other.code, 0, 'another address is not banned');
  const banned = await log.next((line) => line.msg === 'address banned after repeated authentication failures', since);
  assert.equal(banned.fields.username, 'dana');
  assert.match(String(banned.fields.clientId), /^dana-/);
  assert.match(String(banned.fields.remote), /^127\.0\.0\.1:\d+$/);
  const stats = banning.broker.stats;
  assert.equal(stats.authBans, 1);
  assert.equal(stats.limitHits.auth_banned, 2);
  assert.equal(stats.authOutcomes.get('ban/banned'), 2);
  await new Promise((resolve) => setTimeout(resolve, 2000)); // the ban's length is the behaviour under test
  assert.equal((await login(5, PASSWORD)).code, 0, 'the ban is over');
  const lines = JSON.stringify(log.lines);
  assert.equal(lines.includes(PASSWORD) || lines.includes(WRONG), false, 'no password in any log line');
});
