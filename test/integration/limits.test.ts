// Per-client limits against a real broker on a loopback port, with raw clients for the exact
// reason codes (v5 and v3.1.1) and MQTT.js where a real client's reaction matters: keep alive,
// subscriptions per session, topic length and levels, and the ACL deny action.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IDisconnectPacket } from 'mqtt-packet';
import { AclFileSource } from '@roost/auth';
import { ReasonCode, SubackFailureV3 } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, connectWithInbox, end, unique } from '../helpers/clients.ts';
import { RawClient, assertServerClosed, isAccepted } from '../helpers/raw-client.ts';

const VERSIONS = [5, 4] as const;
let keepAlive: TestBroker;
let quota: TestBroker;
let topics: TestBroker;
let denying: TestBroker;
let dir: string;
let rules: AclFileSource;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roost-limits-'));
  const aclFile = join(dir, 'acl');
  // No password file: every client is anonymous and gets the lines before any `user`.
  writeFileSync(aclFile, 'topic readwrite allowed/#\n');
  rules = new AclFileSource(aclFile, { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } });
  [keepAlive, quota, topics, denying] = await Promise.all([
    startBroker({ maxKeepAlive: 1 }),
    startBroker({ maxSubscriptions: 2 }),
    startBroker({ maxTopicLength: 32, maxTopicLevels: 4 }),
    startBroker({ aclDenyAction: 'disconnect' }, 0, undefined, { auth: { providers: [], allowAnonymous: true, rules } }),
  ]);
});

after(async () => {
  await Promise.all([keepAlive, quota, topics, denying].map((broker) => broker?.stop()));
  rules?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('[MQTT-3.2.2-21] v5: a keep alive above ROOST_MAX_KEEPALIVE is answered with Server Keep Alive, and enforced at it', async () => {
  const client = await RawClient.open(keepAlive.port, 5);
  const sent = Date.now();
  const connack = await client.connect({ keepalive: 600 });
  assert.equal(connack.properties?.serverKeepAlive, 1);
  // 1.5x one second, swept every 500 ms: closed within about 2 s, not 15 minutes.
  await assertServerClosed(client, ReasonCode.KeepAliveTimeout, 4000);
  assert.ok(Date.now() - sent >= 1450, `closed after ${Date.now() - sent} ms`);
  assert.ok(keepAlive.broker.stats.limitHits.max_keepalive >= 1);
});

test('[MQTT-3.2.2-21] v5: keep alive 0 under ROOST_MAX_KEEPALIVE is given the maximum; MQTT.js uses a Server Keep Alive and stays connected', async () => {
  const { client, connack } = await RawClient.connect(keepAlive.port, 5, { keepalive: 0 });
  assert.equal(connack.properties?.serverKeepAlive, 1);
  await client.end();
  // MQTT.js pings at the Server Keep Alive: still connected after 3 s of a 1 s keep alive. (It
  // ignores one when its own keep alive is 0, and is then closed: docs/security.md says so.)
  const mqttjs = await connect(keepAlive.url, { protocolVersion: 5, keepalive: 60, clientId: unique('ka') });
  await new Promise((resolve) => setTimeout(resolve, 3000)); // the elapsed time is the behaviour under test
  assert.equal(mqttjs.connected, true);
  await end(mqttjs);
});

test('[MQTT-3.1.2-24] v3.1.1: a keep alive above ROOST_MAX_KEEPALIVE, or 0, is refused with CONNACK 2 (as Mosquitto); within it, accepted', async () => {
  for (const keepalive of [600, 0]) {
    const client = await RawClient.open(keepAlive.port, 4);
    const connack = await client.connect({ keepalive });
    assert.equal(connack.returnCode, 2, `keep alive ${keepalive}`);
    await client.waitClosed();
  }
  const { client, connack } = await RawClient.connect(keepAlive.port, 4, { keepalive: 1 });
  assert.ok(isAccepted(connack));
  await client.end();
});

for (const version of VERSIONS) {
  test(`ROOST_MAX_SUBSCRIPTIONS v${version}: a filter beyond the quota gets SUBACK ${version === 5 ? '0x97 Quota exceeded' : '0x80'}; another client has its own`, async () => {
    const over = version === 5 ? ReasonCode.QuotaExceeded : SubackFailureV3;
    const clientId = unique('quota');
    const { client } = await RawClient.connect(quota.port, version, { clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) });
    const suback = await client.subscribe([{ topic: 'q/a', qos: 1 }, { topic: 'q/b', qos: 1 }, { topic: 'q/c', qos: 1 }]);
    assert.deepEqual(suback.granted, [1, 1, over]);
    assert.deepEqual((await client.subscribe([{ topic: 'q/a', qos: 0 }])).granted, [0], 'replacing a held filter is within the quota');
    const other = await RawClient.connect(quota.port, version);
    assert.deepEqual((await other.client.subscribe([{ topic: 'q/x', qos: 0 }, { topic: 'q/y', qos: 0 }])).granted, [0, 0]);
    await Promise.all([client.end(), other.client.end()]);
    // The quota is the session's: resumed, it still holds two.
    const resumed = await RawClient.connect(quota.port, version, { clientId, clean: false });
    assert.equal(resumed.connack.sessionPresent, true);
    assert.deepEqual((await resumed.client.subscribe([{ topic: 'q/d', qos: 0 }])).granted, [over]);
    await resumed.client.end();
  });
}

test('ROOST_MAX_SUBSCRIPTIONS: the refused filter gets nothing, the granted ones work (MQTT.js)', async () => {
  const { client, inbox } = await connectWithInbox(quota.url, { protocolVersion: 5, clientId: unique('quota-js') });
  const granted = await client.subscribeAsync(['j/a', 'j/b', 'j/c'], { qos: 0 }).catch((error: { packet?: { granted: number[] } }) => error.packet!.granted.map((qos) => ({ qos })));
  assert.deepEqual(granted.map((g) => g.qos), [0, 0, ReasonCode.QuotaExceeded]);
  await client.publishAsync('j/c', 'no', { qos: 1 });
  await client.publishAsync('j/b', 'marker', { qos: 1 });
  await inbox.until((m) => m.topic === 'j/b');
  assert.deepEqual(inbox.messages.map((m) => m.topic), ['j/b']);
  await end(client);
});

const DEEP = 'a/b/c/d/e'; // 5 levels, over 4
const LONG = 'x'.repeat(33); // 33 bytes, over 32

test('ROOST_MAX_TOPIC_LEVELS v5: a PUBLISH over it at QoS 1 and 2 gets PUBACK/PUBREC 0x90 Topic Name invalid, is not delivered, and the connection stays', async () => {
  const { client: subscriber, inbox } = await connectWithInbox(topics.url, { protocolVersion: 5, clientId: unique('sub') });
  await subscriber.subscribeAsync('#', { qos: 1 });
  const { client } = await RawClient.connect(topics.port, 5);
  client.send({ cmd: 'publish', topic: DEEP, payload: Buffer.from('deep'), qos: 1, retain: false, dup: false, messageId: 1 });
  assert.equal((await client.next('puback')).reasonCode, ReasonCode.TopicNameInvalid);
  client.send({ cmd: 'publish', topic: DEEP, payload: Buffer.from('deep'), qos: 2, retain: false, dup: false, messageId: 2 });
  assert.equal((await client.next('pubrec')).reasonCode, ReasonCode.TopicNameInvalid);
  client.send({ cmd: 'publish', topic: 'a/b/c/d', payload: Buffer.from('marker'), qos: 1, retain: false, dup: false, messageId: 3 });
  assert.equal((await client.next('puback')).reasonCode ?? 0, 0);
  await inbox.until((m) => m.topic === 'a/b/c/d');
  assert.deepEqual(inbox.messages.map((m) => m.topic), ['a/b/c/d']);
  await Promise.all([client.end(), end(subscriber)]);
});

test('ROOST_MAX_TOPIC_LENGTH v5: a PUBLISH over it at QoS 0 gets DISCONNECT 0x90 (it has no ack)', async () => {
  const { client } = await RawClient.connect(topics.port, 5);
  client.send({ cmd: 'publish', topic: LONG, payload: Buffer.from('long'), qos: 0, retain: false, dup: false });
  await assertServerClosed(client, ReasonCode.TopicNameInvalid);
});

test('ROOST_MAX_TOPIC_LENGTH v3.1.1: a PUBLISH over it is not acknowledged; the connection closes (v3 has no code to say why)', async () => {
  const { client } = await RawClient.connect(topics.port, 4);
  client.send({ cmd: 'publish', topic: LONG, payload: Buffer.from('long'), qos: 1, retain: false, dup: false, messageId: 1 });
  await assertServerClosed(client, ReasonCode.TopicNameInvalid);
  assert.equal(client.unread.some((p) => p.cmd === 'puback'), false);
});

for (const version of VERSIONS) {
  test(`ROOST_MAX_TOPIC_LENGTH / LEVELS v${version}: a filter over either gets SUBACK ${version === 5 ? '0x8F Topic Filter invalid' : '0x80'}, per filter`, async () => {
    const invalid = version === 5 ? ReasonCode.TopicFilterInvalid : SubackFailureV3;
    const { client } = await RawClient.connect(topics.port, version);
    const suback = await client.subscribe([{ topic: 'a/b/c/+/#', qos: 1 }, { topic: 'ok/#', qos: 1 }, { topic: LONG, qos: 0 }, { topic: '$share/g/a/b/c/d', qos: 0 }]);
    assert.deepEqual(suback.granted, [invalid, 1, invalid, 0]);
    await client.end();
  });
}

test('the topic limits count each hit by limit', () => {
  const hits = topics.broker.stats.limitHits;
  assert.ok(hits.topic_levels >= 4 && hits.topic_length >= 4, JSON.stringify(hits));
});

for (const version of VERSIONS) {
  test(`ROOST_ACL_DENY_ACTION=disconnect v${version === 5 ? '5' : '3.1.1'}: a denied PUBLISH closes the connection${version === 5 ? ' with DISCONNECT 0x87 Not authorized' : ''}; others are not touched`, async () => {
    const { client: subscriber, inbox } = await connectWithInbox(denying.url, { protocolVersion: 5, clientId: unique('sub') });
    await subscriber.subscribeAsync('allowed/#', { qos: 1 });
    const { client } = await RawClient.connect(denying.port, version);
    client.send({ cmd: 'publish', topic: 'allowed/1', payload: Buffer.from('ok'), qos: 1, retain: false, dup: false, messageId: 1 });
    await client.next('puback');
    client.send({ cmd: 'publish', topic: 'denied/1', payload: Buffer.from('no'), qos: 1, retain: false, dup: false, messageId: 2 });
    await assertServerClosed(client, ReasonCode.NotAuthorized);
    assert.equal(client.unread.some((p) => p.cmd === 'puback'), false, 'no PUBACK for the denied PUBLISH');
    await subscriber.publishAsync('allowed/2', 'still here', { qos: 1 });
    await inbox.until((m) => m.topic === 'allowed/2');
    assert.equal(subscriber.connected, true);
    await end(subscriber);
  });
}

test('ROOST_ACL_DENY_ACTION=disconnect: MQTT.js v5 is told 0x87 by DISCONNECT for a QoS 0 PUBLISH', async () => {
  const client = await connect(denying.url, { protocolVersion: 5, clientId: unique('js') });
  const disconnect = new Promise<IDisconnectPacket>((resolve) => client.once('disconnect', resolve));
  client.publish('denied/2', 'no', { qos: 0 });
  assert.equal((await disconnect).reasonCode, ReasonCode.NotAuthorized);
  client.end(true);
});
